// Cross-entropy of logits against a sparse teacher: per row, k ids S with probabilities p_s and
// the remaining mass r = 1 − Σ_S p_s, treated as one bucket against the head's mass outside S:
//   loss_i = −Σ_{s∈S} p_s·log q_s − r·log(1 − Σ_{s∈S} q_s)        (q = softmax(x_i))
//          = T·lse − Σ_S p_s·x_s − r·lse_rest,   T = Σ_S p_s + r,  lse_rest = log Σ_{j∉S} e^{x_j}
//   dx_ij  = g·w_i·(T·q_j − p_j)                     j ∈ S
//   dx_ij  = g·w_i·(T·q_j − r·e^{x_j − lse_rest})    j ∉ S
// With S the whole vocabulary (r = 0) this is the full soft cross-entropy. The rest bucket is
// skipped when r = 0 or when the head puts no mass outside S.
// Forward: one workgroup per row (online max/sum, then Σ_S e^{x_s−m} subtracted for the rest),
// then one workgroup sums the rows in a fixed order. Backward: one invocation per logit for the
// j ∉ S formula, then one per (row, s) overwrites the k entries of S.

import { grid, kernel, params, type Tensor } from '@hydra-ts/tensor';

const WG = 256;
const LOWEST = '-3.4028234663852886e38';

const rowsKernel = kernel('grad-topk-xent-rows', ['read', 'read', 'read', 'read', 'read', 'read_write', 'read_write'], () => `
struct Params { rows: u32, n: u32, k: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<f32>;
@group(1) @binding(2) var<storage, read> ids: array<i32>;   // [rows, k]
@group(1) @binding(3) var<storage, read> probs: array<f32>; // [rows, k]
@group(1) @binding(4) var<storage, read> rest: array<f32>;  // [rows]
@group(1) @binding(5) var<storage, read> weight: array<f32>;
@group(1) @binding(6) var<storage, read_write> stats: array<vec4f>; // [rows] (lse, lse_rest, T, r used)
@group(1) @binding(7) var<storage, read_write> rowLoss: array<f32>;

var<workgroup> wm: array<f32, ${WG}>;
var<workgroup> ws: array<f32, ${WG}>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.n;
  var m = ${LOWEST};
  var s = 0.0;
  for (var j = lid; j < p.n; j += ${WG}u) {
    let v = x[base + j];
    if (v > m) {
      s = s * exp(m - v) + 1.0;
      m = v;
    } else {
      s += exp(v - m);
    }
  }
  wm[lid] = m;
  ws[lid] = s;
  workgroupBarrier();
  for (var h = ${WG / 2}u; h > 0u; h >>= 1u) {
    if (lid < h) {
      let m2 = max(wm[lid], wm[lid + h]);
      ws[lid] = ws[lid] * exp(wm[lid] - m2) + ws[lid + h] * exp(wm[lid + h] - m2);
      wm[lid] = m2;
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let mx = wm[0];
    let lse = mx + log(ws[0]);
    var sp = 0.0;
    var spx = 0.0;
    var sIn = 0.0; // Σ_S e^{x_s − max}
    for (var t = 0u; t < p.k; t++) {
      let v = x[base + u32(ids[row * p.k + t])];
      let pt = probs[row * p.k + t];
      sp += pt;
      spx += pt * v;
      sIn += exp(v - mx);
    }
    let sOut = ws[0] - sIn;
    var r = rest[row];
    var lseRest = 0.0;
    if (r > 0.0 && sOut > 0.0) { lseRest = mx + log(sOut); } else { r = 0.0; }
    let total = sp + r;
    stats[row] = vec4f(lse, lseRest, total, r);
    rowLoss[row] = weight[row] * (total * lse - spx - r * lseRest);
  }
}`);

const sumKernel = kernel('grad-topk-xent-sum', ['read', 'read_write'], () => `
struct Params { rows: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> rowLoss: array<f32>;
@group(1) @binding(2) var<storage, read_write> out: array<f32>;

var<workgroup> part: array<f32, ${WG}>;

@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = lid; i < p.rows; i += ${WG}u) { s += rowLoss[i]; }
  part[lid] = s;
  workgroupBarrier();
  for (var h = ${WG / 2}u; h > 0u; h >>= 1u) {
    if (lid < h) { part[lid] += part[lid + h]; }
    workgroupBarrier();
  }
  if (lid == 0u) { out[0] = part[0]; }
}`);

