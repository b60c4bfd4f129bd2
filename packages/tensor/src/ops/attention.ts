// Attention of new rows over a KV cache: the core of decoding (rows = 1) and of tree verification
// (rows = tree size, with the tree's ancestor mask among the new rows).
//
// Kernel choice: one workgroup per (row, query head). Keys are processed in tiles of TILE scores
// kept in workgroup memory, so any cache length works with a fixed 4 KiB of scores:
//   1. each thread strides over the tile's keys computing q·k (q held in workgroup memory), keeping
//      its own maximum; one tree reduction gives the tile maximum;
//   2. each thread turns its own scores into exp(s − m) in place and adds them to a private sum;
//   3. threads split into G = WG / headDim groups, each owning one output dimension per thread and
//      every G-th key of the tile, and accumulate p·v (reads of v are contiguous across a group).
// Running max / sum / accumulators are rescaled between tiles (online softmax), so there are a few
// barriers per tile of 1024 keys, none per key, and the softmax sums are reduced once at the end.
// Keys are read as vec4 when headDim is a multiple of 4.

import { IndexError, OptionError, ShapeError } from '../errors';
import { checkDType, checkLive, checkRank, FLAT_WORKGROUP, grid, kernel, params, shapeMismatch } from '../kernel';
import type { Tensor } from '../tensor';
import { TANH_WGSL } from './unary';

// 32 threads: on the software rasterizers we run on (lavapipe, SwiftShader) barrier and workgroup
// costs grow with workgroup size, and 32 ran 2–3× faster than 128 there (rows 17, 256 keys,
// headDim 8: 4 vs 14 ms CPU); on a GPU it is one warp per (row, head), still streaming keys.
const WG = 32;
const TILE = 1024;
const MAX_HEAD_DIM = 256;

export interface AttentionOptions {
  /** Cache rows [0, cachedLen) are committed; the new rows' keys/values sit at cachedLen.. */
  cachedLen: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  /**
   * [rows, rows]: mask[i * rows + j] != 0 lets new row i see new row j. Default: causal (j <= i).
   * A row that may see no key at all (cachedLen 0 and an all-zero mask row) comes out as zeros.
   */
  mask?: Tensor | Uint8Array | Uint32Array;
  /** Score scale; default 1 / sqrt(headDim). */
  scale?: number;
  /**
   * Sliding window (Mistral, Gemma's local layers): a query at position p sees only keys at
   * positions > p − window. Needs `positions`. Default: no window.
   */
  window?: number;
  /**
   * Positions of the new rows [rows] (i32 tensor or host integers), as RoPE turned them; the
   * committed cache row j holds position j. Only the window reads them.
   */
  positions?: Tensor | Int32Array;
  /** Soft-capping of the scaled scores, s ← cap·tanh(s / cap) (Gemma 2). Default: none. */
  softcap?: number;
  /**
   * 'thread': one invocation per (row, head) with an online softmax in registers — no barriers,
   * the fast choice on CPU-backed adapters for small heads (headDim ≤ 64). 'workgroup': one
   * workgroup per (row, head). Default: 'thread' when headDim ≤ 64.
   */
  kernel?: 'thread' | 'workgroup';
}

const THREAD_WG = 16;

// Window and soft cap, shared by both kernels. A new row's key has its row's position; a committed
// key at cache row j has position j. Keys before `firstKey` are outside every window of row i.
const WINDOW_WGSL = `
fn keyPos(j: u32) -> i32 {
  if (j < p.cachedLen) { return i32(j); }
  return pos[j - p.cachedLen];
}
fn inWindow(i: u32, j: u32) -> bool {
  return p.window == 0u || pos[i] - keyPos(j) < i32(p.window);
}
fn firstKey(i: u32) -> u32 {
  if (p.window == 0u) { return 0u; }
  return min(u32(max(pos[i] - i32(p.window) + 1, 0)), p.cachedLen);
}
${TANH_WGSL}
fn capped(s: f32) -> f32 {
  if (p.softcap <= 0.0) { return s; }
  return p.softcap * tanhSafe(s / p.softcap);
}`;
const THREAD_MAX_HEAD_DIM = 64;

