// CPU references for full-sequence attention (f64) and its gradient, from the definition with
// the probability matrix P materialised.

export interface AttentionRefOptions {
  rows: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  scale?: number;
  /** [rows, rows] nonzero = allowed; default causal. */
  mask?: ArrayLike<number> | null;
}

function probs(q: ArrayLike<number>, k: ArrayLike<number>, o: AttentionRefOptions, i: number, h: number): Float64Array {
  const { rows, nHeads, nKvHeads, headDim } = o;
  const scale = o.scale ?? 1 / Math.sqrt(headDim);
  const kvh = Math.floor(h / (nHeads / nKvHeads));
  const p = new Float64Array(rows);
  let m = -Infinity;
  for (let j = 0; j < rows; j++) {
    const ok = o.mask ? o.mask[i * rows + j] !== 0 : j <= i;
    if (!ok) { p[j] = -Infinity; continue; }
    let s = 0;
    for (let d = 0; d < headDim; d++) s += q[i * nHeads * headDim + h * headDim + d] * k[j * nKvHeads * headDim + kvh * headDim + d];
    p[j] = s * scale;
    m = Math.max(m, p[j]);
  }
  let sum = 0;
  for (let j = 0; j < rows; j++) { p[j] = p[j] === -Infinity ? 0 : Math.exp(p[j] - m); sum += p[j]; }
  for (let j = 0; j < rows; j++) p[j] = sum > 0 ? p[j] / sum : 0;
  return p;
}

export function attentionRef(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, o: AttentionRefOptions): Float64Array {
  const { rows, nHeads, nKvHeads, headDim } = o;
  const out = new Float64Array(rows * nHeads * headDim);
  for (let i = 0; i < rows; i++) for (let h = 0; h < nHeads; h++) {
    const p = probs(q, k, o, i, h);
    const kvh = Math.floor(h / (nHeads / nKvHeads));
    for (let d = 0; d < headDim; d++) {
      let s = 0;
      for (let j = 0; j < rows; j++) s += p[j] * v[j * nKvHeads * headDim + kvh * headDim + d];
      out[i * nHeads * headDim + h * headDim + d] = s;
    }
  }
  return out;
}

export function attentionBackwardCpu(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, dO: ArrayLike<number>, o: AttentionRefOptions) {
  const { rows, nHeads, nKvHeads, headDim } = o;
  const scale = o.scale ?? 1 / Math.sqrt(headDim);
  const qW = nHeads * headDim;
  const kvW = nKvHeads * headDim;
  const dq = new Float64Array(rows * qW);
  const dk = new Float64Array(rows * kvW);
  const dv = new Float64Array(rows * kvW);
  for (let i = 0; i < rows; i++) for (let h = 0; h < nHeads; h++) {
    const p = probs(q, k, o, i, h);
    const kvh = Math.floor(h / (nHeads / nKvHeads));
    const dp = new Float64Array(rows);
    let dot = 0;
    for (let j = 0; j < rows; j++) {
      for (let d = 0; d < headDim; d++) dp[j] += dO[i * qW + h * headDim + d] * v[j * kvW + kvh * headDim + d];
      dot += p[j] * dp[j];
    }
    for (let j = 0; j < rows; j++) {
      const ds = p[j] * (dp[j] - dot) * scale;
      for (let d = 0; d < headDim; d++) {
        dq[i * qW + h * headDim + d] += ds * k[j * kvW + kvh * headDim + d];
        dk[j * kvW + kvh * headDim + d] += ds * q[i * qW + h * headDim + d];
        dv[j * kvW + kvh * headDim + d] += p[j] * dO[i * qW + h * headDim + d];
      }
    }
  }
  return { dq, dk, dv };
}

export interface DraftedAttentionRefOptions {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  scale?: number;
}

/**
 * The drafted attention from its definition (f64): row i of q attends to keys starts[i] .. i of
 * the first block and to row i of each later block (keys, values [(j+1)·rows, nKv·hd]).
 */
export function draftedAttentionRef(q: ArrayLike<number>, keys: ArrayLike<number>, values: ArrayLike<number>, starts: ArrayLike<number>, o: DraftedAttentionRefOptions): Float64Array {
  const { nHeads, nKvHeads, headDim } = o;
  const rows = starts.length;
  const qW = nHeads * headDim;
  const kvW = nKvHeads * headDim;
  const blocks = keys.length / (rows * kvW);
  const scale = o.scale ?? 1 / Math.sqrt(headDim);
  const out = new Float64Array(rows * qW);
  for (let i = 0; i < rows; i++) {
    const seen: number[] = [];
    for (let u = starts[i]; u <= i; u++) seen.push(u);
    for (let e = 1; e < blocks; e++) seen.push(e * rows + i);
    for (let h = 0; h < nHeads; h++) {
      const kvh = Math.floor(h / (nHeads / nKvHeads));
      const s = seen.map((u) => {
        let dot = 0;
        for (let d = 0; d < headDim; d++) dot += q[i * qW + h * headDim + d] * keys[u * kvW + kvh * headDim + d];
        return dot * scale;
      });
      const m = Math.max(...s);
      const w = s.map((x) => Math.exp(x - m));
      const z = w.reduce((a, b) => a + b, 0);
      for (let d = 0; d < headDim; d++) {
        let acc = 0;
        seen.forEach((u, n) => (acc += (w[n] / z) * values[u * kvW + kvh * headDim + d]));
        out[i * qW + h * headDim + d] = acc;
      }
    }
  }
  return out;
}
