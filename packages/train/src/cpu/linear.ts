// CPU references for linear / matmul / broadcast sums, in f64: forward for finite differences,
// backward twins of the GPU gradient kernels.

/** y = x·wᵀ + b; x [rows, k], w [n, k] -> [rows, n]. */
export function linearRef(x: ArrayLike<number>, w: ArrayLike<number>, rows: number, k: number, n: number, b?: ArrayLike<number>): Float64Array {
  const y = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < n; o++) {
      let s = b ? b[o] : 0;
      for (let i = 0; i < k; i++) s += x[r * k + i] * w[o * k + i];
      y[r * n + o] = s;
    }
  }
  return y;
}

/** Gradients of linear: dx = dy·w, dw = dyᵀ·x, db = Σ_rows dy. */
export function linearBackwardCpu(x: ArrayLike<number>, w: ArrayLike<number>, dy: ArrayLike<number>, rows: number, k: number, n: number) {
  const dx = new Float64Array(rows * k);
  const dw = new Float64Array(n * k);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < n; o++) {
      const g = dy[r * n + o];
      for (let i = 0; i < k; i++) {
        dx[r * k + i] += g * w[o * k + i];
        dw[o * k + i] += g * x[r * k + i];
      }
    }
  }
  return { dx, dw, db: sumRowsCpu(dy, rows, n) };
}

/** c = a·b; a [m, k], b [k, n]. */
export function matmulRef(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let q = 0; q < k; q++) s += a[i * k + q] * b[q * n + j];
    c[i * n + j] = s;
  }
  return c;
}

/** Σ over rows of x [rows, n] -> [n]. */
export function sumRowsCpu(x: ArrayLike<number>, rows: number, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let r = 0; r < rows; r++) for (let c = 0; c < n; c++) out[c] += x[r * n + c];
  return out;
}