// One invocation per (row, head): scores, running max and sum and the weighted V sum all live in
// registers, keys are streamed once. Used for small heads, where a workgroup per (row, head) spends
// most of its time in barriers and workgroup start-up on CPU-backed adapters (16 ms vs 0.4 ms for
// 64 tree rows × 8 heads over 160 keys on lavapipe).
// A workgroup holds up to THREAD_WG rows of one head, so every invocation of it reads the same key
// and value at each step: on CPU adapters those are uniform (one scalar load per SIMD group, not a
// gather per lane), 2-3× faster for tree rows. The kernel is specialised per head size: with a
// constant headDim the loops over it unroll and q, the accumulators and each key stay in registers
// (as vec4 when headDim % 4 == 0); with a uniform headDim they were arrays in per-lane scratch
// memory, 2-3× slower on lavapipe.
function threadKernel(hd: number) {
  const v4 = hd % 4 === 0;
  const n = v4 ? hd / 4 : hd; // units (vec4 or scalar) per head
  const T = v4 ? 'vec4<f32>' : 'f32';
  // Unit d of the head starting at element `base` of `buf`.
  const load = (buf: string, base: string) => {
    const at = v4 ? `${base} + 4u * d` : `${base} + d`;
    return v4 ? `vec4<f32>(${buf}[${at}], ${buf}[${at} + 1u], ${buf}[${at} + 2u], ${buf}[${at} + 3u])` : `${buf}[${at}]`;
  };
  const dot = (a: string, b: string) => (v4 ? `dot(${a}, ${b})` : `${a} * ${b}`);
  return kernel(`attention-thread-${hd}`, ['read', 'read', 'read', 'read', 'read', 'read_write'], () => `
struct Params { rows: u32, cachedLen: u32, group: u32, qW: u32, kvW: u32, scale: f32, causal: u32, window: u32, softcap: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> q: array<f32>;
@group(1) @binding(2) var<storage, read> kc: array<f32>;
@group(1) @binding(3) var<storage, read> vc: array<f32>;
@group(1) @binding(4) var<storage, read> mask: array<u32>;
@group(1) @binding(5) var<storage, read> pos: array<i32>;
@group(1) @binding(6) var<storage, read_write> out: array<f32>;
${WINDOW_WGSL}

@compute @workgroup_size(${THREAD_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = wid.x * ${THREAD_WG}u + lid;
  let h = wid.y;
  if (i >= p.rows) { return; }
  let kvOff = (h / p.group) * ${hd}u;
  let qOff = i * p.qW + h * ${hd}u;
  var qv: array<${T}, ${n}>;
  var acc: array<${T}, ${n}>;
  for (var d = 0u; d < ${n}u; d++) { qv[d] = ${load('q', 'qOff')} * p.scale; acc[d] = ${T}(0.0); }
  var m = -3.0e38;
  var sum = 0.0;
  let keys = p.cachedLen + p.rows;
  for (var j = firstKey(i); j < keys; j++) {
    if (j >= p.cachedLen) {
      let jj = j - p.cachedLen;
      let allowed = select(mask[i * p.rows + jj] != 0u, jj <= i, p.causal == 1u);
      if (!allowed) { continue; }
    }
    if (!inWindow(i, j)) { continue; }
    let kb = j * p.kvW + kvOff;
    var s = 0.0;
    for (var d = 0u; d < ${n}u; d++) { s += ${dot('qv[d]', load('kc', 'kb'))}; }
    s = capped(s);
    let mNew = max(m, s);
    let c = exp(m - mNew);
    let e = exp(s - mNew);
    sum = sum * c + e;
    for (var d = 0u; d < ${n}u; d++) { acc[d] = acc[d] * c + e * ${load('vc', 'kb')}; }
    m = mNew;
  }
  let inv = select(0.0, 1.0 / sum, sum > 0.0);
  for (var d = 0u; d < ${n}u; d++) {
    let o = acc[d] * inv;
    ${v4 ? `let b = qOff + 4u * d; out[b] = o.x; out[b + 1u] = o.y; out[b + 2u] = o.z; out[b + 3u] = o.w;` : 'out[qOff + d] = o;'}
  }
}`);
}

