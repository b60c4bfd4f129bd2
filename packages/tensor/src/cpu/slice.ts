// CPU twin of slice, on a flat array viewed as [rows, width].

/** Columns start..end of every row. Rows of [n, width] are columns of the [1, n·width] view. */
export function sliceCpu(x: ArrayLike<number>, rows: number, width: number, start: number, end: number): Float64Array {
  const out = new Float64Array(rows * (end - start));
  for (let r = 0; r < rows; r++) {
    for (let c = start; c < end; c++) out[r * (end - start) + c - start] = x[r * width + c];
  }
  return out;
}
