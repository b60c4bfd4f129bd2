// appendEmbeddings: out[j] = x[rows[j]] followed by table[ids[at[j]]], one dispatch. This is how a
// sequential draft head grows its inputs depth by depth (each child's row is its parent's row plus
// the embedding of the token the parent chose for it), which took a gather of the chosen ids, an
// embedding, a gather of rows and a concat. The ids stay on the GPU: one bad id zeroes its
// embedding and sets the device's index-error flag, so the next read-back throws an IndexError.
// A table larger than one binding (a real vocabulary: Qwen3's 151,936 × 1024 f32 is 594 MiB) is
// bound one slice of rows per dispatch, each writing the rows whose token falls in its slice.

import { IndexError, ShapeError } from '../errors';
import { OptionError } from '../errors';
import { checkDType, checkLive, checkRank, enableF16, FLAT_WORKGROUP, grid, kernel, params, rowChunks, wgslFloat } from '../kernel';
import { dtypeBytes, Tensor, type DType } from '../tensor';
import { concat } from './concat';

const WG = 256;
const OP = 'appendEmbeddings';

function appendKernel(dtype: DType, bit: number) {
  return kernel(`append-embeddings-${dtype}-${bit}`, ['read', 'read', 'read', 'read', 'read_write', 'read_write'], () => `${enableF16(dtype)}
// Each output row j: width xW from x's row rows[j], then dim from the table row of ids[at[j]].
// The table is bound from row p.base on, p.count rows; x's part is written by the first slice.
struct Params { n: u32, xW: u32, dim: u32, vocab: u32, nIds: u32, m: u32, base: u32, count: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<f32>;
@group(1) @binding(2) var<storage, read> idx: array<i32>; // [2n]: rows | at
@group(1) @binding(3) var<storage, read> ids: array<i32>;
@group(1) @binding(4) var<storage, read> table: array<${wgslFloat(dtype)}>;
@group(1) @binding(5) var<storage, read_write> out: array<f32>;
@group(1) @binding(6) var<storage, read_write> err: atomic<u32>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let width = p.xW + p.dim;
  let i = (${FLAT_WORKGROUP}) * ${WG}u + lid;
  if (i >= p.n * width) { return; }
  let j = i / width;
  let c = i % width;
  let row = idx[j];
  let a = idx[p.n + j];
  if (row < 0 || u32(row) >= p.m || a < 0 || u32(a) >= p.nIds) {
    if (c == 0u) { atomicOr(&err, ${(1 << bit) >>> 0}u); }
    out[i] = 0.0;
    return;
  }
  if (c < p.xW) {
    if (p.base == 0u) { out[i] = x[u32(row) * p.xW + c]; }
    return;
  }
  let id = ids[a];
  if (id < 0 || u32(id) >= p.vocab) {
    if (c == p.xW) { atomicOr(&err, ${(1 << bit) >>> 0}u); }
    out[i] = 0.0;
    return;
  }
  if (u32(id) < p.base || u32(id) - p.base >= p.count) { return; } // another slice's row
  out[i] = f32(table[(u32(id) - p.base) * p.dim + c - p.xW]);
}`);
}

/**
 * For each j: row rows[j] of x ([m, w] f32) followed by the table row ([vocab, dim], f32 or f16)
 * of token ids[at[j]] (ids: an i32 tensor of any shape, read flat). Returns [n, w + dim] f32, owned
 * by the caller. rows and at are host integers, checked here, or i32 tensors [n] already on the GPU
 * (a dynamic tree's frontier), checked there like the ids: a bad index zeroes its row and sets
 * the index-error flag.
 */
