// y = g·x for a scalar g held on the GPU ([1]): the upstream gradient of a loss applied to
// gradients taken before it was known (Tape.chunkedLinearLoss). One invocation per element.

import { grid, kernel, params, ShapeError, type Tensor } from '@hydra-ts/tensor';

const WG = 256;

const scaleByKernel = kernel('grad-scale-by', ['read', 'read', 'read_write'], () => `
struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<f32>;
@group(1) @binding(2) var<storage, read> g: array<f32>; // [1]
@group(1) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = (wid.x + wid.y * nwg.x) * ${WG}u + lid;
  if (e >= p.n) { return; }
  y[e] = g[0] * x[e];
}`);

/** g[0] · x, x f32 of any shape, g f32 [1]; a new tensor of x's shape. */
export function scaleBy(x: Tensor, g: Tensor): Tensor<'f32'> {
  if (x.dtype !== 'f32' || g.dtype !== 'f32' || g.size !== 1) throw new ShapeError(`scaleBy: x ${x.describe()} and g ${g.describe()} must be f32, g of one element`);
  const device = x.device;
  const y = device.empty(x.shape, 'f32');
  if (x.size > 0) device.dispatch(scaleByKernel, [x.buffer, g.buffer, y.buffer], params(x.size), grid(device, Math.ceil(x.size / WG)));
  return y;
}
