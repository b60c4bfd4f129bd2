// RoPE backward: the rotation is orthogonal, so dx is dy turned back by the same angle
// (the transpose of each 2×2 rotation). Angles come from the host in f64 as (cos, sin) per
// (row, pair): training positions are host data, and this keeps the reverse turn exact.

import { grid, kernel, params, type RopeLayout, type Tensor } from '@hydra-ts/tensor';

const WG = 256;

function ropeBackwardKernel(layout: RopeLayout) {
  const pair = layout === 'interleaved' ? 'let a = h * p.head_dim + 2u * i;\n  let b = a + 1u;' : 'let a = h * p.head_dim + i;\n  let b = a + p.half;';
  return kernel(`grad-rope-${layout}`, ['read', 'read', 'read_write'], () => `
struct Params { pairs: u32, dim: u32, head_dim: u32, half: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> dy: array<f32>;
@group(1) @binding(2) var<storage, read> cs: array<vec2f>; // [rows, half] (cos, sin)
@group(1) @binding(3) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let k = (wid.x + wid.y * nwg.x) * ${WG}u + lid;
  if (k >= p.pairs) { return; }
  let per_row = p.dim / 2u;
  let row = k / per_row;
  let j = k % per_row;
  let h = j / p.half;
  let i = j % p.half;
  ${pair}
  let t = cs[row * p.half + i];
  let base = row * p.dim;
  let ga = dy[base + a];
  let gb = dy[base + b];
  dx[base + a] = ga * t.x + gb * t.y;
  dx[base + b] = gb * t.x - ga * t.y;
}`);
}

/** (cos, sin) of pos·theta^(−2i/headDim) for every row and pair, in f64 then rounded. */
export function ropeAngles(positions: ArrayLike<number>, headDim: number, theta: number, freqs?: ArrayLike<number>): Float32Array {
  const half = headDim / 2;
  const out = new Float32Array(positions.length * half * 2);
  for (let r = 0; r < positions.length; r++) {
    for (let i = 0; i < half; i++) {
      const angle = positions[r] * (freqs ? freqs[i] : Math.pow(theta, (-2 * i) / headDim));
      out[(r * half + i) * 2] = Math.cos(angle);
      out[(r * half + i) * 2 + 1] = Math.sin(angle);
    }
  }
  return out;
}

/** dx [rows, dim] for y = rope(x, positions, { headDim, theta, layout, freqs }). */
export function ropeBackward(dy: Tensor, positions: ArrayLike<number>, headDim: number, theta: number, layout: RopeLayout, freqs?: ArrayLike<number>): Tensor<'f32'> {
  const device = dy.device;
  const [rows, dim] = dy.shape;
  const dx = device.empty([rows, dim], 'f32'); // [rows, dim]
  if (rows === 0 || dim === 0) return dx;
  const cs = device.tensor(ropeAngles(positions, headDim, theta, freqs), [rows * (headDim / 2), 2]);
  const pairs = (rows * dim) / 2;
  device.dispatch(ropeBackwardKernel(layout), [dy.buffer, cs.buffer, dx.buffer], params(pairs, dim, headDim, headDim / 2), grid(device, Math.ceil(pairs / WG)));
  cs.dispose();
  return dx;
}
