// Element-wise unary ops: scale by a constant, SiLU and GELU, plus SiLU-gated product (SwiGLU).

import { OptionError } from '../errors';
import { checkDType, checkLive, FLAT_WORKGROUP, grid, kernel, params, shapeMismatch } from '../kernel';
import type { Tensor } from '../tensor';
import { ERF_WGSL } from './erf';

const WG = 256;

const unaryKernel = (name: string, expr: string, helpers: string) =>
  kernel(`unary-${name}`, ['read', 'read_write'], () => `${helpers}
struct Params { n: u32, s: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<f32>;
@group(1) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (${FLAT_WORKGROUP}) * ${WG}u + lid;
  if (i >= p.n) { return; }
  let v = x[i];
  out[i] = ${expr};
}`);

function unary(name: string, expr: string, x: Tensor, s = 0, helpers = ''): Tensor<'f32'> {
  const device = checkLive(name, x);
  checkDType(name, 'x', x, 'f32');
  const out = device.empty(x.shape, 'f32');
  device.dispatch(unaryKernel(name, expr, helpers), [x.buffer, out.buffer], params(x.size, { f32: s }), grid(device, Math.ceil(x.size / WG)));
  return out;
}

/** x · s */
export const scale = (x: Tensor, s: number) => unary('scale', 'v * p.s', x, s);

/**
 * WGSL tanh that neither overflows (one exp of −2|y| ≤ 0) nor loses small arguments to the
 * cancellation in 1 − e^(−2|y|): below |y| = 1/8 its Taylor series, accurate there to 1e-10.
 */
export const TANH_WGSL = `
fn tanhSafe(y: f32) -> f32 {
  let a = abs(y);
  if (a < 0.125) {
    let y2 = y * y;
    return y * (1.0 + y2 * (-1.0 / 3.0 + y2 * (2.0 / 15.0 + y2 * (-17.0 / 315.0))));
  }
  let e = exp(-2.0 * a);
  return sign(y) * (1.0 - e) / (1.0 + e);
}`;

const softcapKernel = kernel('softcap', ['read', 'read_write'], () => `
struct Params { n: u32, cap: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<f32>;
@group(1) @binding(2) var<storage, read_write> out: array<f32>;
${TANH_WGSL}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (${FLAT_WORKGROUP}) * ${WG}u + lid;
  if (i >= p.n) { return; }
  out[i] = p.cap * tanhSafe(x[i] / p.cap);
}`);

/** cap · tanh(x / cap): Gemma 2's soft-capping of the final logits. */
export function softcap(x: Tensor, cap: number): Tensor<'f32'> {
  const device = checkLive('softcap', x);
  checkDType('softcap', 'x', x, 'f32');
  if (!(Number.isFinite(cap) && cap > 0)) throw new OptionError(`softcap: cap = ${cap}, expected a positive number`);
  const out = device.empty(x.shape, 'f32');
  device.dispatch(softcapKernel, [x.buffer, out.buffer], params(x.size, { f32: cap }), grid(device, Math.ceil(x.size / WG)));
  return out;
}

/** x · sigmoid(x) */
export const silu = (x: Tensor) => unary('silu', 'v / (1.0 + exp(-v))', x);

/** x · Φ(x) = ½x(1 + erf(x/√2)): the exact GELU (PyTorch's nn.GELU(), MLPSpeculator's activation). */
export const gelu = (x: Tensor) => unary('gelu', '0.5 * v * (1.0 + erf_as(v * 0.70710678118654752))', x, 0, ERF_WGSL);

const swigluKernel = kernel('swiglu', ['read', 'read', 'read_write'], () => `
struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> gate: array<f32>;
@group(1) @binding(2) var<storage, read> up: array<f32>;
@group(1) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (${FLAT_WORKGROUP}) * ${WG}u + lid;
  if (i >= p.n) { return; }
  let g = gate[i];
  out[i] = g / (1.0 + exp(-g)) * up[i];
}`);

/** SiLU(gate) · up: the SwiGLU activation in one dispatch. */
export function swiglu(gate: Tensor, up: Tensor): Tensor<'f32'> {
  const device = checkLive('swiglu', gate, up);
  checkDType('swiglu', 'gate', gate, 'f32');
  checkDType('swiglu', 'up', up, 'f32');
  if (gate.shape.join() !== up.shape.join()) throw shapeMismatch('swiglu', 'gate and up must have one shape', ['gate', gate], ['up', up]);
  const out = device.empty(gate.shape, 'f32');
  device.dispatch(swigluKernel, [gate.buffer, up.buffer, out.buffer], params(gate.size), grid(device, Math.ceil(gate.size / WG)));
  return out;
}
