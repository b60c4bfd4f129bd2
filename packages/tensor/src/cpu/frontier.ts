// CPU twin of frontier: every candidate's score base[r] + logq[r, j] (in f32, as the kernel adds),
// then a stable sort, best first, ties to the lower entry.

/** logq: [rows, k], base: [rows] -> scores, rows and entries [width] each, best first. */
export function frontierCpu(logq: ArrayLike<number>, base: ArrayLike<number>, rows: number, k: number, width: number): { scores: Float32Array; rows: Int32Array; entries: Int32Array } {
  const score = Float32Array.from({ length: rows * k }, (_, e) => Math.fround(base[Math.floor(e / k)] + logq[e]));
  const order = Array.from({ length: rows * k }, (_, e) => e).sort((a, b) => score[b] - score[a] || a - b);
  const scores = new Float32Array(width);
  const picked = new Int32Array(width);
  const entries = new Int32Array(width);
  for (let i = 0; i < width; i++) {
    scores[i] = score[order[i]];
    picked[i] = Math.floor(order[i] / k);
    entries[i] = order[i];
  }
  return { scores, rows: picked, entries };
}
