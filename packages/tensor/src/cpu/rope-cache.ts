// CPU twin of ropeCache, composed of the definitions: split the columns, rope q and k, write k and v.
import { ropeCpu } from './rope';
import { writeRowsCpu } from './rows';

export function ropeCacheCpu(
  qkv: Float32Array,
  positions: ArrayLike<number>,
  kCache: Float32Array,
  vCache: Float32Array,
  start: number,
  o: { rows: number; nHeads: number; nKvHeads: number; headDim: number; layout: 'interleaved' | 'half'; theta?: number },
): { q: Float32Array; kCache: Float32Array; vCache: Float32Array } {
  const qDim = o.nHeads * o.headDim;
  const kvDim = o.nKvHeads * o.headDim;
  const width = qDim + 2 * kvDim;
  const cols = (from: number, n: number) => {
    const out = new Float32Array(o.rows * n);
    for (let r = 0; r < o.rows; r++) out.set(qkv.subarray(r * width + from, r * width + from + n), r * n);
    return out;
  };
  const q = ropeCpu(cols(0, qDim), positions, o.rows, qDim, o.headDim, o.layout, o.theta);
  const k = ropeCpu(cols(qDim, kvDim), positions, o.rows, kvDim, o.headDim, o.layout, o.theta);
  return { q, kCache: writeRowsCpu(kCache, k, kvDim, start), vCache: writeRowsCpu(vCache, cols(qDim + kvDim, kvDim), kvDim, start) };
}
