// ropeCache: the step between a block's fused q|k|v projection and its attention, in one dispatch.
// qkv [rows, qDim + 2·kvDim] holds q | k | v per row; q and k turn by their row's position (rope),
// k and v land in the layer's KV cache at row `start` on, and the turned q comes back. Unfused it
// was rope, two column copies and two cache writes: on CPU adapters, where every dispatch and copy
// costs tens of µs whatever its size, that is most of the step for a small model.

import { IndexError, OptionError, ShapeError } from '../errors';
import { checkDType, checkLive, checkRank, FLAT_WORKGROUP, grid, kernel, params, shapeMismatch } from '../kernel';
import { formatShape, Tensor } from '../tensor';
import { checkPositions, checkRopeOptions, ROTATION_WGSL, turnTable, type RopeLayout } from './rope';
import { ROPE_CACHE_NORM_WG, ropeCacheNormKernel } from './rope-cache-norm';

const WG = 64;

export interface RopeCacheOptions {
  nHeads: number;
  nKvHeads: number;
  /** Size of one head (even). */
  headDim: number;
  /** Base of the frequencies (10000 in llama2.c). */
  theta?: number;
  /** The angle per position of each pair, radians [headDim/2], in place of theta's (see RopeOptions.freqs). */
  freqs?: ArrayLike<number>;
  layout: RopeLayout;
  /**
   * RMSNorm each head of q and k over its headDim values before the rotation, scaled by `q` / `k`
   * ([headDim] f32): Qwen3's and Gemma 3's q_norm and k_norm. Runs the kernel of rope-cache-norm.ts.
   */
  qkNorm?: { q: Tensor; k: Tensor; eps: number };
}

function ropeCacheKernel(layout: RopeLayout) {
  // Pair i of a head starting at h0: elements a and b.
  const pair = layout === 'interleaved' ? 'let a = h0 + 2u * i;\n    let b = a + 1u;' : 'let a = h0 + i;\n    let b = a + p.half;';
  return kernel(`rope-cache-${layout}`, ['read', 'read', 'read', 'read_write', 'read_write', 'read_write'], () => `
// Per row: qPairs rotated pairs of q, then kvPairs of k (rotated), then kvPairs of v (copied).
struct Params { rows: u32, qDim: u32, kvDim: u32, half: u32, headDim: u32, start: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<f32>;
@group(1) @binding(2) var<storage, read> pos: array<i32>;
@group(1) @binding(3) var<storage, read> turns: array<vec4f>; // [half] freq/2π split in 4 parts
@group(1) @binding(4) var<storage, read_write> qOut: array<f32>;
@group(1) @binding(5) var<storage, read_write> kc: array<f32>;
@group(1) @binding(6) var<storage, read_write> vc: array<f32>;
${ROTATION_WGSL}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let qPairs = p.qDim / 2u;
  let kvPairs = p.kvDim / 2u;
  let perRow = qPairs + 2u * kvPairs;
  let t = (${FLAT_WORKGROUP}) * ${WG}u + lid;
  if (t >= p.rows * perRow) { return; }
  let row = t / perRow;
  let j = t % perRow;
  let width = p.qDim + 2u * p.kvDim;
  let src = row * width;
  let cacheRow = (p.start + row) * p.kvDim;
  if (j >= qPairs + kvPairs) {
    let e = 2u * (j - qPairs - kvPairs);
    vc[cacheRow + e] = x[src + p.qDim + p.kvDim + e];
    vc[cacheRow + e + 1u] = x[src + p.qDim + p.kvDim + e + 1u];
    return;
  }
  let isQ = j < qPairs;
  let jj = select(j - qPairs, j, isQ); // pair index within q or within k
  let h0 = (jj / p.half) * p.headDim;
  let i = jj % p.half;
  ${pair}
  let cs = rotation(turns[i], pos[row]);
  let off = select(src + p.qDim, src, isQ);
  let xa = x[off + a];
  let xb = x[off + b];
  let ra = xa * cs.x - xb * cs.y;
  let rb = xa * cs.y + xb * cs.x;
  if (isQ) {
    qOut[row * p.qDim + a] = ra;
    qOut[row * p.qDim + b] = rb;
  } else {
    kc[cacheRow + a] = ra;
    kc[cacheRow + b] = rb;
  }
}`);
}

/**
 * Splits qkv [rows, nHeads·headDim + 2·nKvHeads·headDim] (q | k | v per row), rotates q and k by
 * `positions` (rope, as rope() does it, to the bit), writes k and v into rows start..start+rows-1
 * of kCache and vCache ([capacity, nKvHeads·headDim] f32), and returns the rotated q
 * [rows, nHeads·headDim], owned by the caller. `positions`: i32 tensor [rows] or host integers.
 */
