// The attention of a draft layer unrolled on its own outputs (EAGLE-3's training-time test), forward
// and backward, over whole training sequences at once. Row i of sequence s attends to
//   K[s .. i]                      the committed rows up to it (causal, within its sequence), and
//   K[e·R + i] for e = 1 .. j      its own row at each earlier unrolled step,
// with K = [K_0; K_1; …; K_j] the steps' keys stacked ([(j+1)·R, kvW]), V alike: exactly the keys a
// depth-j tree node sees at inference (the committed context, then its path). j = 0 is plain causal
// attention within each sequence. Only the keys a row sees are visited: (i − s + 1) + j per row,
// where a [(j+1)R, (j+1)R] masked attention over the stacked rows visits (j+1)·R.
//   P = softmax(scale·q·Kᵀ) over those keys, O = P·V
//   dV = Pᵀ·dO,  dS = P⊙(dO·Vᵀ − rowsum(dO⊙O)),  dQ = scale·dS·K,  dK = scale·dSᵀ·Q
// Forward: one invocation per (row, head), online softmax; it saves each (row, head)'s log-sum-exp
// in a statistics buffer. Backward pass 1, per (row, head): D = dO·O (written beside the
// log-sum-exp, in place: kernels here bind at most 8 storage buffers), then dQ. Pass 2, per (key row, KV head): the queries that see
// it (rows k .. end of its sequence for a committed key, row i alone for a step's key) recompute P
// from the saved statistics and sum dK and dV; no atomics.

import { grid, kernel, params, ShapeError, type Device, type Tensor } from '@hydra-ts/tensor';

const WG = 64;
const NEG = '-3.0e38';

const header = (headDim: number) => `
struct Params { rows: u32, nHeads: u32, group: u32, qW: u32, kvW: u32, scale: f32, steps: u32 }
@group(0) @binding(0) var<uniform> p: Params;
const HD = ${headDim}u;

// The keys row i sees, by index n = 0 .. count-1: its sequence's rows start .. i, then its own row
// at steps 1 .. p.steps (key rows e·rows + i).
fn keyCount(i: u32) -> u32 { return i - u32(starts[i]) + 1u + p.steps; }
fn keyRow(i: u32, n: u32) -> u32 {
  let causal = i - u32(starts[i]) + 1u;
  if (n < causal) { return u32(starts[i]) + n; }
  return (n - causal + 1u) * p.rows + i;
}
fn score(qb: u32, kb: u32) -> f32 {
  var s = 0.0;
  for (var d = 0u; d < HD; d++) { s += q[qb + d] * keys[kb + d]; }
  return s * p.scale;
}`;

function forwardKernel(headDim: number) {
  return kernel(`drafted-attention-hd${headDim}`, ['read', 'read', 'read', 'read', 'read_write', 'read_write'], () => `${header(headDim)}
@group(1) @binding(1) var<storage, read> q: array<f32>;
@group(1) @binding(2) var<storage, read> keys: array<f32>;
@group(1) @binding(3) var<storage, read> values: array<f32>;
@group(1) @binding(4) var<storage, read> starts: array<i32>;
@group(1) @binding(5) var<storage, read_write> o: array<f32>;
@group(1) @binding(6) var<storage, read_write> stats: array<vec2f>; // [rows, nHeads] (lse, D = 0 until the backward)

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = (wid.x + wid.y * nwg.x) * ${WG}u + lid;
  if (t >= p.rows * p.nHeads) { return; }
  let i = t / p.nHeads;
  let h = t % p.nHeads;
  let qb = i * p.qW + h * HD;
  let hb = (h / p.group) * HD;
  var m = ${NEG};
  var l = 0.0;
  var acc: array<f32, ${headDim}>;
  for (var d = 0u; d < HD; d++) { acc[d] = 0.0; }
  for (var n = 0u; n < keyCount(i); n++) {
    let kb = keyRow(i, n) * p.kvW + hb;
    let s = score(qb, kb);
    var w = 1.0;
    if (s > m) {
      let c = exp(m - s);
      l *= c;
      for (var d = 0u; d < HD; d++) { acc[d] *= c; }
      m = s;
    } else {
      w = exp(s - m);
    }
    l += w;
    for (var d = 0u; d < HD; d++) { acc[d] += w * values[kb + d]; }
  }
  for (var d = 0u; d < HD; d++) { o[qb + d] = acc[d] / l; }
  stats[t] = vec2f(m + log(l), 0.0); // every row sees at least itself
}`);
}

