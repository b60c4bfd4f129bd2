// Row-wise argmax (greedy decoding, verification). One 256-thread workgroup per row: each thread
// finds the best of a strided slice, then a tree reduction; ties go to the lowest index, as in the
// CPU twin. NaN entries give an unspecified index.

import { checkDType, checkLive, checkRank, FLAT_WORKGROUP, grid, kernel, params } from '../kernel';
import { ShapeError } from '../errors';
import type { Tensor } from '../tensor';

const WG = 256;

const argmaxKernel = kernel('argmax', ['read', 'read_write'], () => `
struct Params { rows: u32, n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<f32>;
@group(1) @binding(2) var<storage, read_write> out: array<i32>;

const NONE = 0xffffffffu;
var<workgroup> bv: array<f32, ${WG}>;
var<workgroup> bi: array<u32, ${WG}>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = ${FLAT_WORKGROUP};
  if (row >= p.rows) { return; }
  let base = row * p.n;
  var v = 0.0;
  var i = NONE;
  // Indices rise along the slice, so a strict > keeps the first of equal values.
  for (var j = lid; j < p.n; j += ${WG}u) {
    let y = x[base + j];
    if (i == NONE || y > v) { v = y; i = j; }
  }
  bv[lid] = v;
  bi[lid] = i;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) {
      let ov = bv[lid + s];
      let oi = bi[lid + s];
      let mi = bi[lid];
      if (mi == NONE || (oi != NONE && (ov > bv[lid] || (ov == bv[lid] && oi < mi)))) {
        bv[lid] = ov;
        bi[lid] = oi;
      }
    }
    workgroupBarrier();
  }
  if (lid == 0u) { out[row] = i32(bi[0]); }
}`);

// Narrow rows (small vocabularies, tree verification over many rows): one invocation per row and
// no barriers, which on CPU-backed adapters beats a 256-thread workgroup per row by ~10×.
const ROW_WG = 64;
const THREAD_MAX_N = 4096;
const rowKernel = kernel('argmax-thread', ['read', 'read_write'], () => `
struct Params { rows: u32, n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<f32>;
@group(1) @binding(2) var<storage, read_write> out: array<i32>;

@compute @workgroup_size(${ROW_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (${FLAT_WORKGROUP}) * ${ROW_WG}u + lid;
  if (row >= p.rows) { return; }
  let base = row * p.n;
  var v = x[base];
  var i = 0u;
  for (var j = 1u; j < p.n; j++) {
    let y = x[base + j];
    if (y > v) { v = y; i = j; }
  }
  out[row] = i32(i);
}`);

/** Index of the largest entry of each row of x ([rows, n], n >= 1): a new i32 tensor [rows]. */
export function argmax(x: Tensor): Tensor<'i32'> {
  const op = 'argmax';
  const device = checkLive(op, x);
  checkDType(op, 'x', x, 'f32');
  checkRank(op, 'x', x, 2);
  const [rows, n] = x.shape;
  if (n === 0) throw new ShapeError(`${op}: x ${x.describe()} has empty rows; argmax needs n >= 1`);
  const out = device.empty([rows], 'i32'); // [rows]
  if (n <= THREAD_MAX_N && rows > 1) {
    device.dispatch(rowKernel, [x.buffer, out.buffer], params(rows, n), grid(device, Math.ceil(rows / ROW_WG)));
  } else {
    device.dispatch(argmaxKernel, [x.buffer, out.buffer], params(rows, n), grid(device, rows));
  }
  return out;
}
