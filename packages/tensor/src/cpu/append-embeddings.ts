// CPU twin of appendEmbeddings, from its definition.
export function appendEmbeddingsCpu(x: Float32Array, w: number, rows: ArrayLike<number>, ids: ArrayLike<number>, at: ArrayLike<number>, table: Float32Array, dim: number): Float32Array {
  const n = rows.length;
  const out = new Float32Array(n * (w + dim));
  for (let j = 0; j < n; j++) {
    out.set(x.subarray(rows[j] * w, rows[j] * w + w), j * (w + dim));
    const id = ids[at[j]];
    out.set(table.subarray(id * dim, id * dim + dim), j * (w + dim) + w);
  }
  return out;
}