function queryKernel(headDim: number) {
  return kernel(`drafted-attention-grad-q-hd${headDim}`, ['read', 'read', 'read', 'read', 'read', 'read', 'read_write', 'read_write'], () => `${header(headDim)}
@group(1) @binding(1) var<storage, read> q: array<f32>;
@group(1) @binding(2) var<storage, read> keys: array<f32>;
@group(1) @binding(3) var<storage, read> values: array<f32>;
@group(1) @binding(4) var<storage, read> starts: array<i32>;
@group(1) @binding(5) var<storage, read> o: array<f32>;
@group(1) @binding(6) var<storage, read> dO: array<f32>;
@group(1) @binding(7) var<storage, read_write> dq: array<f32>;
@group(1) @binding(8) var<storage, read_write> stats: array<vec2f>; // [rows, nHeads] (lse from the forward, D written here)

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = (wid.x + wid.y * nwg.x) * ${WG}u + lid;
  if (t >= p.rows * p.nHeads) { return; }
  let i = t / p.nHeads;
  let h = t % p.nHeads;
  let qb = i * p.qW + h * HD;
  let hb = (h / p.group) * HD;
  let lse = stats[t].x;
  var dd = 0.0;
  for (var d = 0u; d < HD; d++) { dd += dO[qb + d] * o[qb + d]; }
  var acc: array<f32, ${headDim}>;
  for (var d = 0u; d < HD; d++) { acc[d] = 0.0; }
  for (var n = 0u; n < keyCount(i); n++) {
    let kb = keyRow(i, n) * p.kvW + hb;
    var dp = 0.0;
    for (var d = 0u; d < HD; d++) { dp += dO[qb + d] * values[kb + d]; }
    let ds = exp(score(qb, kb) - lse) * (dp - dd);
    for (var d = 0u; d < HD; d++) { acc[d] += ds * keys[kb + d]; }
  }
  for (var d = 0u; d < HD; d++) { dq[qb + d] = acc[d] * p.scale; }
  stats[t] = vec2f(lse, dd);
}`);
}

