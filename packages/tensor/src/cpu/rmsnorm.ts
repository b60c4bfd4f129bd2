// CPU twin of rmsnorm, written like llama2.c's, in f64 throughout: the reference for the GPU op,
// and for every other package's RMSNorm (heads' and training's references use this one).

/** x: [rows, dim], weight: [dim] -> [rows, dim] (f64). */
export function rmsnormCpu(x: ArrayLike<number>, weight: ArrayLike<number>, rows: number, dim: number, eps = 1e-5): Float64Array {
  const out = new Float64Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let j = 0; j < dim; j++) ss += x[r * dim + j] * x[r * dim + j];
    const inv = 1 / Math.sqrt(ss / dim + eps);
    for (let j = 0; j < dim; j++) out[r * dim + j] = weight[j] * (inv * x[r * dim + j]);
  }
  return out;
}
