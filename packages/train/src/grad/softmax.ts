// Softmax and log-softmax backward, one workgroup per row (rows are vocabulary-long).
// With y = softmax(x/T):      dx = y⊙(dy − Σ dy⊙y) / T
// With y = logSoftmax(x/T):   dx = (dy − exp(y)·Σ dy) / T

import { grid, kernel, params, type Tensor } from '@hydra-ts/tensor';

const WG = 256;

function softmaxBackwardKernel(log: boolean) {
  const term = log ? 'g' : 'g * y[base + j]';
  const write = log ? '(dy[base + j] - exp(y[base + j]) * s) * p.inv_t' : 'y[base + j] * (dy[base + j] - s) * p.inv_t';
  return kernel(`grad-softmax-${log ? 'log' : 'prob'}`, ['read', 'read', 'read_write'], () => `
struct Params { rows: u32, n: u32, inv_t: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> y: array<f32>;
@group(1) @binding(2) var<storage, read> dy: array<f32>;
@group(1) @binding(3) var<storage, read_write> dx: array<f32>;

var<workgroup> part: array<f32, ${WG}>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.n;
  var acc = 0.0;
  for (var j = lid; j < p.n; j += ${WG}u) {
    let g = dy[base + j];
    acc += ${term};
  }
  part[lid] = acc;
  workgroupBarrier();
  for (var k = ${WG / 2}u; k > 0u; k >>= 1u) {
    if (lid < k) { part[lid] += part[lid + k]; }
    workgroupBarrier();
  }
  let s = part[0];
  for (var j = lid; j < p.n; j += ${WG}u) {
    dx[base + j] = ${write};
  }
}`);
}

/** dx [rows, n] from the forward output y [rows, n] (probabilities or log-probabilities). */
export function softmaxBackward(y: Tensor, dy: Tensor, log: boolean, temperature: number): Tensor<'f32'> {
  const device = y.device;
  const [rows, n] = y.shape;
  const dx = device.empty([rows, n], 'f32'); // [rows, n]
  if (rows > 0 && n > 0) device.dispatch(softmaxBackwardKernel(log), [y.buffer, dy.buffer, dx.buffer], params(rows, n, { f32: 1 / temperature }), grid(device, rows));
  return dx;
}
