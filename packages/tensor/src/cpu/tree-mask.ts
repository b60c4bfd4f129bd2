// The reference for levelMask: a tree's whole ancestry mask from its rows' parent pointers (a row
// sees itself and, following its parents up, every ancestor among the rows).

/** The mask [n, n] of n rows whose parents are `parentRows` (an earlier row, or −1: outside the rows). */
export function treeMaskCpu(parentRows: ArrayLike<number>): Uint32Array {
  const n = parentRows.length;
  const mask = new Uint32Array(n * n);
  for (let a = 0; a < n; a++) {
    for (let b = a; b >= 0; b = parentRows[b] < b ? parentRows[b] : -1) mask[a * n + b] = 1;
  }
  return mask;
}
