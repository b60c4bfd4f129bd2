// CPU reference for RMSNorm's gradient (f64); the forward's is @hydra-ts/tensor's cpu.rmsnormCpu.

export function rmsnormBackwardCpu(x: ArrayLike<number>, w: ArrayLike<number>, dy: ArrayLike<number>, rows: number, dim: number, eps: number) {
  const dx = new Float64Array(rows * dim);
  const dw = new Float64Array(dim);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    let dot = 0;
    for (let c = 0; c < dim; c++) {
      ss += x[r * dim + c] ** 2;
      dot += dy[r * dim + c] * w[c] * x[r * dim + c];
    }
    const inv = 1 / Math.sqrt(ss / dim + eps);
    for (let c = 0; c < dim; c++) {
      const i = r * dim + c;
      dx[i] = inv * dy[i] * w[c] - (x[i] * inv ** 3 * dot) / dim;
      dw[c] += dy[i] * x[i] * inv;
    }
  }
  return { dx, dw };
}
