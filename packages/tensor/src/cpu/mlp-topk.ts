// CPU twin of mlpTopK, from its definition: f64 sums, logits rounded to f32, then topkCpu.
import { topkCpu } from './topk';

export interface MlpStackCpuMember {
  residual?: ArrayLike<number>; // [dim, inDim]
  blocks: ReadonlyArray<{ weight: ArrayLike<number>; bias: ArrayLike<number> }>;
}

const silu = (v: number) => v / (1 + Math.exp(-v));

/** y = W x + b for one row; W [n, k]. */
function affine(w: ArrayLike<number>, b: ArrayLike<number> | null, x: ArrayLike<number>, n: number, k: number): Float64Array {
  const y = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    let s = b ? b[j] : 0;
    for (let i = 0; i < k; i++) s += w[j * k + i] * x[i];
    y[j] = s;
  }
  return y;
}

/**
 * x [xRows, inDim]; row r uses member r (several members) or member 0; output [vocab, dim] or,
 * perMemberOutput, [members·vocab, dim]. Returns the logits [rows, vocab] (with logProbs their
 * log softmax) and their top-k.
 */
export function mlpTopKCpu(
  x: ArrayLike<number>,
  xRows: number,
  inDim: number,
  members: readonly MlpStackCpuMember[],
  output: ArrayLike<number>,
  dim: number,
  vocab: number,
  k: number,
  perMemberOutput = false,
  logProbs = false,
): { logits: Float32Array; values: Float32Array; indices: Int32Array } {
  const rows = members.length === 1 ? xRows : members.length;
  const logits = new Float32Array(rows * vocab);
  for (let r = 0; r < rows; r++) {
    const m = members[members.length === 1 ? 0 : r];
    const xr = Array.from({ length: inDim }, (_, i) => x[(xRows === 1 ? 0 : r) * inDim + i]);
    const z = affine(m.blocks[0].weight, m.blocks[0].bias, xr, dim, inDim);
    const res = m.residual ? affine(m.residual, null, xr, dim, inDim) : Float64Array.from(xr);
    let y = z.map((v, j) => res[j] + silu(v));
    for (let l = 1; l < m.blocks.length; l++) {
      const zl = affine(m.blocks[l].weight, m.blocks[l].bias, y, dim, dim);
      y = y.map((v, j) => v + silu(zl[j]));
    }
    const base = perMemberOutput ? r * vocab * dim : 0;
    for (let j = 0; j < vocab; j++) {
      let s = 0;
      for (let i = 0; i < dim; i++) s += output[base + j * dim + i] * y[i];
      logits[r * vocab + j] = s;
    }
  }
  if (!logProbs) return { logits, ...topkCpu(logits, rows, vocab, k) };
  // log softmax per row, in f64, then rounded to f32 as the kernel writes it
  const lp = new Float32Array(rows * vocab);
  for (let r = 0; r < rows; r++) {
    const row = logits.subarray(r * vocab, (r + 1) * vocab);
    let m = -Infinity;
    for (const v of row) m = Math.max(m, v);
    let s = 0;
    for (const v of row) s += Math.exp(v - m);
    const lse = m + Math.log(s);
    for (let j = 0; j < vocab; j++) lp[r * vocab + j] = row[j] - lse;
  }
  return { logits: lp, ...topkCpu(lp, rows, vocab, k) };
}
