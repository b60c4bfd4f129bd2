// Cross-entropy of logits against hard targets (token ids) or soft targets (a teacher
// distribution), with a per-row weight already divided by the normaliser:
//   hard: loss = Σ_i w_i·(lse_i − x_i[t_i])
//   soft: loss = Σ_i w_i·Σ_j p_ij·(lse_i − x_ij)        (= −Σ p log q)
//   dx_ij = g·w_i·(softmax(x_i)_j·Σ_j p_ij − p_ij)       (p = one-hot for hard targets)
// Forward: one workgroup per row (online max/sum in one sweep) writes (lse, Σp) and the row's
// loss; a single workgroup then sums rows in a fixed order. Backward: one invocation per logit.

import { grid, kernel, params, type Tensor } from '@hydra-ts/tensor';

const WG = 256;
const LOWEST = '-3.4028234663852886e38';

function rowsKernel(soft: boolean) {
  return kernel(`grad-xent-rows-${soft ? 'soft' : 'hard'}`, ['read', 'read', 'read', 'read_write', 'read_write'], () => `
struct Params { rows: u32, n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<f32>;
@group(1) @binding(2) var<storage, read> tgt: array<${soft ? 'f32' : 'i32'}>;
@group(1) @binding(3) var<storage, read> weight: array<f32>;
@group(1) @binding(4) var<storage, read_write> stats: array<vec2f>; // [rows] (lse, Σp)
@group(1) @binding(5) var<storage, read_write> rowLoss: array<f32>;

var<workgroup> wm: array<f32, ${WG}>;
var<workgroup> ws: array<f32, ${WG}>;
var<workgroup> wp: array<f32, ${WG}>;
var<workgroup> wq: array<f32, ${WG}>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.n;
  var m = ${LOWEST};
  var s = 0.0;
  var sp = 0.0;  // Σ p
  var spx = 0.0; // Σ p·x
  for (var j = lid; j < p.n; j += ${WG}u) {
    let v = x[base + j];
    if (v > m) {
      s = s * exp(m - v) + 1.0;
      m = v;
    } else {
      s += exp(v - m);
    }
    ${soft ? 'let t = tgt[base + j];\n    sp += t;\n    spx += t * v;' : ''}
  }
  wm[lid] = m;
  ws[lid] = s;
  wp[lid] = sp;
  wq[lid] = spx;
  workgroupBarrier();
  for (var k = ${WG / 2}u; k > 0u; k >>= 1u) {
    if (lid < k) {
      let m2 = max(wm[lid], wm[lid + k]);
      ws[lid] = ws[lid] * exp(wm[lid] - m2) + ws[lid + k] * exp(wm[lid + k] - m2);
      wm[lid] = m2;
      wp[lid] += wp[lid + k];
      wq[lid] += wq[lid + k];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let lse = wm[0] + log(ws[0]);
    ${soft
      ? 'let sumP = wp[0];\n    let loss = lse * sumP - wq[0];'
      : 'let sumP = 1.0;\n    let loss = lse - x[base + u32(tgt[row])];'}
    stats[row] = vec2f(lse, sumP);
    rowLoss[row] = weight[row] * loss;
  }
}`);
}

const sumKernel = kernel('grad-xent-sum', ['read', 'read_write'], () => `
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
  for (var k = ${WG / 2}u; k > 0u; k >>= 1u) {
    if (lid < k) { part[lid] += part[lid + k]; }
    workgroupBarrier();
  }
  if (lid == 0u) { out[0] = part[0]; }
}`);

function backwardKernel(soft: boolean) {
  return kernel(`grad-xent-backward-${soft ? 'soft' : 'hard'}`, ['read', 'read', 'read', 'read', 'read', 'read_write'], () => `
struct Params { rows: u32, n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<f32>;
@group(1) @binding(2) var<storage, read> tgt: array<${soft ? 'f32' : 'i32'}>;
@group(1) @binding(3) var<storage, read> weight: array<f32>;
@group(1) @binding(4) var<storage, read> stats: array<vec2f>;
@group(1) @binding(5) var<storage, read> g: array<f32>; // [1] upstream gradient of the loss
@group(1) @binding(6) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = (wid.x + wid.y * nwg.x) * ${WG}u + lid;
  if (e >= p.rows * p.n) { return; }
  let row = e / p.n;
  let j = e % p.n;
  let st = stats[row];
  ${soft ? 'let t = tgt[e];' : 'let t = select(0.0, 1.0, u32(tgt[row]) == j);'}
  dx[e] = g[0] * weight[row] * (exp(x[e] - st.x) * st.y - t);
}`);
}

export interface CrossEntropyForward {
  loss: Tensor<'f32'>; // [1]
  stats: Tensor<'f32'>; // [rows, 2] (lse, Σp), kept for the backward pass
}

/**
 * Weighted cross-entropy of logits [rows, n] against `target`: i32 ids [rows] (hard) or f32
 * probabilities [rows, n] (soft). `weight` [rows] holds each row's weight over the normaliser.
 */
export function crossEntropyForward(x: Tensor, target: Tensor, weight: Tensor, soft: boolean): CrossEntropyForward {
  const device = x.device;
  const [rows, n] = x.shape;
  const stats = device.empty([rows, 2], 'f32'); // [rows, 2]
  const rowLoss = device.empty([Math.max(1, rows)], 'f32'); // [rows]
  const loss = device.empty([1], 'f32'); // [1]
  if (rows > 0) device.dispatch(rowsKernel(soft), [x.buffer, target.buffer, weight.buffer, stats.buffer, rowLoss.buffer], params(rows, n), grid(device, rows));
  device.dispatch(sumKernel, [rowLoss.buffer, loss.buffer], params(rows), [1]);
  rowLoss.dispose();
  return { loss, stats };
}

/** dlogits [rows, n]; g is the loss's upstream gradient [1] (read on the GPU: no round trip). */
export function crossEntropyBackward(x: Tensor, target: Tensor, weight: Tensor, stats: Tensor, g: Tensor, soft: boolean): Tensor<'f32'> {
  const device = x.device;
  const [rows, n] = x.shape;
  const dx = device.empty([rows, n], 'f32'); // [rows, n]
  if (rows * n > 0) {
    device.dispatch(backwardKernel(soft), [x.buffer, target.buffer, weight.buffer, stats.buffer, g.buffer, dx.buffer], params(rows, n), grid(device, Math.ceil((rows * n) / WG)));
  }
  return dx;
}