function keyKernel(headDim: number) {
  return kernel(`drafted-attention-grad-kv-hd${headDim}`, ['read', 'read', 'read', 'read', 'read', 'read', 'read_write', 'read_write'], () => `${header(headDim)}
@group(1) @binding(1) var<storage, read> q: array<f32>;
@group(1) @binding(2) var<storage, read> keys: array<f32>;
@group(1) @binding(3) var<storage, read> values: array<f32>;
@group(1) @binding(4) var<storage, read> starts: array<i32>;
@group(1) @binding(5) var<storage, read> dO: array<f32>;
@group(1) @binding(6) var<storage, read> stats: array<vec2f>;
@group(1) @binding(7) var<storage, read_write> dk: array<f32>;
@group(1) @binding(8) var<storage, read_write> dv: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let nKv = p.nHeads / p.group;
  let t = (wid.x + wid.y * nwg.x) * ${WG}u + lid;
  if (t >= (p.steps + 1u) * p.rows * nKv) { return; }
  let u = t / nKv;
  let g = t % nKv;
  let kb = u * p.kvW + g * HD;
  // the queries that see key row u: a committed row, rows u .. the end of its sequence; a step's row, its own row only
  var first = u % p.rows;
  var last = first;
  if (u < p.rows) {
    while (last + 1u < p.rows && starts[last + 1u] == starts[u]) { last++; }
  }
  var ak: array<f32, ${headDim}>;
  var av: array<f32, ${headDim}>;
  for (var d = 0u; d < HD; d++) { ak[d] = 0.0; av[d] = 0.0; }
  for (var i = first; i <= last; i++) {
    for (var h = g * p.group; h < (g + 1u) * p.group; h++) {
      let qb = i * p.qW + h * HD;
      let st = stats[i * p.nHeads + h];
      var dp = 0.0;
      for (var d = 0u; d < HD; d++) { dp += dO[qb + d] * values[kb + d]; }
      let pr = exp(score(qb, kb) - st.x);
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

export interface DraftedAttentionOptions {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  /** Default 1/√headDim. */
  scale?: number;
}

/** Checks the shapes and the sequence starts; returns the number of earlier steps j. */
function stepsOf(q: Tensor, keys: Tensor, values: Tensor, starts: Int32Array, o: DraftedAttentionOptions): number {
  const rows = q.shape[0];
  const qW = o.nHeads * o.headDim;
  const kvW = o.nKvHeads * o.headDim;
  if (o.nHeads % o.nKvHeads !== 0) throw new ShapeError(`draftedAttention: nHeads ${o.nHeads} is not a multiple of nKvHeads ${o.nKvHeads}`);
  if (q.rank !== 2 || q.shape[1] !== qW) throw new ShapeError(`draftedAttention: q ${q.describe()}, expected [rows, nHeads·headDim = ${qW}]`);
  if (keys.rank !== 2 || keys.shape[1] !== kvW || rows === 0 || keys.shape[0] % rows !== 0) {
    throw new ShapeError(`draftedAttention: keys ${keys.describe()}, expected [(steps + 1)·rows, nKvHeads·headDim = ${kvW}] for q of ${rows} rows`);
  }
  if (values.shape.join() !== keys.shape.join()) throw new ShapeError(`draftedAttention: values ${values.describe()}, expected the keys' shape ${keys.describe()}`);
  if (starts.length !== rows) throw new ShapeError(`draftedAttention: ${starts.length} sequence starts for ${rows} rows`);
  for (let i = 0; i < rows; i++) {
    const s = starts[i];
    if (!(s >= 0 && s <= i && (i === 0 || s === starts[i - 1] || s === i))) throw new ShapeError(`draftedAttention: starts[${i}] = ${s}, expected the first row of row ${i}'s sequence (rows of a sequence are consecutive)`);
  }
  return keys.shape[0] / rows - 1;
}

/**
 * O [rows, nHeads·hd] of queries q [rows, ·] over keys / values [(j+1)·rows, nKv·hd] (see the
 * header), and the statistics the backward reads, [rows·nHeads, 2] (each (row, head)'s log-sum-exp,
 * then a slot the backward fills); both owned by the caller.
 */
export function draftedAttention(q: Tensor, keys: Tensor, values: Tensor, starts: Int32Array, o: DraftedAttentionOptions): { out: Tensor<'f32'>; stats: Tensor<'f32'> } {
  const steps = stepsOf(q, keys, values, starts, o);
  const device = q.device;
  const rows = q.shape[0];
  const out = device.empty([rows, o.nHeads * o.headDim], 'f32');
  const stats = device.empty([rows * o.nHeads, 2], 'f32');
  const s = device.tensor(starts, [rows], 'i32');
  device.dispatch(forwardKernel(o.headDim), [q.buffer, keys.buffer, values.buffer, s.buffer, out.buffer, stats.buffer], uniforms(o, rows, steps), grid(device, Math.ceil((rows * o.nHeads) / WG)));
  s.dispose();
  return { out, stats };
}

/**
 * dq [rows, nHeads·hd], dKeys and dValues [(j+1)·rows, nKv·hd] for { out, stats } =
 * draftedAttention(q, keys, values, starts); writes D into stats (a backward runs once per forward).
 */
export function draftedAttentionBackward(q: Tensor, keys: Tensor, values: Tensor, out: Tensor, stats: Tensor, dO: Tensor, starts: Int32Array, o: DraftedAttentionOptions): { dq: Tensor<'f32'>; dk: Tensor<'f32'>; dv: Tensor<'f32'> } {
  const steps = stepsOf(q, keys, values, starts, o);
  const device: Device = q.device;
  const rows = q.shape[0];
  const dq = device.empty(q.shape, 'f32'); // [rows, nHeads·hd]
  const dk = device.empty(keys.shape, 'f32'); // [(j+1)·rows, nKv·hd]
  const dv = device.empty(keys.shape, 'f32');
  const s = device.tensor(starts, [rows], 'i32');
  const u = uniforms(o, rows, steps);
  device.dispatch(queryKernel(o.headDim), [q.buffer, keys.buffer, values.buffer, s.buffer, out.buffer, dO.buffer, dq.buffer, stats.buffer], u, grid(device, Math.ceil((rows * o.nHeads) / WG)));
  device.dispatch(keyKernel(o.headDim), [q.buffer, keys.buffer, values.buffer, s.buffer, dO.buffer, stats.buffer, dk.buffer, dv.buffer], u, grid(device, Math.ceil((keys.shape[0] * o.nKvHeads) / WG)));
  s.dispose();
  return { dq, dk, dv };
}

function uniforms(o: DraftedAttentionOptions, rows: number, steps: number) {
  return params(rows, o.nHeads, o.nHeads / o.nKvHeads, o.nHeads * o.headDim, o.nKvHeads * o.headDim, { f32: o.scale ?? 1 / Math.sqrt(o.headDim) }, steps);
}
