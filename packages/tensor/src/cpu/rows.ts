// CPU twins of the row moves, on flat [rows, width] arrays.

/** Copy of dst with src's rows written at dstRow. */
export function writeRowsCpu<T extends Float32Array | Int32Array | Uint32Array>(dst: T, src: T, width: number, dstRow: number): T {
  const out = dst.slice() as T;
  for (let i = 0; i < src.length; i++) out[dstRow * width + i] = src[i];
  return out;
}

/** Copy of cache after moving rows from[k] to row to + k, one at a time from a snapshot. */
export function compactRowsCpu<T extends Float32Array | Int32Array | Uint32Array>(cache: T, width: number, from: readonly number[], to: number): T {
  const out = cache.slice() as T;
  for (let k = 0; k < from.length; k++) {
    for (let c = 0; c < width; c++) out[(to + k) * width + c] = cache[from[k] * width + c];
  }
  return out;
}

/** out[r] = x[rows[r]]. */
export function gatherRowsCpu<T extends Float32Array | Int32Array | Uint32Array>(x: T, width: number, rows: ArrayLike<number>): T {
  const out = new (x.constructor as new (n: number) => T)(rows.length * width);
  for (let r = 0; r < rows.length; r++) {
    for (let c = 0; c < width; c++) out[r * width + c] = x[rows[r] * width + c];
  }
  return out;
}
