// Dropout with a counter-based mask: element i is kept iff hash(i ^ hash(seed)) >= p·2³².
// Nothing is stored between forward and backward; the backward pass recomputes the same mask,
// so it is the same kernel applied to the upstream gradient.

import { grid, kernel, params, type Tensor } from '@hydra-ts/tensor';

const WG = 256;

/** PCG-style integer hash (Jarzynski & Olano, "Hash Functions for GPU Rendering"). */
export const HASH_WGSL = `
fn pcg(x: u32) -> u32 {
  let v = x * 747796405u + 2891336453u;
  let w = ((v >> ((v >> 28u) + 4u)) ^ v) * 277803737u;
  return (w >> 22u) ^ w;
}`;

const dropoutKernel = kernel('grad-dropout-mask', ['read', 'read_write'], () => `
struct Params { n: u32, seed: u32, threshold: u32, inv_keep: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<f32>;
@group(1) @binding(2) var<storage, read_write> out: array<f32>;
${HASH_WGSL}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * ${WG}u + lid;
  if (i >= p.n) { return; }
  let keep = pcg(i ^ pcg(p.seed)) >= p.threshold;
  out[i] = select(0.0, x[i] * p.inv_keep, keep);
}`);

/** x · mask / (1 − p), mask from (seed, element index). Used for the forward and the backward pass. */
export function dropoutMask(x: Tensor, p: number, seed: number): Tensor<'f32'> {
  const device = x.device;
  const out = device.empty(x.shape, 'f32');
  const threshold = Math.min(0xffffffff, Math.floor(p * 4294967296));
  device.dispatch(dropoutKernel, [x.buffer, out.buffer], params(x.size, seed >>> 0, threshold, { f32: 1 / (1 - p) }), grid(device, Math.ceil(x.size / WG)));
  return out;
}
