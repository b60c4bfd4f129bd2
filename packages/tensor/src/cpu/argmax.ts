// CPU twin of argmax: first index of the row maximum.

/** x: [rows, n] -> [rows] */
export function argmaxCpu(x: ArrayLike<number>, rows: number, n: number): Int32Array {
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let j = 1; j < n; j++) if (x[r * n + j] > x[r * n + best]) best = j;
    out[r] = best;
  }
  return out;
}
