// RMSNorm (llama2.c `rmsnorm`): out = x / sqrt(mean(x²) + eps) · weight, row by row.
// One 256-thread workgroup per row: each thread sums squares over a strided slice, then a tree
// reduction in workgroup memory; the same threads then write the scaled row.

import { OptionError } from '../errors';
import { checkDType, checkLive, checkRank, enableF16, FLAT_WORKGROUP, grid, kernel, params, shapeMismatch, wgslFloat } from '../kernel';
import type { DType, Tensor } from '../tensor';

const WG = 256;

function rmsnormKernel(wdtype: DType) {
  return kernel(`rmsnorm-${wdtype}`, ['read', 'read', 'read_write'], () => `${enableF16(wdtype)}
struct Params { rows: u32, dim: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<f32>;
@group(1) @binding(2) var<storage, read> w: array<${wgslFloat(wdtype)}>;
@group(1) @binding(3) var<storage, read_write> out: array<f32>;

var<workgroup> partial: array<f32, ${WG}>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = ${FLAT_WORKGROUP};
  if (row >= p.rows) { return; }
  let base = row * p.dim;
  var ss = 0.0;
  for (var j = lid; j < p.dim; j += ${WG}u) {
    let v = x[base + j];
    ss += v * v;
  }
  partial[lid] = ss;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { partial[lid] += partial[lid + s]; }
    workgroupBarrier();
  }
  let inv = inverseSqrt(partial[0] / f32(p.dim) + p.eps);
  for (var j = lid; j < p.dim; j += ${WG}u) {
    out[base + j] = x[base + j] * inv * f32(w[j]);
  }
}`);
}

// Narrow rows (decoding, tree verification, prefill of small models): one invocation per row and no
// barriers. On CPU-backed adapters a 256-thread workgroup per row costs far more in start-up and
// barriers than the arithmetic (64 rows of 64: 1.4 ms vs 0.1 ms on lavapipe).
const ROW_WG = 64;
const ROW_MAX_DIM = 1024;
function rowKernel(wdtype: DType) {
  return kernel(`rmsnorm-thread-${wdtype}`, ['read', 'read', 'read_write'], () => `${enableF16(wdtype)}
struct Params { rows: u32, dim: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<f32>;
@group(1) @binding(2) var<storage, read> w: array<${wgslFloat(wdtype)}>;
@group(1) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(${ROW_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (${FLAT_WORKGROUP}) * ${ROW_WG}u + lid;
  if (row >= p.rows) { return; }
  let base = row * p.dim;
  var ss = 0.0;
  for (var j = 0u; j < p.dim; j++) {
    let v = x[base + j];
    ss += v * v;
  }
  let inv = inverseSqrt(ss / f32(p.dim) + p.eps);
  for (var j = 0u; j < p.dim; j++) {
    out[base + j] = x[base + j] * inv * f32(w[j]);
  }
}`);
}

/**
 * RMSNorm of each row of x. `weight` may be stored as f16 (it is a model weight); x and the
 * result are f32. Returns a new tensor the caller owns.
 */
export function rmsnorm(x: Tensor, weight: Tensor, eps = 1e-5): Tensor<'f32'> {
  const op = 'rmsnorm';
  const device = checkLive(op, x, weight);
  checkDType(op, 'x', x, 'f32');
  checkDType(op, 'weight', weight, 'f32', 'f16');
  checkRank(op, 'x', x, 2);
  checkRank(op, 'weight', weight, 1);
  const [rows, dim] = x.shape;
  if (weight.shape[0] !== dim) throw shapeMismatch(op, 'weight must have length dim = x.shape[1]', ['x', x], ['weight', weight]);
  if (!Number.isFinite(eps) || eps < 0) throw new OptionError(`${op}: eps must be a finite number >= 0, got ${eps}`);
  const out = device.empty([rows, dim], 'f32'); // [rows, dim]
  if (dim === 0) return out;
  if (dim <= ROW_MAX_DIM) {
    device.dispatch(rowKernel(weight.dtype), [x.buffer, weight.buffer, out.buffer], params(rows, dim, { f32: eps }), grid(device, Math.ceil(rows / ROW_WG)));
  } else {
    device.dispatch(rmsnormKernel(weight.dtype), [x.buffer, weight.buffer, out.buffer], params(rows, dim, { f32: eps }), grid(device, rows));
  }
  return out;
}
