// Global L2 norm of all gradients and the clipping factor min(1, maxNorm / (norm + 1e-6)),
// left on the GPU for the update kernels. Each gradient tensor's Σg² goes to its own slot
// (one workgroup per tensor, fixed order: reproducible), then one workgroup sums the slots.

import { kernel, params, type Tensor } from '@hydra-ts/tensor';

const WG = 256;

const sumSquaresKernel = kernel('optim-sum-squares', ['read', 'read_write'], () => `
struct Params { n: u32, slot: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> g: array<f32>;
@group(1) @binding(2) var<storage, read_write> slots: array<f32>;

var<workgroup> part: array<f32, ${WG}>;

@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = lid; i < p.n; i += ${WG}u) { s += g[i] * g[i]; }
  part[lid] = s;
  workgroupBarrier();
  for (var k = ${WG / 2}u; k > 0u; k >>= 1u) {
    if (lid < k) { part[lid] += part[lid + k]; }
    workgroupBarrier();
  }
  if (lid == 0u) { slots[p.slot] = part[0]; }
}`);

const clipKernel = kernel('optim-clip-factor', ['read', 'read_write'], () => `
struct Params { n: u32, maxNorm: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> slots: array<f32>;
@group(1) @binding(2) var<storage, read_write> clip: array<f32>; // [2] (norm, factor)

@compute @workgroup_size(1)
fn main() {
  var s = 0.0;
  for (var i = 0u; i < p.n; i++) { s += slots[i]; }
  let norm = sqrt(s);
  clip[0] = norm;
  clip[1] = min(1.0, p.maxNorm / (norm + 1e-6));
}`);

/**
 * Writes (global norm, clipping factor) into clip [2]. slots must hold grads.length floats.
 * maxNorm = Infinity gives factor 1 while still measuring the norm.
 */
export function gradientNorm(grads: readonly Tensor[], slots: Tensor, clip: Tensor, maxNorm: number): void {
  const device = slots.device;
  grads.forEach((g, slot) => device.dispatch(sumSquaresKernel, [g.buffer, slots.buffer], params(g.size, slot), [1]));
  device.dispatch(clipKernel, [slots.buffer, clip.buffer], params(grads.length, { f32: Number.isFinite(maxNorm) ? maxNorm : 3.0e38 }), [1]);
}
