// Row-wise softmax and log-softmax, numerically stable. One 256-thread workgroup per row: each
// thread keeps a running (max, sum of exp(x - max)) over a strided slice of the row (one read,
// however long the row: vocabularies of 32000 to 49152+), the pairs are merged in workgroup memory,
// and a second sweep writes the row.

import { OptionError } from '../errors';
import { checkDType, checkLive, checkRank, FLAT_WORKGROUP, grid, kernel, params } from '../kernel';
import type { Tensor } from '../tensor';

const WG = 256;
// Start of a running max: finite, so a row of -inf gives sum 0 rather than exp(-inf + inf) = NaN.
const LOWEST = '-3.4028234663852886e38';

export interface SoftmaxOptions {
  /** Logits are divided by this before normalising (default 1). Must be finite and > 0. */
  temperature?: number;
}

function softmaxKernel(log: boolean) {
  const write = log ? 'v - m - log(s)' : 'exp(v - m) / s';
  return kernel(`softmax-${log ? 'log' : 'prob'}`, ['read', 'read_write'], () => `
struct Params { rows: u32, n: u32, inv_t: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<f32>;
@group(1) @binding(2) var<storage, read_write> out: array<f32>;

var<workgroup> wm: array<f32, ${WG}>;
var<workgroup> ws: array<f32, ${WG}>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = ${FLAT_WORKGROUP};
  if (row >= p.rows) { return; }
  let base = row * p.n;
  var m = ${LOWEST};
  var s = 0.0;
  for (var j = lid; j < p.n; j += ${WG}u) {
    let v = x[base + j] * p.inv_t;
    if (v > m) {
      s = s * exp(m - v) + 1.0;
      m = v;
    } else {
      s += exp(v - m);
    }
  }
  wm[lid] = m;
  ws[lid] = s;
  workgroupBarrier();
  for (var k = ${WG / 2}u; k > 0u; k >>= 1u) {
    if (lid < k) {
      let m1 = wm[lid];
      let m2 = wm[lid + k];
      let mm = max(m1, m2);
      ws[lid] = ws[lid] * exp(m1 - mm) + ws[lid + k] * exp(m2 - mm);
      wm[lid] = mm;
    }
    workgroupBarrier();
  }
  m = wm[0];
  s = ws[0];
  for (var j = lid; j < p.n; j += ${WG}u) {
    let v = x[base + j] * p.inv_t;
    out[base + j] = ${write};
  }
}`);
}

function rowwise(op: string, log: boolean, x: Tensor, options: SoftmaxOptions): Tensor<'f32'> {
  const device = checkLive(op, x);
  checkDType(op, 'x', x, 'f32');
  checkRank(op, 'x', x, 2);
  const t = options.temperature ?? 1;
  if (!Number.isFinite(t) || t <= 0) throw new OptionError(`${op}: temperature must be a finite number > 0, got ${t}`);
  const [rows, n] = x.shape;
  const out = device.empty([rows, n], 'f32'); // [rows, n]
  if (n === 0) return out;
  device.dispatch(softmaxKernel(log), [x.buffer, out.buffer], params(rows, n, { f32: 1 / t }), grid(device, rows));
  return out;
}

/** softmax(x / temperature) of each row of x ([rows, n]). A new tensor the caller owns. */
export function softmax(x: Tensor, options: SoftmaxOptions = {}): Tensor<'f32'> {
  return rowwise('softmax', false, x, options);
}

/** log softmax(x / temperature) of each row of x ([rows, n]). A new tensor the caller owns. */
export function logSoftmax(x: Tensor, options: SoftmaxOptions = {}): Tensor<'f32'> {
  return rowwise('logSoftmax', true, x, options);
}
