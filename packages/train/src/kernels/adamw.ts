// Fused AdamW update (Loshchilov & Hutter, decoupled weight decay), in place on param, m and v:
//   g ← g·clip;  θ ← θ·(1 − lr·wd);  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
//   θ ← θ − lr·(m / (1−β1ᵗ)) / (sqrt(v / (1−β2ᵗ)) + ε)
// clip is the global-norm clipping factor, read from a GPU buffer so no read-back is needed.

import { grid, kernel, params, type Tensor } from '@hydra-ts/tensor';

const WG = 256;

const adamwKernel = kernel('optim-adamw', ['read_write', 'read', 'read_write', 'read_write', 'read'], () => `
struct Params { n: u32, lr: f32, beta1: f32, beta2: f32, eps: f32, decay: f32, bc1: f32, bc2: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read_write> theta: array<f32>;
@group(1) @binding(2) var<storage, read> grad: array<f32>;
@group(1) @binding(3) var<storage, read_write> m: array<f32>;
@group(1) @binding(4) var<storage, read_write> v: array<f32>;
@group(1) @binding(5) var<storage, read> clip: array<f32>; // [2] (global norm, factor)

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * ${WG}u + lid;
  if (i >= p.n) { return; }
  let g = grad[i] * clip[1];
  let mi = p.beta1 * m[i] + (1.0 - p.beta1) * g;
  let vi = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  let t = theta[i] * (1.0 - p.lr * p.decay);
  theta[i] = t - p.lr * (mi / p.bc1) / (sqrt(vi / p.bc2) + p.eps);
}`);

export interface AdamWStep {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1-based step count, for bias correction. */
  t: number;
}

/** Records one in-place AdamW update of theta, m and v (all [n] f32). */
export function adamwUpdate(theta: Tensor, grad: Tensor, m: Tensor, v: Tensor, clip: Tensor, s: AdamWStep): void {
  const device = theta.device;
  const bc1 = 1 - Math.pow(s.beta1, s.t);
  const bc2 = 1 - Math.pow(s.beta2, s.t);
  const u = params(theta.size, { f32: s.lr }, { f32: s.beta1 }, { f32: s.beta2 }, { f32: s.eps }, { f32: s.weightDecay }, { f32: bc1 }, { f32: bc2 });
  device.dispatch(adamwKernel, [theta.buffer, grad.buffer, m.buffer, v.buffer, clip.buffer], u, grid(device, Math.ceil(theta.size / WG)));
}

const sgdKernel = kernel('optim-sgd', ['read_write', 'read', 'read'], () => `
struct Params { n: u32, lr: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read_write> theta: array<f32>;
@group(1) @binding(2) var<storage, read> grad: array<f32>;
@group(1) @binding(3) var<storage, read> clip: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * ${WG}u + lid;
  if (i >= p.n) { return; }
  theta[i] = theta[i] - p.lr * grad[i] * clip[1];
}`);

/** θ ← θ − lr·g·clip, in place. */
export function sgdUpdate(theta: Tensor, grad: Tensor, clip: Tensor, lr: number): void {
  const device = theta.device;
  device.dispatch(sgdKernel, [theta.buffer, grad.buffer, clip.buffer], params(theta.size, { f32: lr }), grid(device, Math.ceil(theta.size / WG)));
}
