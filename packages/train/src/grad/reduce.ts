// Column sums of a [rows, n] matrix: the gradient of a row-broadcast operand (bias, per-channel
// scale). One invocation per column walking the rows keeps the sum order fixed (no atomics), so
// results are bit-reproducible.

import { grid, kernel, params, ShapeError, type Tensor } from '@hydra-ts/tensor';

const WG = 64;

const sumRowsKernel = kernel('grad-sum-rows', ['read', 'read_write'], () => `
struct Params { rows: u32, n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<f32>;
@group(1) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = (wid.x + wid.y * nwg.x) * ${WG}u + lid;
  if (c >= p.n) { return; }
  var s = 0.0;
  for (var r = 0u; r < p.rows; r++) { s += x[r * p.n + c]; }
  out[c] = s;
}`);

/** Σ over rows of x viewed as [size / n, n]; returns [n]. */
export function sumRows(x: Tensor, n: number): Tensor<'f32'> {
  if (n <= 0 || x.size % n !== 0) throw new ShapeError(`sumRows: ${x.describe()} is not a whole number of rows of width ${n}`);
  const device = x.device;
  const out = device.empty([n], 'f32'); // [n]
  device.dispatch(sumRowsKernel, [x.buffer, out.buffer], params(x.size / n, n), grid(device, Math.ceil(n / WG)));
  return out;
}
