// CPU twin of concat, on flat arrays viewed as [rows, w_k].

/** Joins parts[k] ([rows, widths[k]]) column-wise into [rows, Σ widths]; rows = 1 joins blocks. */
export function concatCpu(parts: ArrayLike<number>[], widths: number[], rows: number): Float64Array {
  const total = widths.reduce((s, w) => s + w, 0);
  const out = new Float64Array(rows * total);
  for (let r = 0; r < rows; r++) {
    let c0 = 0;
    for (let k = 0; k < parts.length; k++) {
      for (let c = 0; c < widths[k]; c++) out[r * total + c0 + c] = parts[k][r * widths[k] + c];
      c0 += widths[k];
    }
  }
  return out;
}
