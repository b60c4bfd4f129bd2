// ropeCache with a per-head RMSNorm of q and k before the rotation (Qwen3's and Gemma 3's q_norm /
// k_norm): q_h ← rmsnorm(q_h)·gq, k_h ← rmsnorm(k_h)·gk over each head's headDim values, then
// RoPE, then k and v into the cache, as ropeCache does. The norm needs the whole head, so one
// invocation owns one (row, head) — q heads, then k heads, then v heads (copied) — rather than
// one rotated pair as the unnormed kernel does.

import { FLAT_WORKGROUP, kernel } from '../kernel';
import { ROTATION_WGSL, type RopeLayout } from './rope';

/** Workgroup size of ropeCacheNormKernel. */
export const ROPE_CACHE_NORM_WG = 64;

/** @internal The kernel; bindings x, pos, turns, gq, gk, qOut, kCache, vCache. */
export function ropeCacheNormKernel(layout: RopeLayout) {
  const WG = ROPE_CACHE_NORM_WG;
  // Pair i of the head: elements a and b of it.
  const pair = layout === 'interleaved' ? 'let a = 2u * i;\n    let b = a + 1u;' : 'let a = i;\n    let b = a + p.half;';
  return kernel(`rope-cache-norm-${layout}`, ['read', 'read', 'read', 'read', 'read', 'read_write', 'read_write', 'read_write'], () => `
struct Params { rows: u32, nHeads: u32, nKv: u32, headDim: u32, half: u32, start: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<f32>;
@group(1) @binding(2) var<storage, read> pos: array<i32>;
@group(1) @binding(3) var<storage, read> turns: array<vec4f>; // [half] freq/2π split in 4 parts
@group(1) @binding(4) var<storage, read> gq: array<f32>; // [headDim] q norm weight
@group(1) @binding(5) var<storage, read> gk: array<f32>; // [headDim] k norm weight
@group(1) @binding(6) var<storage, read_write> qOut: array<f32>;
@group(1) @binding(7) var<storage, read_write> kc: array<f32>;
@group(1) @binding(8) var<storage, read_write> vc: array<f32>;
${ROTATION_WGSL}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let heads = p.nHeads + 2u * p.nKv;
  let t = (${FLAT_WORKGROUP}) * ${WG}u + lid;
  if (t >= p.rows * heads) { return; }
  let row = t / heads;
  let h = t % heads;
  let qDim = p.nHeads * p.headDim;
  let kvDim = p.nKv * p.headDim;
  let src = row * (qDim + 2u * kvDim);
  let cacheRow = (p.start + row) * kvDim;
  if (h >= p.nHeads + p.nKv) {
    let e = (h - p.nHeads - p.nKv) * p.headDim;
    for (var d = 0u; d < p.headDim; d++) { vc[cacheRow + e + d] = x[src + qDim + kvDim + e + d]; }
    return;
  }
  let isQ = h < p.nHeads;
  let off = select(src + qDim + (h - p.nHeads) * p.headDim, src + h * p.headDim, isQ);
  var ss = 0.0;
  for (var d = 0u; d < p.headDim; d++) { let v = x[off + d]; ss += v * v; }
  let inv = inverseSqrt(ss / f32(p.headDim) + p.eps);
  let dst = select(cacheRow + (h - p.nHeads) * p.headDim, row * qDim + h * p.headDim, isQ);
  for (var i = 0u; i < p.half; i++) {
    ${pair}
    let xa = x[off + a] * inv * select(gk[a], gq[a], isQ);
    let xb = x[off + b] * inv * select(gk[b], gq[b], isQ);
    let cs = rotation(turns[i], pos[row]);
    let ra = xa * cs.x - xb * cs.y;
    let rb = xa * cs.y + xb * cs.x;
    if (isQ) {
      qOut[dst + a] = ra;
      qOut[dst + b] = rb;
    } else {
      kc[dst + a] = ra;
      kc[dst + b] = rb;
    }
  }
}`);
}
