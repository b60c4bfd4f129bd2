// CPU twin of rmsnorm, written like llama2.c's: f64 sum of squares.

/** x: [rows, dim], weight: [dim] -> [rows, dim] */
export function rmsnormCpu(x: Float32Array, weight: ArrayLike<number>, rows: number, dim: number, eps = 1e-5): Float32Array {
  const out = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let j = 0; j < dim; j++) ss += x[r * dim + j] * x[r * dim + j];
    const inv = 1 / Math.sqrt(ss / dim + eps);
    for (let j = 0; j < dim; j++) out[r * dim + j] = weight[j] * (inv * x[r * dim + j]);
  }
  return out;
}