const restKernel = kernel('grad-topk-xent-backward-rest', ['read', 'read', 'read', 'read', 'read_write'], () => `
struct Params { rows: u32, n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<f32>;
@group(1) @binding(2) var<storage, read> weight: array<f32>;
@group(1) @binding(3) var<storage, read> stats: array<vec4f>;
@group(1) @binding(4) var<storage, read> g: array<f32>; // [1] upstream gradient of the loss
@group(1) @binding(5) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = (wid.x + wid.y * nwg.x) * ${WG}u + lid;
  if (e >= p.rows * p.n) { return; }
  let row = e / p.n;
  let st = stats[row];
  var outside = 0.0;
  if (st.w > 0.0) { outside = st.w * exp(x[e] - st.y); }
  dx[e] = g[0] * weight[row] * (st.z * exp(x[e] - st.x) - outside);
}`);

const keptKernel = kernel('grad-topk-xent-backward-kept', ['read', 'read', 'read', 'read', 'read', 'read', 'read_write'], () => `
struct Params { rows: u32, n: u32, k: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<f32>;
@group(1) @binding(2) var<storage, read> ids: array<i32>;
@group(1) @binding(3) var<storage, read> probs: array<f32>;
@group(1) @binding(4) var<storage, read> weight: array<f32>;
@group(1) @binding(5) var<storage, read> stats: array<vec4f>;
@group(1) @binding(6) var<storage, read> g: array<f32>;
@group(1) @binding(7) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = (wid.x + wid.y * nwg.x) * ${WG}u + lid;
  if (e >= p.rows * p.k) { return; }
  let row = e / p.k;
  let st = stats[row];
  let at = row * p.n + u32(ids[e]);
  dx[at] = g[0] * weight[row] * (st.z * exp(x[at] - st.x) - probs[e]);
}`);

/** The sparse teacher of a batch: ids and probabilities [rows, k], remaining mass [rows]. */
export interface SparseTeacher {
  ids: Tensor; // [rows, k] i32, distinct per row
  probs: Tensor; // [rows, k] f32
  rest: Tensor; // [rows] f32
}

export interface TopKCrossEntropyForward {
  loss: Tensor<'f32'>; // [1]
  stats: Tensor<'f32'>; // [rows, 4] (lse, lse_rest, T, r), kept for the backward pass
}

export function topKCrossEntropyForward(x: Tensor, t: SparseTeacher, weight: Tensor): TopKCrossEntropyForward {
  const device = x.device;
  const [rows, n] = x.shape;
  const k = t.ids.shape[1];
  const stats = device.empty([rows, 4], 'f32'); // [rows, 4]
  const rowLoss = device.empty([Math.max(1, rows)], 'f32'); // [rows]
  const loss = device.empty([1], 'f32'); // [1]
  if (rows > 0) device.dispatch(rowsKernel, [x.buffer, t.ids.buffer, t.probs.buffer, t.rest.buffer, weight.buffer, stats.buffer, rowLoss.buffer], params(rows, n, k), grid(device, rows));
  device.dispatch(sumKernel, [rowLoss.buffer, loss.buffer], params(rows), [1]);
  rowLoss.dispose();
  return { loss, stats };
}

/** dlogits [rows, n]; g is the loss's upstream gradient [1]. */
export function topKCrossEntropyBackward(x: Tensor, t: SparseTeacher, weight: Tensor, stats: Tensor, g: Tensor): Tensor<'f32'> {
  const device = x.device;
  const [rows, n] = x.shape;
  const k = t.ids.shape[1];
  const dx = device.empty([rows, n], 'f32'); // [rows, n]
  if (rows * n > 0) {
    device.dispatch(restKernel, [x.buffer, weight.buffer, stats.buffer, g.buffer, dx.buffer], params(rows, n), grid(device, Math.ceil((rows * n) / WG)));
    device.dispatch(keptKernel, [x.buffer, t.ids.buffer, t.probs.buffer, weight.buffer, stats.buffer, g.buffer, dx.buffer], params(rows, n, k), grid(device, Math.ceil((rows * k) / WG)));
  }
  return dx;
}
