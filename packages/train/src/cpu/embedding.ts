// CPU references for the embedding gather and its scatter-add gradient.

export function embeddingRef(table: ArrayLike<number>, dim: number, ids: ArrayLike<number>): Float64Array {
  const out = new Float64Array(ids.length * dim);
  for (let r = 0; r < ids.length; r++) for (let c = 0; c < dim; c++) out[r * dim + c] = table[ids[r] * dim + c];
  return out;
}

/** dTable [vocab, dim]: every dy row added into the row of its id. */
export function embeddingBackwardCpu(dy: ArrayLike<number>, ids: ArrayLike<number>, vocab: number, dim: number): Float64Array {
  const dt = new Float64Array(vocab * dim);
  for (let r = 0; r < ids.length; r++) for (let c = 0; c < dim; c++) dt[ids[r] * dim + c] += dy[r * dim + c];
  return dt;
}
