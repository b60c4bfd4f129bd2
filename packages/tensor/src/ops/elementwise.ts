// Element-wise binary ops: add and mul, with the second operand either the same shape or a row
// vector broadcast over the leading dimensions (a bias or a per-channel scale).

import { checkDType, checkLive, FLAT_WORKGROUP, grid, kernel, params, shapeMismatch } from '../kernel';
import type { Tensor } from '../tensor';

const WG = 256;

const OPS = { add: 'a + b', mul: 'a * b', sub: 'a - b' } as const;
export type BinaryOp = keyof typeof OPS;

function binaryKernel(op: BinaryOp) {
  return kernel(`binary-${op}`, ['read', 'read', 'read_write'], () => `
struct Params { n: u32, m: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<f32>;
@group(1) @binding(2) var<storage, read> y: array<f32>;
@group(1) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (${FLAT_WORKGROUP}) * ${WG}u + lid;
  if (i >= p.n) { return; }
  let a = x[i];
  let b = y[i % p.m];
  out[i] = ${OPS[op]};
}`);
}

/** `x op y` where y has x's shape or x's last dimension (broadcast over rows). */
export function binary(op: BinaryOp, x: Tensor, y: Tensor): Tensor<'f32'> {
  const device = checkLive(op, x, y);
  checkDType(op, 'x', x, 'f32');
  checkDType(op, 'y', y, 'f32');
  const same = x.size === y.size && x.shape.join() === y.shape.join();
  const row = y.rank === 1 && x.rank >= 1 && y.shape[0] === x.shape[x.rank - 1];
  if (!same && !row) throw shapeMismatch(op, 'y must have the shape of x or of its last dimension', ['x', x], ['y', y]);
  const out = device.empty(x.shape, 'f32');
  device.dispatch(binaryKernel(op), [x.buffer, y.buffer, out.buffer], params(x.size, Math.max(1, y.size)), grid(device, Math.ceil(x.size / WG)));
  return out;
}

export const add = (x: Tensor, y: Tensor) => binary('add', x, y);
export const mul = (x: Tensor, y: Tensor) => binary('mul', x, y);
export const sub = (x: Tensor, y: Tensor) => binary('sub', x, y);