// headDim and causality are uniforms, not constants: two pipelines (vec4 / scalar key loads) serve
// every model, which keeps shader compiles (seconds each on software rasterizers) rare.
function attentionKernel(v4: boolean) {
  const DPT = Math.ceil(MAX_HEAD_DIM / WG);
  return kernel(`attention-${v4 ? 'v4' : 'f32'}`, ['read', 'read', 'read', 'read', 'read', 'read_write'], () => `
struct Params {
  rows: u32, cachedLen: u32, nHeads: u32, group: u32, qW: u32, kvW: u32, scale: f32,
  hd: u32, G: u32, dpt: u32, causal: u32, window: u32, softcap: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> q: array<f32>;
@group(1) @binding(2) var<storage, read> kc: array<${v4 ? 'vec4<f32>' : 'f32'}>;
@group(1) @binding(3) var<storage, read> vc: array<f32>;
@group(1) @binding(4) var<storage, read> mask: array<u32>;
@group(1) @binding(5) var<storage, read> pos: array<i32>;
@group(1) @binding(6) var<storage, read_write> out: array<f32>;
${WINDOW_WGSL}

const NEG = -3.0e38;

var<workgroup> qs: array<${v4 ? `vec4<f32>, ${MAX_HEAD_DIM / 4}` : `f32, ${MAX_HEAD_DIM}`}>;
var<workgroup> pt: array<f32, ${TILE}>;
var<workgroup> red: array<f32, ${WG}>;
var<workgroup> part: array<f32, ${WG}>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let w = ${FLAT_WORKGROUP};
  if (w >= p.rows * p.nHeads) { return; }
  let hd = p.hd;
  let i = w / p.nHeads;
  let h = w % p.nHeads;
  let kvOff = (h / p.group) * hd;
  let qOff = i * p.qW + h * hd;
  ${v4
    ? `for (var d = lid; d < hd / 4u; d += ${WG}u) {
    let b = qOff + 4u * d;
    qs[d] = vec4<f32>(q[b], q[b + 1u], q[b + 2u], q[b + 3u]) * p.scale;
  }`
    : `for (var d = lid; d < hd; d += ${WG}u) { qs[d] = q[qOff + d] * p.scale; }`}
  workgroupBarrier();

  // Causal rows see only keys up to themselves; masked rows test every new key.
  let nKeys = p.cachedLen + select(p.rows, i + 1u, p.causal != 0u);
  // This thread's place in the p·v phase: dimension d0 (+ k·WG) over keys g, g + G, ...
  let small = hd <= ${WG}u;
  let g = select(0u, lid / hd, small);
  let d0 = select(lid, lid % hd, small);
  let inPv = g < p.G;
  var m = NEG;
  var l = 0.0;
  var acc: array<f32, ${DPT}>;

  for (var base = firstKey(i); base < nKeys; base += ${TILE}u) {
    let len = min(${TILE}u, nKeys - base);
    var tmax = NEG;
    for (var jj = lid; jj < len; jj += ${WG}u) {
      let j = base + jj;
      var s = NEG;
      if ((p.causal != 0u || j < p.cachedLen || mask[i * p.rows + j - p.cachedLen] != 0u) && inWindow(i, j)) {
        ${v4
          ? `let kb = (j * p.kvW + kvOff) / 4u;
        var dot4 = vec4<f32>();
        for (var d = 0u; d < hd / 4u; d++) { dot4 += qs[d] * kc[kb + d]; }
        s = capped(dot4.x + dot4.y + dot4.z + dot4.w);`
          : `let kb = j * p.kvW + kvOff;
        var dot = 0.0;
        for (var d = 0u; d < hd; d++) { dot += qs[d] * kc[kb + d]; }
        s = capped(dot);`}
      }
      pt[jj] = s;
      tmax = max(tmax, s);
    }
    red[lid] = tmax;
    workgroupBarrier();
    for (var st = ${WG / 2}u; st > 0u; st >>= 1u) {
      if (lid < st) { red[lid] = max(red[lid], red[lid + st]); }
      workgroupBarrier();
    }
    let mNew = max(m, red[0]);
    let alpha = select(exp(m - mNew), 0.0, m <= NEG);
    l *= alpha;
    for (var k = 0u; k < p.dpt; k++) { acc[k] *= alpha; }
    for (var jj = lid; jj < len; jj += ${WG}u) {
      let s = pt[jj];
      let e = select(0.0, exp(s - mNew), s > NEG);
      pt[jj] = e;
      l += e;
    }
    workgroupBarrier();
    if (inPv) {
      for (var jj = g; jj < len; jj += p.G) {
        let e = pt[jj];
        if (e != 0.0) {
          let vb = (base + jj) * p.kvW + kvOff;
          for (var k = 0u; k < p.dpt; k++) {
            let d = d0 + k * ${WG}u;
            if (d < hd) { acc[k] += e * vc[vb + d]; }
          }
        }
      }
    }
    m = mNew;
    workgroupBarrier();
  }

  red[lid] = l;
  workgroupBarrier();
  for (var st = ${WG / 2}u; st > 0u; st >>= 1u) {
    if (lid < st) { red[lid] += red[lid + st]; }
    workgroupBarrier();
  }
  let total = red[0];
  let inv = select(0.0, 1.0 / total, total > 0.0);
  if (p.dpt > 1u) {
    // headDim > WG: one group, each thread owns several dimensions
    for (var k = 0u; k < p.dpt; k++) {
      let d = d0 + k * ${WG}u;
      if (d < hd) { out[qOff + d] = acc[k] * inv; }
    }
  } else {
    if (inPv) { part[lid] = acc[0]; }
    workgroupBarrier();
    if (lid < hd) {
      var sum = 0.0;
      for (var gg = 0u; gg < p.G; gg++) { sum += part[gg * hd + lid]; }
      out[qOff + lid] = sum * inv;
    }
  }
}`);
}

