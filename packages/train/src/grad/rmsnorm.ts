// RMSNorm backward. With r = 1/sqrt(mean(x²) + eps) and y = x·r·w:
//   dx = r·(dy⊙w) − x·r³·Σ(dy⊙w⊙x)/dim,   dw = Σ_rows dy⊙x·r.
// Pass 1: one workgroup per row reduces both sums, writes dx and keeps r per row.
// Pass 2: one invocation per column sums dw over rows in a fixed order (no atomics).

import { grid, kernel, params, type Tensor } from '@hydra-ts/tensor';

const WG = 256;
const COLS = 64;

const rowKernel = kernel('grad-rmsnorm-rows', ['read', 'read', 'read', 'read_write', 'read_write'], () => `
struct Params { rows: u32, dim: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<f32>;
@group(1) @binding(2) var<storage, read> w: array<f32>;
@group(1) @binding(3) var<storage, read> dy: array<f32>;
@group(1) @binding(4) var<storage, read_write> dx: array<f32>;
@group(1) @binding(5) var<storage, read_write> rinv: array<f32>;

var<workgroup> ss: array<f32, ${WG}>;
var<workgroup> sd: array<f32, ${WG}>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.dim;
  var a = 0.0;
  var b = 0.0;
  for (var j = lid; j < p.dim; j += ${WG}u) {
    let v = x[base + j];
    a += v * v;
    b += dy[base + j] * w[j] * v;
  }
  ss[lid] = a;
  sd[lid] = b;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) {
      ss[lid] += ss[lid + s];
      sd[lid] += sd[lid + s];
    }
    workgroupBarrier();
  }
  let r = inverseSqrt(ss[0] / f32(p.dim) + p.eps);
  let c = r * r * r * sd[0] / f32(p.dim);
  for (var j = lid; j < p.dim; j += ${WG}u) {
    dx[base + j] = r * dy[base + j] * w[j] - x[base + j] * c;
  }
  if (lid == 0u) { rinv[row] = r; }
}`);

const weightKernel = kernel('grad-rmsnorm-weight', ['read', 'read', 'read', 'read_write'], () => `
struct Params { rows: u32, dim: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<f32>;
@group(1) @binding(2) var<storage, read> dy: array<f32>;
@group(1) @binding(3) var<storage, read> rinv: array<f32>;
@group(1) @binding(4) var<storage, read_write> dw: array<f32>;

@compute @workgroup_size(${COLS})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = (wid.x + wid.y * nwg.x) * ${COLS}u + lid;
  if (c >= p.dim) { return; }
  var s = 0.0;
  for (var r = 0u; r < p.rows; r++) { s += dy[r * p.dim + c] * x[r * p.dim + c] * rinv[r]; }
  dw[c] = s;
}`);

/** dx [rows, dim] and dw [dim] for y = rmsnorm(x, w, eps); dw only when asked for. */
export function rmsnormBackward(x: Tensor, w: Tensor, dy: Tensor, eps: number, wantWeight: boolean): { dx: Tensor<'f32'>; dw: Tensor<'f32'> | null } {
  const device = x.device;
  const [rows, dim] = x.shape;
  const dx = device.empty([rows, dim], 'f32'); // [rows, dim]
  const rinv = device.empty([Math.max(1, rows)], 'f32'); // [rows]
  if (rows > 0 && dim > 0) {
    device.dispatch(rowKernel, [x.buffer, w.buffer, dy.buffer, dx.buffer, rinv.buffer], params(rows, dim, { f32: eps }), grid(device, rows));
  }
  let dw: Tensor<'f32'> | null = null;
  if (wantWeight) {
    dw = device.empty([dim], 'f32'); // [dim]
    if (dim > 0) device.dispatch(weightKernel, [x.buffer, dy.buffer, rinv.buffer, dw.buffer], params(rows, dim), grid(device, Math.ceil(dim / COLS)));
  }
  rinv.dispose();
  return { dx, dw };
}
