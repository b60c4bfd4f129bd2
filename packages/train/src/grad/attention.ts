// Attention backward over a full sequence (no cache: the PrefixMLP is trained on whole
// sequences), causal or with an explicit [T, T] mask, grouped KV heads.
//   P = softmax(scale·Q·Kᵀ) (masked), O = P·V
//   dV = Pᵀ·dO,  dP = dO·Vᵀ,  dS = P⊙(dP − rowsum(dO⊙O)),  dQ = scale·dS·K,  dK = scale·dSᵀ·Q
// Pass 1, one invocation per (query row, head): log-sum-exp of its scores and D = dO·O (saved),
// then dQ. Pass 2, one invocation per (key row, KV head): walks every query row and head of its
// group, recomputing P from the saved log-sum-exp, and sums dK and dV itself: no atomics.

import { grid, kernel, params, type Tensor } from '@hydra-ts/tensor';

const WG = 64;
const NEG = '-3.0e38';

const header = (headDim: number) => `
struct Params { rows: u32, nHeads: u32, group: u32, qW: u32, kvW: u32, scale: f32, causal: u32 }
@group(0) @binding(0) var<uniform> p: Params;
const HD = ${headDim}u;

fn allowed(i: u32, j: u32) -> bool {
  if (p.causal != 0u) { return j <= i; }
  return mask[i * p.rows + j] != 0u;
}`;

function queryKernel(headDim: number) {
  return kernel(`grad-attention-q-hd${headDim}`, ['read', 'read', 'read', 'read', 'read', 'read', 'read_write', 'read_write'], () => `${header(headDim)}
@group(1) @binding(1) var<storage, read> q: array<f32>;
@group(1) @binding(2) var<storage, read> k: array<f32>;
@group(1) @binding(3) var<storage, read> v: array<f32>;
@group(1) @binding(4) var<storage, read> o: array<f32>;
@group(1) @binding(5) var<storage, read> dO: array<f32>;
@group(1) @binding(6) var<storage, read> mask: array<u32>;
@group(1) @binding(7) var<storage, read_write> dq: array<f32>;
@group(1) @binding(8) var<storage, read_write> stats: array<vec2f>; // [rows, nHeads] (lse, D)

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = (wid.x + wid.y * nwg.x) * ${WG}u + lid;
  if (t >= p.rows * p.nHeads) { return; }
  let i = t / p.nHeads;
  let h = t % p.nHeads;
  let qb = i * p.qW + h * HD;
  let kb = (h / p.group) * HD;
  var m = ${NEG};
  var l = 0.0;
  for (var j = 0u; j < p.rows; j++) {
    if (!allowed(i, j)) { continue; }
    var s = 0.0;
    for (var d = 0u; d < HD; d++) { s += q[qb + d] * k[j * p.kvW + kb + d]; }
    s *= p.scale;
    if (s > m) { l = l * exp(m - s) + 1.0; m = s; } else { l += exp(s - m); }
  }
  // A row that sees no key produced zeros; an infinite lse makes all its P zero here too.
  let lse = select(3.0e38, m + log(l), l > 0.0);
  var dd = 0.0;
  for (var d = 0u; d < HD; d++) { dd += dO[qb + d] * o[qb + d]; }
  var acc: array<f32, ${headDim}>;
  for (var d = 0u; d < HD; d++) { acc[d] = 0.0; }
  for (var j = 0u; j < p.rows; j++) {
    if (!allowed(i, j)) { continue; }
    var s = 0.0;
    var dp = 0.0;
    for (var d = 0u; d < HD; d++) {
      s += q[qb + d] * k[j * p.kvW + kb + d];
      dp += dO[qb + d] * v[j * p.kvW + kb + d];
    }
    let ds = exp(s * p.scale - lse) * (dp - dd);
    for (var d = 0u; d < HD; d++) { acc[d] += ds * k[j * p.kvW + kb + d]; }
  }
  for (var d = 0u; d < HD; d++) { dq[qb + d] = acc[d] * p.scale; }
  stats[t] = vec2f(lse, dd);
}`);
}