export function ropeCache(qkv: Tensor, positions: Tensor | ArrayLike<number>, kCache: Tensor, vCache: Tensor, start: number, options: RopeCacheOptions): Tensor<'f32'> {
  const op = 'ropeCache';
  const posTensor = positions instanceof Tensor ? positions : null;
  const device = posTensor ? checkLive(op, qkv, kCache, vCache, posTensor) : checkLive(op, qkv, kCache, vCache);
  for (const [name, t] of [['qkv', qkv], ['kCache', kCache], ['vCache', vCache]] as const) {
    checkDType(op, name, t, 'f32');
    checkRank(op, name, t, 2);
  }
  const { nHeads, nKvHeads, headDim, layout } = options;
  const theta = options.theta ?? 10000;
  for (const [name, v] of [['nHeads', nHeads], ['nKvHeads', nKvHeads]] as const) {
    if (!Number.isInteger(v) || v <= 0) throw new OptionError(`${op}: ${name} must be a positive integer, got ${v}`);
  }
  checkRopeOptions(op, headDim, layout, theta, options.freqs);
  const norm = options.qkNorm;
  if (norm !== undefined) {
    for (const [name, g] of [['qkNorm.q', norm.q], ['qkNorm.k', norm.k]] as const) {
      checkLive(op, qkv, g);
      checkDType(op, name, g, 'f32');
      if (g.rank !== 1 || g.shape[0] !== headDim) throw shapeMismatch(op, `${name} must be [headDim = ${headDim}]`, [name, g]);
    }
    if (!(Number.isFinite(norm.eps) && norm.eps >= 0)) throw new OptionError(`${op}: qkNorm.eps must be a finite number >= 0, got ${norm.eps}`);
  }
  const qDim = nHeads * headDim;
  const kvDim = nKvHeads * headDim;
  const [rows, width] = qkv.shape;
  if (width !== qDim + 2 * kvDim) {
    throw new ShapeError(`${op}: qkv ${formatShape(qkv.shape)} must be [rows, ${qDim + 2 * kvDim}] (q ${qDim} | k ${kvDim} | v ${kvDim} for ${nHeads} heads, ${nKvHeads} kv heads of ${headDim})`);
  }
  if (kCache.shape[1] !== kvDim || vCache.shape[1] !== kvDim) throw shapeMismatch(op, `caches must be [capacity, ${kvDim}]`, ['kCache', kCache], ['vCache', vCache]);
  if (kCache.shape[0] !== vCache.shape[0]) throw shapeMismatch(op, 'kCache and vCache must have one capacity', ['kCache', kCache], ['vCache', vCache]);
  if (kCache.buffer === vCache.buffer || kCache.buffer === qkv.buffer || vCache.buffer === qkv.buffer) {
    throw new OptionError(`${op}: qkv, kCache and vCache must be three different buffers`);
  }
  if (!Number.isInteger(start) || start < 0 || start + rows > kCache.shape[0]) {
    throw new IndexError(`${op}: cache rows ${start}..${start + rows - 1} do not fit the caches ${formatShape(kCache.shape)}`);
  }
  checkPositions(op, positions, 'qkv', qkv);
  const q = device.empty([rows, qDim], 'f32'); // [rows, qDim]
  if (rows === 0) return q;
  const pos = posTensor ?? device.tensor(positions as ArrayLike<number>, [rows], 'i32');
  const turns = device.tensor(turnTable(headDim, theta, options.freqs), [headDim / 2, 4]);
  if (norm !== undefined) {
    const threads = rows * (nHeads + 2 * nKvHeads);
    device.dispatch(
      ropeCacheNormKernel(layout),
      [qkv.buffer, pos.buffer, turns.buffer, norm.q.buffer, norm.k.buffer, q.buffer, kCache.buffer, vCache.buffer],
      params(rows, nHeads, nKvHeads, headDim, headDim / 2, start, { f32: norm.eps }),
      grid(device, Math.ceil(threads / ROPE_CACHE_NORM_WG)),
    );
    turns.dispose();
    if (pos !== posTensor) pos.dispose();
    return q;
  }
  const threads = rows * (qDim / 2 + kvDim);
  device.dispatch(
    ropeCacheKernel(layout),
    [qkv.buffer, pos.buffer, turns.buffer, q.buffer, kCache.buffer, vCache.buffer],
    params(rows, qDim, kvDim, headDim / 2, headDim, start),
    grid(device, Math.ceil(threads / WG)),
  );
  turns.dispose();
  if (pos !== posTensor) pos.dispose();
  return q;
}
