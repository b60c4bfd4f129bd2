// Row-wise top-k (candidate tokens for draft trees), sorted descending, ties to the lower index.
// One 256-thread workgroup per row, in two stages:
//   1. each thread keeps a sorted top-k list (private memory) of its strided slice of the row;
//   2. k merge rounds: the 256 list heads are reduced to the best (value, index) in workgroup
//      memory, written out, and its owner thread moves to its next entry.
// A row is read once, and the k rounds cost k·log2(256) barrier steps, whatever n is.
// k is at most 64; the private lists are always 64 long, so one pipeline serves every k (a
// pipeline per k would cost seconds of shader compilation each on software Vulkan).

import { OptionError, ShapeError } from '../errors';
import { checkDType, checkLive, checkRank, FLAT_WORKGROUP, grid, kernel, params } from '../kernel';
import type { Tensor } from '../tensor';

const WG = 256;
export const TOPK_MAX_K = 64;

/**
 * WGSL declarations the merge rounds need: the list heads of a workgroup of `wg` in workgroup
 * memory, and the order of (value, index) pairs (larger value first, then lower index).
 */
export function topkMergeDeclsWgsl(wg: number): string {
  return `const NONE = 0xffffffffu;
var<workgroup> hv: array<f32, ${wg}>;
var<workgroup> hi: array<u32, ${wg}>;

// (av, ai) ranks before (bv, bi): larger value first, then lower index; NONE ranks last.
fn before(av: f32, ai: u32, bv: f32, bi: u32) -> bool {
  if (ai == NONE) { return false; }
  if (bi == NONE) { return true; }
  return av > bv || (av == bv && ai < bi);
}`;
}

/**
 * WGSL statement: puts (value `v`, index `j`) into the invocation's sorted list lv / li of c
 * entries, at most k. Indices must rise from call to call, so strict > keeps equal values in
 * index order.
 */
export function topkInsertWgsl(v: string, j: string): string {
  return `if (c < k || ${v} > lv[k - 1u]) {
      var q = min(c, k - 1u);
      loop {
        if (q == 0u || !(${v} > lv[q - 1u])) { break; }
        lv[q] = lv[q - 1u];
        li[q] = li[q - 1u];
        q -= 1u;
      }
      lv[q] = ${v};
      li[q] = ${j};
      c = min(c + 1u, k);
    }`;
}

/**
 * WGSL: k rounds of a workgroup arg-best over the heads of the invocations' lists (lv, li, c),
 * writing the k best of the workgroup to values / indices at row `row`. Every invocation of the
 * workgroup of `wg` must run it (it has barriers).
 */
export function topkMergeWgsl(wg: number, shift = ''): string {
  return `var head = 0u;
  for (var r = 0u; r < k; r++) {
    if (head < c) {
      hv[lid] = lv[head];
      hi[lid] = li[head];
    } else {
      hv[lid] = 0.0;
      hi[lid] = NONE;
    }
    workgroupBarrier();
    for (var s = ${wg / 2}u; s > 0u; s >>= 1u) {
      if (lid < s && before(hv[lid + s], hi[lid + s], hv[lid], hi[lid])) {
        hv[lid] = hv[lid + s];
        hi[lid] = hi[lid + s];
      }
      workgroupBarrier();
    }
    let win = hi[0];
    if (lid == 0u) {
      values[row * k + r] = hv[0]${shift ? ` - ${shift}` : ''};
      indices[row * k + r] = i32(win);
    }
    if (head < c && li[head] == win) { head += 1u; }
    workgroupBarrier();
  }`;
}

