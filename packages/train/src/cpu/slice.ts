// CPU references for column concat / slice and the slice gradient (zero padding).

/** Columns [start, end) of x [rows, width]. */
export function sliceColumnsRef(x: ArrayLike<number>, rows: number, width: number, start: number, end: number): Float64Array {
  const out = new Float64Array(rows * (end - start));
  for (let r = 0; r < rows; r++) for (let c = start; c < end; c++) out[r * (end - start) + c - start] = x[r * width + c];
  return out;
}

/** dy [rows, end − start] placed at columns [start, end) of zeros [rows, width]. */
export function sliceBackwardCpu(dy: ArrayLike<number>, rows: number, width: number, start: number, end: number): Float64Array {
  const dx = new Float64Array(rows * width);
  for (let r = 0; r < rows; r++) for (let c = start; c < end; c++) dx[r * width + c] = dy[r * (end - start) + c - start];
  return dx;
}
