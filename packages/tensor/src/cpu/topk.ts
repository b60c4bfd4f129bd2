// CPU twin of topk: a stable sort of each row's indices by value, descending.

/** x: [rows, n] -> values [rows, k], indices [rows, k] */
export function topkCpu(x: ArrayLike<number>, rows: number, n: number, k: number): { values: Float32Array; indices: Int32Array } {
  const values = new Float32Array(rows * k);
  const indices = new Int32Array(rows * k);
  for (let r = 0; r < rows; r++) {
    const order = Array.from({ length: n }, (_, j) => j);
    order.sort((a, b) => x[r * n + b] - x[r * n + a] || a - b);
    for (let i = 0; i < k; i++) {
      indices[r * k + i] = order[i];
      values[r * k + i] = x[r * n + order[i]];
    }
  }
  return { values, indices };
}