function topkKernel() {
  const cap = TOPK_MAX_K;
  return kernel('topk', ['read', 'read_write', 'read_write'], () => `
struct Params { rows: u32, n: u32, k: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<f32>;
@group(1) @binding(2) var<storage, read_write> values: array<f32>;
@group(1) @binding(3) var<storage, read_write> indices: array<i32>;

${topkMergeDeclsWgsl(WG)}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = ${FLAT_WORKGROUP};
  if (row >= p.rows) { return; }
  let base = row * p.n;
  let k = p.k;

  // Stage 1: indices rise along the slice, so strict > keeps earlier equal values first.
  var lv: array<f32, ${cap}>;
  var li: array<u32, ${cap}>;
  var c = 0u;
  for (var j = lid; j < p.n; j += ${WG}u) {
    let v = x[base + j];
    ${topkInsertWgsl('v', 'j')}
  }

  // Stage 2: k rounds of a workgroup arg-best over the heads of the 256 lists.
  ${topkMergeWgsl(WG)}
}`);
}

export interface TopK {
  /** [rows, k], descending along each row. */
  values: Tensor<'f32'>;
  /** [rows, k], the column of each value; ties in value are ordered by lower index. */
  indices: Tensor<'i32'>;
}

/**
 * The k largest entries of each row of x ([rows, n]) and their indices, sorted descending.
 * 1 <= k <= min(n, 64). Both tensors are new and owned by the caller. NaN entries give
 * unspecified results.
 */
// Narrow rows (small vocabularies): one invocation per row keeps a sorted list by insertion, with
// no workgroup memory or barriers — far cheaper on CPU-backed adapters than k merge rounds.
const ROW_WG = 64;
const THREAD_MAX_N = 4096;
const rowKernel = kernel('topk-thread', ['read', 'read_write', 'read_write'], () => `
struct Params { rows: u32, n: u32, k: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<f32>;
@group(1) @binding(2) var<storage, read_write> values: array<f32>;
@group(1) @binding(3) var<storage, read_write> indices: array<i32>;

@compute @workgroup_size(${ROW_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (${FLAT_WORKGROUP}) * ${ROW_WG}u + lid;
  if (row >= p.rows) { return; }
  var lv: array<f32, ${TOPK_MAX_K}>;
  var li: array<u32, ${TOPK_MAX_K}>;
  var len = 0u;
  let base = row * p.n;
  for (var j = 0u; j < p.n; j++) {
    let y = x[base + j];
    // Indices rise, so an equal value never displaces an earlier one: ties keep the lower index.
    if (len == p.k && !(y > lv[p.k - 1u])) { continue; }
    var pos = min(len, p.k - 1u);
    while (pos > 0u && y > lv[pos - 1u]) {
      lv[pos] = lv[pos - 1u];
      li[pos] = li[pos - 1u];
      pos--;
    }
    lv[pos] = y;
    li[pos] = j;
    if (len < p.k) { len++; }
  }
  for (var t = 0u; t < p.k; t++) {
    values[row * p.k + t] = lv[t];
    indices[row * p.k + t] = i32(li[t]);
  }
}`);

export function topk(x: Tensor, k: number): TopK {
  const op = 'topk';
  const device = checkLive(op, x);
  checkDType(op, 'x', x, 'f32');
  checkRank(op, 'x', x, 2);
  const [rows, n] = x.shape;
  if (!Number.isInteger(k) || k < 1 || k > TOPK_MAX_K) throw new OptionError(`${op}: k must be an integer in [1, ${TOPK_MAX_K}], got ${k}`);
  if (k > n) throw new ShapeError(`${op}: k = ${k} exceeds the row length of x ${x.describe()}`);
  const values = device.empty([rows, k], 'f32'); // [rows, k]
  const indices = device.empty([rows, k], 'i32'); // [rows, k]
  if (n <= THREAD_MAX_N) {
    device.dispatch(rowKernel, [x.buffer, values.buffer, indices.buffer], params(rows, n, k), grid(device, Math.ceil(rows / ROW_WG)));
  } else {
    device.dispatch(topkKernel(), [x.buffer, values.buffer, indices.buffer], params(rows, n, k), grid(device, rows));
  }
  return { values, indices };
}
