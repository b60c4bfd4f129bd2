// Attention, one invocation per (row, query head): the variant for small heads (headDim ≤ 64).
import type { Device } from '../../device';
import { kernel, params } from '../../kernel';
import { WINDOW_WGSL, type AttentionLaunch } from './shared';

/** Rows of one head per workgroup. */
export const THREAD_WG = 16;
/** The largest head this variant takes (its q and accumulators live in registers). */
export const THREAD_MAX_HEAD_DIM = 64;

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
struct Params { rows: u32, cachedLen: u32, group: u32, qW: u32, kvW: u32, scale: f32, causal: u32, window: u32, softcap: f32, maskStart: u32, maskW: u32 }
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
    if (j >= p.maskStart) {
      // the mask covers keys maskStart.. (the new rows, and with a wider mask pending rows before them)
      let jj = j - p.maskStart;
      let allowed = select(mask[i * p.maskW + jj] != 0u, jj <= i, p.causal == 1u);
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

/** Records the thread kernel: workgroups of THREAD_WG rows of one head, a column of them per query head. */
export function dispatchThread(device: Device, a: AttentionLaunch): void {
  const u = params(a.rows, a.cachedLen, a.nHeads / a.nKvHeads, a.qW, a.kvW, { f32: a.scale }, a.causal ? 1 : 0, a.window, { f32: a.softcap }, a.maskStart, a.maskWidth);
  device.dispatch(threadKernel(a.headDim), a.buffers, u, [Math.ceil(a.rows / THREAD_WG), a.nHeads]);
}