/**
 * Attention of `q`'s rows over a KV cache whose rows [0, cachedLen + rows) are filled (the new rows'
 * keys/values already written at cachedLen..). Query head h reads kv head floor(h / (nHeads / nKvHeads)).
 * q: [rows, nHeads·headDim] (roped); kCache, vCache: [capacity, nKvHeads·headDim].
 * Returns [rows, nHeads·headDim], owned by the caller.
 */
export function attention(q: Tensor, kCache: Tensor, vCache: Tensor, opts: AttentionOptions): Tensor<'f32'> {
  const op = 'attention';
  const device = checkLive(op, q, kCache, vCache);
  for (const [name, t] of [['q', q], ['kCache', kCache], ['vCache', vCache]] as const) {
    checkDType(op, name, t, 'f32');
    checkRank(op, name, t, 2);
  }
  const { cachedLen, nHeads, nKvHeads, headDim } = opts;
  for (const [name, v, min] of [['cachedLen', cachedLen, 0], ['nHeads', nHeads, 1], ['nKvHeads', nKvHeads, 1], ['headDim', headDim, 1]] as const) {
    if (!Number.isInteger(v) || v < min) throw new OptionError(`${op}: option ${name} = ${v}, expected an integer >= ${min}`);
  }
  if (headDim > MAX_HEAD_DIM) throw new OptionError(`${op}: headDim ${headDim} exceeds the supported ${MAX_HEAD_DIM}`);
  if (nHeads % nKvHeads !== 0) {
    throw new ShapeError(`${op}: nHeads ${nHeads} is not a multiple of nKvHeads ${nKvHeads} (grouped KV heads need whole groups)`);
  }
  const scale = opts.scale ?? 1 / Math.sqrt(headDim);
  if (!Number.isFinite(scale)) throw new OptionError(`${op}: option scale = ${scale}, expected a finite number`);
  const window = opts.window ?? 0;
  if (opts.window !== undefined && !(Number.isInteger(window) && window >= 1 && window <= 0x7fffffff)) {
    throw new OptionError(`${op}: option window = ${window}, expected an integer >= 1`);
  }
  const softcap = opts.softcap ?? 0;
  if (opts.softcap !== undefined && !(Number.isFinite(softcap) && softcap > 0)) throw new OptionError(`${op}: option softcap = ${softcap}, expected a positive number`);
  if (opts.window !== undefined && opts.positions === undefined) throw new OptionError(`${op}: option window needs option positions (the new rows' positions)`);
  const [rows, qW] = q.shape;
  const [capacity, kvW] = kCache.shape;
  if (qW !== nHeads * headDim) throw shapeMismatch(op, `q must be [rows, nHeads·headDim = ${nHeads * headDim}]`, ['q', q]);
  if (kvW !== nKvHeads * headDim) {
    throw shapeMismatch(op, `kCache must be [capacity, nKvHeads·headDim = ${nKvHeads * headDim}]`, ['kCache', kCache]);
  }
  if (vCache.shape[0] !== capacity || vCache.shape[1] !== kvW) {
    throw shapeMismatch(op, 'kCache and vCache must have one shape', ['kCache', kCache], ['vCache', vCache]);
  }
  if (cachedLen + rows > capacity) {
    throw new IndexError(`${op}: cachedLen ${cachedLen} + rows ${rows} exceeds the cache capacity ${capacity} (kCache [${capacity}, ${kvW}])`);
  }

  let maskBuffer: GPUBuffer;
  let ownedMask: Tensor | null = null;
  const mask = opts.mask;
  if (mask === undefined) {
    ownedMask = device.empty([1], 'u32'); // causal: the mask binding is never read
    maskBuffer = ownedMask.buffer;
  } else if (ArrayBuffer.isView(mask)) {
    if (mask.length !== rows * rows) {
      throw new ShapeError(`${op}: mask has ${mask.length} entries, expected rows·rows = ${rows * rows} (q [${rows}, ${qW}])`);
    }
    ownedMask = device.tensor(mask instanceof Uint32Array ? mask : Uint32Array.from(mask), [rows, rows], 'u32');
    maskBuffer = ownedMask.buffer;
  } else {
    checkLive(op, q, mask);
    checkDType(op, 'mask', mask, 'u32', 'i32');
    if (mask.size !== rows * rows) throw shapeMismatch(op, `mask must be [rows, rows] = [${rows}, ${rows}]`, ['mask', mask], ['q', q]);
    maskBuffer = mask.buffer;
  }

  let posBuffer = maskBuffer; // any buffer when no window reads it
  let ownedPos: Tensor | null = null;
  const positions = opts.positions;
  if (positions !== undefined) {
    if (positions instanceof Int32Array) {
      if (positions.length !== rows) throw new ShapeError(`${op}: ${positions.length} positions for q [${rows}, ${qW}], expected ${rows}`);
      ownedPos = device.tensor(positions, [rows], 'i32');
      posBuffer = ownedPos.buffer;
    } else {
      checkLive(op, q, positions);
      checkDType(op, 'positions', positions, 'i32');
      if (positions.size !== rows) throw shapeMismatch(op, `positions must be [rows = ${rows}]`, ['positions', positions], ['q', q]);
      posBuffer = positions.buffer;
    }
  }

  const out = device.empty([rows, qW], 'f32'); // [rows, nHeads·headDim]
  const which = opts.kernel ?? (headDim <= THREAD_MAX_HEAD_DIM ? 'thread' : 'workgroup');
  if (which === 'thread') {
    if (headDim > THREAD_MAX_HEAD_DIM) throw new OptionError(`${op}: kernel 'thread' supports headDim up to ${THREAD_MAX_HEAD_DIM}, got ${headDim}`);
    const u = params(rows, cachedLen, nHeads / nKvHeads, qW, kvW, { f32: scale }, mask === undefined ? 1 : 0, window, { f32: softcap });
    device.dispatch(threadKernel(headDim), [q.buffer, kCache.buffer, vCache.buffer, maskBuffer, posBuffer, out.buffer], u, [Math.ceil(rows / THREAD_WG), nHeads]);
    ownedMask?.dispose();
    ownedPos?.dispose();
    return out;
  }
  const groups = headDim <= WG ? Math.floor(WG / headDim) : 1;
  const uniforms = params(
    rows, cachedLen, nHeads, nHeads / nKvHeads, qW, kvW, { f32: scale },
    headDim, groups, Math.ceil(headDim / WG), mask === undefined ? 1 : 0, window, { f32: softcap },
  );
  const k = attentionKernel(headDim % 4 === 0);
  device.dispatch(k, [q.buffer, kCache.buffer, vCache.buffer, maskBuffer, posBuffer, out.buffer], uniforms, grid(device, rows * nHeads));
  ownedMask?.dispose(); // its buffer returns to the pool only after this dispatch is submitted
  ownedPos?.dispose();
  return out;
}
