// CPU twin of attention: for each new row and head, scores over the allowed keys, softmax, weighted
// sum of values. Plain loops in doubles; the reference the kernel is tested against.

export interface AttentionCpuOptions {
  rows: number;
  cachedLen: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  /** [rows, W] over the last W keys (W = rows: the new rows), nonzero = allowed; default causal. */
  mask?: ArrayLike<number>;
  scale?: number;
  /** Keys at positions <= p − window are hidden from a query at p (committed row t is at position t). */
  window?: number;
  /** Positions of the new rows [rows]; default cachedLen + i. */
  positions?: ArrayLike<number>;
  /** Scores become cap·tanh(score / cap). */
  softcap?: number;
}

/** q: [rows, nHeads·headDim]; kCache, vCache: [capacity, nKvHeads·headDim]. Returns [rows, nHeads·headDim]. */
export function attentionCpu(q: ArrayLike<number>, kCache: ArrayLike<number>, vCache: ArrayLike<number>, o: AttentionCpuOptions): Float32Array {
  const { rows, cachedLen, nHeads, nKvHeads, headDim } = o;
  const scale = o.scale ?? 1 / Math.sqrt(headDim);
  const qW = nHeads * headDim;
  const kvW = nKvHeads * headDim;
  const group = nHeads / nKvHeads;
  const maskW = o.mask ? o.mask.length / rows : rows;
  const maskStart = cachedLen + rows - maskW;
  const out = new Float32Array(rows * qW);
  const att = new Float64Array(cachedLen + rows);
  for (let i = 0; i < rows; i++) {
    for (let h = 0; h < nHeads; h++) {
      const qb = i * qW + h * headDim;
      const kvh = Math.floor(h / group);
      let max = -Infinity;
      for (let t = 0; t < cachedLen + rows; t++) {
        const posOf = (r: number) => (o.positions ? o.positions[r] : cachedLen + r);
        const keyPos = t < cachedLen ? t : posOf(t - cachedLen);
        const inWindow = o.window === undefined || keyPos > posOf(i) - o.window;
        const allowed = inWindow && (o.mask ? t < maskStart || o.mask[i * maskW + (t - maskStart)] !== 0 : t < cachedLen || t - cachedLen <= i);
        if (!allowed) {
          att[t] = -Infinity;
          continue;
        }
        let s = 0;
        for (let d = 0; d < headDim; d++) s += q[qb + d] * kCache[t * kvW + kvh * headDim + d];
        att[t] = o.softcap ? o.softcap * Math.tanh((s * scale) / o.softcap) : s * scale;
        if (att[t] > max) max = att[t];
      }
      let sum = 0;
      for (let t = 0; t < cachedLen + rows; t++) {
        att[t] = att[t] === -Infinity ? 0 : Math.exp(att[t] - max);
        sum += att[t];
      }
      for (let d = 0; d < headDim; d++) {
        let v = 0;
        for (let t = 0; t < cachedLen + rows; t++) v += att[t] * vCache[t * kvW + kvh * headDim + d];
        out[qb + d] = sum > 0 ? v / sum : 0;
      }
    }
  }
  return out;
}