export function appendEmbeddings(x: Tensor, rows: ArrayLike<number> | Tensor, ids: Tensor, at: ArrayLike<number> | Tensor, table: Tensor, options: AppendOptions = {}): Tensor<'f32'> {
  const device = checkLive(OP, x, ids, table);
  checkDType(OP, 'x', x, 'f32');
  checkRank(OP, 'x', x, 2);
  checkDType(OP, 'ids', ids, 'i32');
  checkDType(OP, 'table', table, 'f32', 'f16');
  checkRank(OP, 'table', table, 2);
  const [m, w] = x.shape;
  const [vocab, dim] = table.shape;
  if (rows instanceof Tensor || at instanceof Tensor) return appendOnDevice(x, rows, ids, at, table, options);
  const n = rows.length;
  if (at.length !== n) throw new ShapeError(`${OP}: ${n} rows but ${at.length} id positions (at); expected one per row`);
  const idx = new Int32Array(2 * n);
  for (let j = 0; j < n; j++) {
    const r = rows[j];
    const a = at[j];
    if (!Number.isInteger(r) || r < 0 || r >= m) throw new IndexError(`${OP}: rows[${j}] = ${r} is not a row of x ${x.describe()}`);
    if (!Number.isInteger(a) || a < 0 || a >= ids.size) throw new IndexError(`${OP}: at[${j}] = ${a} is not an index into ids ${ids.describe()}`);
    idx[j] = r;
    idx[n + j] = a;
  }
  const out = device.empty([n, w + dim], 'f32'); // [n, w + dim]
  if (n === 0 || w + dim === 0) return out;
  const idxT = device.tensor(idx, [2 * n], 'i32');
  dispatchAppend(x, idxT, ids, table, out, options);
  idxT.dispose();
  return out;
}

/** appendEmbeddings with rows and at as i32 tensors [n] on the GPU. */
function appendOnDevice(x: Tensor, rows: ArrayLike<number> | Tensor, ids: Tensor, at: ArrayLike<number> | Tensor, table: Tensor, options: AppendOptions): Tensor<'f32'> {
  if (!(rows instanceof Tensor) || !(at instanceof Tensor)) throw new ShapeError(`${OP}: rows and at must both be on the host or both be i32 tensors`);
  checkLive(OP, rows, at);
  checkDType(OP, 'rows', rows, 'i32');
  checkDType(OP, 'at', at, 'i32');
  checkRank(OP, 'rows', rows, 1);
  checkRank(OP, 'at', at, 1);
  const n = rows.shape[0];
  if (at.shape[0] !== n) throw new ShapeError(`${OP}: rows ${rows.describe()} but at ${at.describe()}; expected one id position per row`);
  const out = x.device.empty([n, x.shape[1] + table.shape[1]], 'f32'); // [n, w + dim]
  if (n === 0 || x.shape[1] + table.shape[1] === 0) return out;
  const idxT = concat([rows, at], 0); // [2n]: buffer copies, no dispatch
  dispatchAppend(x, idxT, ids, table, out, options);
  idxT.dispose();
  return out;
}

function dispatchAppend(x: Tensor, idx: Tensor, ids: Tensor, table: Tensor, out: Tensor, options: AppendOptions): void {
  const device = x.device;
  const [m, w] = x.shape;
  const [vocab, dim] = table.shape;
  const n = out.shape[0];
  const maxBinding = options.maxBindingBytes ?? device.limits.maxStorageBufferBindingSize;
  if (!(maxBinding > 0)) throw new OptionError(`${OP}: maxBindingBytes must be > 0, got ${maxBinding}`);
  const rb = dim * dtypeBytes(table.dtype);
  const flag = device.indexErrorFlag(OP);
  const wg = grid(device, Math.ceil((n * (w + dim)) / WG));
  for (const [base, count] of rowChunks(OP, table, rb, vocab, maxBinding)) {
    const slice = base === 0 && count === vocab ? table.buffer : { buffer: table.buffer, offset: base * rb, size: count * rb };
    device.dispatch(appendKernel(table.dtype, flag.bit), [x.buffer, idx.buffer, ids.buffer, slice, out.buffer, flag.buffer], params(n, w, dim, vocab, ids.size, m, base, count), wg);
  }
}

export interface AppendOptions {
  /** The largest table binding (default the device's maxStorageBufferBindingSize); a larger table is read one slice of rows per dispatch. */
  maxBindingBytes?: number;
}
