// Smooth L1 (Huber, threshold β) of predictions x [rows, n] against a constant target y [rows, n],
// with a per-element-row weight already divided by the normaliser:
//   loss  = Σ_r w_r Σ_j h(x_rj − y_rj),   h(d) = d²/(2β) where |d| < β, else |d| − β/2
//   dx_rj = g · w_r · clamp(d_rj / β, −1, 1)
// Forward: one workgroup sums in a fixed order (bit-reproducible); backward: one invocation per element.

import { grid, kernel, params, type Tensor } from '@hydra-ts/tensor';

const WG = 256;

const forwardKernel = kernel('grad-smooth-l1-sum', ['read', 'read', 'read', 'read_write'], () => `
struct Params { rows: u32, n: u32, beta: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<f32>;
@group(1) @binding(2) var<storage, read> y: array<f32>;
@group(1) @binding(3) var<storage, read> weight: array<f32>;
@group(1) @binding(4) var<storage, read_write> out: array<f32>;

var<workgroup> part: array<f32, ${WG}>;

@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var e = lid; e < p.rows * p.n; e += ${WG}u) {
    let d = abs(x[e] - y[e]);
    let h = select(d - 0.5 * p.beta, 0.5 * d * d / p.beta, d < p.beta);
    s += weight[e / p.n] * h;
  }
  part[lid] = s;
  workgroupBarrier();
  for (var k = ${WG / 2}u; k > 0u; k >>= 1u) {
    if (lid < k) { part[lid] += part[lid + k]; }
    workgroupBarrier();
  }
  if (lid == 0u) { out[0] = part[0]; }
}`);

const backwardKernel = kernel('grad-smooth-l1-backward', ['read', 'read', 'read', 'read', 'read_write'], () => `
struct Params { rows: u32, n: u32, beta: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<f32>;
@group(1) @binding(2) var<storage, read> y: array<f32>;
@group(1) @binding(3) var<storage, read> weight: array<f32>;
@group(1) @binding(4) var<storage, read> g: array<f32>; // [1] upstream gradient of the loss
@group(1) @binding(5) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = (wid.x + wid.y * nwg.x) * ${WG}u + lid;
  if (e >= p.rows * p.n) { return; }
  dx[e] = g[0] * weight[e / p.n] * clamp((x[e] - y[e]) / p.beta, -1.0, 1.0);
}`);

/** The weighted loss [1] of x against y (both [rows, n] f32); `weight` [rows] holds each row's weight over the normaliser. */
export function smoothL1Forward(x: Tensor, y: Tensor, weight: Tensor, beta: number): Tensor<'f32'> {
  const device = x.device;
  const [rows, n] = x.shape;
  const out = device.empty([1], 'f32'); // [1]
  device.dispatch(forwardKernel, [x.buffer, y.buffer, weight.buffer, out.buffer], params(rows, n, { f32: beta }), [1]);
  return out;
}

/** dx [rows, n]; g is the loss's upstream gradient [1] (read on the GPU: no round trip). */
export function smoothL1Backward(x: Tensor, y: Tensor, weight: Tensor, g: Tensor, beta: number): Tensor<'f32'> {
  const device = x.device;
  const [rows, n] = x.shape;
  const dx = device.empty([rows, n], 'f32'); // [rows, n]
  device.dispatch(backwardKernel, [x.buffer, y.buffer, weight.buffer, g.buffer, dx.buffer], params(rows, n, { f32: beta }), grid(device, Math.ceil((rows * n) / WG)));
  return dx;
}
