// CPU twin of embedding: copies table rows; throws RangeError for an id outside the table.

/** table: [vocab, dim], ids: [n] -> [n, dim] */
export function embeddingCpu(table: ArrayLike<number>, vocab: number, dim: number, ids: ArrayLike<number>): Float32Array {
  const out = new Float32Array(ids.length * dim);
  for (let r = 0; r < ids.length; r++) {
    const id = ids[r];
    if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new RangeError(`embeddingCpu: id ${id} outside [0, ${vocab})`);
    for (let j = 0; j < dim; j++) out[r * dim + j] = table[id * dim + j];
  }
  return out;
}
