// Attention, one workgroup per (row, query head): the variant for any head size up to
// MAX_HEAD_DIM and any cache length. Keys are processed in tiles of TILE scores kept in workgroup
// memory, so any cache length works with a fixed 4 KiB of scores:
//   1. each thread strides over the tile's keys computing q·k (q held in workgroup memory), keeping
//      its own maximum; one tree reduction gives the tile maximum;
//   2. each thread turns its own scores into exp(s − m) in place and adds them to a private sum;
//   3. threads split into G = WG / headDim groups, each owning one output dimension per thread and
//      every G-th key of the tile, and accumulate p·v (reads of v are contiguous across a group).
// Running max / sum / accumulators are rescaled between tiles (online softmax), so there are a few
// barriers per tile of 1024 keys, none per key, and the softmax sums are reduced once at the end.
// Keys are read as vec4 when headDim is a multiple of 4.
import type { Device } from '../../device';
import { FLAT_WORKGROUP, grid, kernel, params } from '../../kernel';
import { WINDOW_WGSL, type AttentionLaunch } from './shared';

// 32 threads: on the software rasterizers we run on (lavapipe, SwiftShader) barrier and workgroup
// costs grow with workgroup size, and 32 ran 2–3× faster than 128 there (rows 17, 256 keys,
// headDim 8: 4 vs 14 ms CPU); on a GPU it is one warp per (row, head), still streaming keys.
const WG = 32;
const TILE = 1024;
/** The largest head any attention kernel takes. */
export const MAX_HEAD_DIM = 256;

// headDim and causality are uniforms, not constants: two pipelines (vec4 / scalar key loads) serve
// every model, which keeps shader compiles (seconds each on software rasterizers) rare.
function workgroupKernel(v4: boolean) {
  const DPT = Math.ceil(MAX_HEAD_DIM / WG);
  return kernel(`attention-${v4 ? 'v4' : 'f32'}`, ['read', 'read', 'read', 'read', 'read', 'read_write'], () => `
struct Params {
  rows: u32, cachedLen: u32, nHeads: u32, group: u32, qW: u32, kvW: u32, scale: f32,
  hd: u32, G: u32, dpt: u32, causal: u32, window: u32, softcap: f32, maskStart: u32, maskW: u32,
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
      if ((p.causal != 0u || j < p.maskStart || mask[i * p.maskW + j - p.maskStart] != 0u) && inWindow(i, j)) {
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

/** Records the workgroup kernel: one workgroup per (row, query head). */
export function dispatchWorkgroup(device: Device, a: AttentionLaunch): void {
  const groups = a.headDim <= WG ? Math.floor(WG / a.headDim) : 1;
  const u = params(
    a.rows, a.cachedLen, a.nHeads, a.nHeads / a.nKvHeads, a.qW, a.kvW, { f32: a.scale },
    a.headDim, groups, Math.ceil(a.headDim / WG), a.causal ? 1 : 0, a.window, { f32: a.softcap }, a.maskStart, a.maskWidth,
  );
  device.dispatch(workgroupKernel(a.headDim % 4 === 0), a.buffers, u, grid(device, a.rows * a.nHeads));
}
