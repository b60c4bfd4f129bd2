// CPU twin of ropeCache, composed of the definitions: split the columns, rope q and k, write k and v.
import { ropeCpu } from './rope';
import { writeRowsCpu } from './rows';

export function ropeCacheCpu(
  qkv: Float32Array,
  positions: ArrayLike<number>,
  kCache: Float32Array,
  vCache: Float32Array,
  start: number,
  o: {
    rows: number; nHeads: number; nKvHeads: number; headDim: number; layout: 'interleaved' | 'half'; theta?: number;
    freqs?: ArrayLike<number>;
    /** Per-head RMSNorm weights [headDim] of q and k, applied before the rotation. */
    qkNorm?: { q: ArrayLike<number>; k: ArrayLike<number>; eps: number };
  },
): { q: Float32Array; kCache: Float32Array; vCache: Float32Array } {
  const qDim = o.nHeads * o.headDim;
  const kvDim = o.nKvHeads * o.headDim;
  const width = qDim + 2 * kvDim;
  const cols = (from: number, n: number) => {
    const out = new Float32Array(o.rows * n);
    for (let r = 0; r < o.rows; r++) out.set(qkv.subarray(r * width + from, r * width + from + n), r * n);
    return out;
  };
  // x [rows, heads·headDim]: each head divided by its RMS and scaled by g
  const headNorm = (x: Float32Array, g: ArrayLike<number> | undefined, eps: number) => {
    if (!g) return x;
    for (let h = 0; h < x.length / o.headDim; h++) {
      const head = x.subarray(h * o.headDim, (h + 1) * o.headDim);
      const rms = Math.sqrt(head.reduce((a, v) => a + v * v, 0) / o.headDim + eps);
      head.forEach((v, d) => (head[d] = (v / rms) * g[d]));
    }
    return x;
  };
  const eps = o.qkNorm?.eps ?? 0;
  // the rotated rows as the op stores them (f32)
  const q = Float32Array.from(ropeCpu(headNorm(cols(0, qDim), o.qkNorm?.q, eps), positions, o.rows, qDim, o.headDim, o.layout, o.theta, o.freqs));
  const k = Float32Array.from(ropeCpu(headNorm(cols(qDim, kvDim), o.qkNorm?.k, eps), positions, o.rows, kvDim, o.headDim, o.layout, o.theta, o.freqs));
  return { q, kCache: writeRowsCpu(kCache, k, kvDim, start), vCache: writeRowsCpu(vCache, cols(qDim + kvDim, kvDim), kvDim, start) };
}
