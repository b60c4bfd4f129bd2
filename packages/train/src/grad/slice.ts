// Slice backward: the upstream gradient lands in its range of a zero tensor of the input's shape.
// Written as one pass over the output (zero or copy per element) rather than clear + scatter.

import { grid, kernel, params, type Tensor } from '@hydra-ts/tensor';

const WG = 256;

const padKernel = kernel('grad-slice-pad', ['read', 'read_write'], () => `
struct Params { total: u32, inW: u32, start: u32, width: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> dy: array<f32>;
@group(1) @binding(2) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = (wid.x + wid.y * nwg.x) * ${WG}u + lid;
  if (e >= p.total) { return; }
  let r = e / p.inW;
  let c = e % p.inW;
  var v = 0.0;
  if (c >= p.start && c < p.start + p.width) { v = dy[r * p.width + c - p.start]; }
  dx[e] = v;
}`);

/**
 * dx for y = slice(x, axis, start, end): x viewed as [outer, inW] where the slice keeps columns
 * [start, start + width) of every row (axis 0 is one row of size·inner).
 */
export function sliceBackward(dy: Tensor, inShape: readonly number[], axis: 0 | 'last', start: number, end: number): Tensor<'f32'> {
  const device = dy.device;
  const dx = device.empty(inShape, 'f32');
  const total = dx.size;
  let inW: number, s0: number, width: number;
  if (axis === 0) {
    const inner = total / inShape[0];
    [inW, s0, width] = [total, start * inner, (end - start) * inner];
  } else {
    [inW, s0, width] = [inShape[inShape.length - 1], start, end - start];
  }
  if (total === 0) return dx;
  device.dispatch(padKernel, [dy.buffer, dx.buffer], params(total, inW, s0, width), grid(device, Math.ceil(total / WG)));
  return dx;
}
