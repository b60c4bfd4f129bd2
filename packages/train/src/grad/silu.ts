// SiLU backward: d/dx [x·σ(x)] = σ(x)·(1 + x·(1 − σ(x))).

import { grid, kernel, params, type Tensor } from '@hydra-ts/tensor';

const WG = 256;

const siluBackwardKernel = kernel('grad-silu', ['read', 'read', 'read_write'], () => `
struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<f32>;
@group(1) @binding(2) var<storage, read> dy: array<f32>;
@group(1) @binding(3) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * ${WG}u + lid;
  if (i >= p.n) { return; }
  let v = x[i];
  let s = 1.0 / (1.0 + exp(-v));
  dx[i] = dy[i] * s * (1.0 + v * (1.0 - s));
}`);

/** dx for y = SiLU(x); x and dy share a shape, dx has it too. */
export function siluBackward(x: Tensor, dy: Tensor): Tensor<'f32'> {
  const device = x.device;
  const dx = device.empty(x.shape, 'f32');
  device.dispatch(siluBackwardKernel, [x.buffer, dy.buffer, dx.buffer], params(x.size), grid(device, Math.ceil(x.size / WG)));
  return dx;
}
