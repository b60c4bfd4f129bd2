// Exact GELU backward: d/dx [x·Φ(x)] = Φ(x) + x·φ(x), Φ(x) = ½(1 + erf(x/√2)), φ(x) = e^(−x²/2)/√(2π).

import { ERF_WGSL, grid, kernel, params, type Tensor } from '@hydra-ts/tensor';

const WG = 256;

const geluBackwardKernel = kernel('grad-gelu', ['read', 'read', 'read_write'], () => `${ERF_WGSL}
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
  let cdf = 0.5 * (1.0 + erf_as(v * 0.70710678118654752));
  let pdf = exp(-0.5 * v * v) * 0.39894228040143268;
  dx[i] = dy[i] * (cdf + v * pdf);
}`);

/** dx for y = GELU(x); x and dy share a shape, dx has it too. */
export function geluBackward(x: Tensor, dy: Tensor): Tensor<'f32'> {
  const device = x.device;
  const dx = device.empty(x.shape, 'f32');
  device.dispatch(geluBackwardKernel, [x.buffer, dy.buffer, dx.buffer], params(x.size), grid(device, Math.ceil(x.size / WG)));
  return dx;
}