function keyKernel(headDim: number) {
  return kernel(`grad-attention-kv-hd${headDim}`, ['read', 'read', 'read', 'read', 'read', 'read', 'read_write', 'read_write'], () => `${header(headDim)}
@group(1) @binding(1) var<storage, read> q: array<f32>;
@group(1) @binding(2) var<storage, read> k: array<f32>;
@group(1) @binding(3) var<storage, read> v: array<f32>;
@group(1) @binding(4) var<storage, read> dO: array<f32>;
@group(1) @binding(5) var<storage, read> stats: array<vec2f>;
@group(1) @binding(6) var<storage, read> mask: array<u32>;
@group(1) @binding(7) var<storage, read_write> dk: array<f32>;
@group(1) @binding(8) var<storage, read_write> dv: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let nKv = p.nHeads / p.group;
  let t = (wid.x + wid.y * nwg.x) * ${WG}u + lid;
  if (t >= p.rows * nKv) { return; }
  let j = t / nKv;
  let g = t % nKv;
  let kb = j * p.kvW + g * HD;
  var ak: array<f32, ${headDim}>;
  var av: array<f32, ${headDim}>;
  for (var d = 0u; d < HD; d++) { ak[d] = 0.0; av[d] = 0.0; }
  for (var i = 0u; i < p.rows; i++) {
    if (!allowed(i, j)) { continue; }
    for (var h = g * p.group; h < (g + 1u) * p.group; h++) {
      let qb = i * p.qW + h * HD;
      let st = stats[i * p.nHeads + h];
      var s = 0.0;
      var dp = 0.0;
      for (var d = 0u; d < HD; d++) {
        s += q[qb + d] * k[kb + d];
        dp += dO[qb + d] * v[kb + d];
      }
      let pr = exp(s * p.scale - st.x);
      let ds = pr * (dp - st.y) * p.scale;
      for (var d = 0u; d < HD; d++) {
        av[d] += pr * dO[qb + d];
        ak[d] += ds * q[qb + d];
      }
    }
  }
  for (var d = 0u; d < HD; d++) { dk[kb + d] = ak[d]; dv[kb + d] = av[d]; }
}`);
}

export interface AttentionGradOptions {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  scale: number;
  /** [rows, rows] nonzero = allowed; null = causal. */
  mask: Uint32Array | null;
}

/** dq [rows, nHeads·hd], dk, dv [rows, nKv·hd] for o = attention(q, k, v) over the full sequence. */
export function attentionBackward(q: Tensor, k: Tensor, v: Tensor, o: Tensor, dO: Tensor, opts: AttentionGradOptions): { dq: Tensor<'f32'>; dk: Tensor<'f32'>; dv: Tensor<'f32'> } {
  const device = q.device;
  const rows = q.shape[0];
  const { nHeads, nKvHeads, headDim } = opts;
  const qW = nHeads * headDim;
  const kvW = nKvHeads * headDim;
  const dq = device.empty([rows, qW], 'f32'); // [rows, nHeads·headDim]
  const dk = device.empty([rows, kvW], 'f32'); // [rows, nKvHeads·headDim]
  const dv = device.empty([rows, kvW], 'f32'); // [rows, nKvHeads·headDim]
  if (rows === 0) return { dq, dk, dv };
  const stats = device.empty([rows * nHeads, 2], 'f32');
  const mask = device.tensor(opts.mask ?? new Uint32Array(1), [opts.mask ? opts.mask.length : 1], 'u32');
  const u = params(rows, nHeads, nHeads / nKvHeads, qW, kvW, { f32: opts.scale }, opts.mask ? 0 : 1);
  device.dispatch(queryKernel(headDim), [q.buffer, k.buffer, v.buffer, o.buffer, dO.buffer, mask.buffer, dq.buffer, stats.buffer], u, grid(device, Math.ceil((rows * nHeads) / WG)));
  device.dispatch(keyKernel(headDim), [q.buffer, k.buffer, v.buffer, dO.buffer, stats.buffer, mask.buffer, dk.buffer, dv.buffer], u, grid(device, Math.ceil((rows * nKvHeads) / WG)));
  stats.dispose();
  mask.dispose();
  return { dq, dk, dv };
}
