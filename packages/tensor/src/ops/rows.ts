// Row moves on [rows, width] tensors, the KV cache's bookkeeping: writeRows appends new keys/values,
// compactRows keeps only the accepted tree path, gatherRows picks rows by index.
// writeRows and compactRows are buffer copies in the command stream (no dispatch).

import { DTypeError, IndexError, OptionError, ShapeError } from '../errors';
import { checkDType, checkLive, checkRank, FLAT_WORKGROUP, grid, kernel, params, rowChunks, shapeMismatch } from '../kernel';
import { dtypeBytes, formatShape, type DType, type Tensor } from '../tensor';

const WG = 256;

/** Byte length of one row; copies need multiples of 4 bytes. */
function rowBytes(op: string, t: Tensor): number {
  const bytes = t.shape[1] * dtypeBytes(t.dtype);
  if (bytes % 4 !== 0) {
    throw new DTypeError(`${op}: rows of ${t.describe()} are ${bytes} bytes; row copies need a multiple of 4 (an even width for f16)`);
  }
  return bytes;
}

/**
 * In place: copies src's rows into dst rows dstRow .. dstRow + n − 1.
 * dst: [capacity, width]; src: [n, width] of dst's dtype.
 */
export function writeRows(dst: Tensor, src: Tensor, dstRow: number): void {
  const op = 'writeRows';
  const device = checkLive(op, dst, src);
  checkRank(op, 'dst', dst, 2);
  checkRank(op, 'src', src, 2);
  if (src.dtype !== dst.dtype) throw new DTypeError(`${op}: src ${src.describe()} and dst ${dst.describe()} differ in dtype`);
  if (src.shape[1] !== dst.shape[1]) throw shapeMismatch(op, 'src and dst must have one width', ['src', src], ['dst', dst]);
  const n = src.shape[0];
  const capacity = dst.shape[0];
  if (!Number.isInteger(dstRow) || dstRow < 0 || dstRow + n > capacity) {
    throw new IndexError(`${op}: rows ${dstRow}..${dstRow + n - 1} (src ${formatShape(src.shape)}) do not fit dst ${formatShape(dst.shape)}`);
  }
  if (n === 0) return;
  const rb = rowBytes(op, dst);
  if (src.buffer === dst.buffer) {
    // A view of dst itself: a buffer cannot be copied onto itself, so go through a temporary.
    const tmp = device.empty(src.shape, src.dtype);
    device.copyBuffer(src.buffer, 0, tmp.buffer, 0, n * rb);
    device.copyBuffer(tmp.buffer, 0, dst.buffer, dstRow * rb, n * rb);
    tmp.dispose();
    return;
  }
  device.copyBuffer(src.buffer, 0, dst.buffer, dstRow * rb, n * rb);
}

/**
 * In place: moves cache rows from[0], from[1], ... to rows to, to + 1, ... (keeping an accepted
 * tree path). cache: [capacity, width].
 */
export function compactRows(cache: Tensor, from: readonly number[], to: number): void {
  const op = 'compactRows';
  const device = checkLive(op, cache);
  checkRank(op, 'cache', cache, 2);
  const capacity = cache.shape[0];
  const bad = from.findIndex((r) => !Number.isInteger(r) || r < 0 || r >= capacity);
  if (bad >= 0) {
    throw new IndexError(`${op}: source row from[${bad}] = ${from[bad]} is outside cache ${formatShape(cache.shape)}`);
  }
  if (!Number.isInteger(to) || to < 0 || to + from.length > capacity) {
    throw new IndexError(`${op}: destination rows ${to}..${to + from.length - 1} do not fit cache ${formatShape(cache.shape)}`);
  }
  // Rows already in place at either end need no move.
  let first = 0;
  let last = from.length - 1;
  while (first <= last && from[first] === to + first) first++;
  while (last >= first && from[last] === to + last) last--;
  if (first > last) return;
  const rb = rowBytes(op, cache);
  // A buffer cannot be copied onto itself, and sources may overlap destinations (from [10, 12, 15]
  // to 10 moves 12 -> 11 and 15 -> 12). So every source row is first copied out into a temporary,
  // then the temporary goes back in one contiguous copy: all reads precede all writes in the
  // command stream, whatever the overlap.
  const n = last - first + 1;
  const tmp = device.empty([n, cache.shape[1]], cache.dtype); // [n, width]
  for (let k = first; k <= last; ) {
    let run = 1; // consecutive source rows go in one copy
    while (k + run <= last && from[k + run] === from[k] + run) run++;
    device.copyBuffer(cache.buffer, from[k] * rb, tmp.buffer, (k - first) * rb, run * rb);
    k += run;
  }
  device.copyBuffer(tmp.buffer, 0, cache.buffer, (to + first) * rb, n * rb);
  tmp.dispose(); // the pool reuses it only after these copies are submitted
}

function gatherKernel(dtype: DType, checked: boolean) {
  const el = dtype === 'f16' ? 'f16' : 'u32'; // 4-byte dtypes move as raw bits
  const bindings = checked ? (['read', 'read', 'read_write', 'read_write'] as const) : (['read', 'read', 'read_write'] as const);
  return (bit: number) =>
    kernel(`gather-rows-${el}${checked ? `-err${bit}` : ''}`, bindings, () => `
${el === 'f16' ? 'enable f16;' : ''}
// x is bound from row p.base on, p.count rows: a tensor past the binding limit is gathered one
// slice at a time, each dispatch writing the output rows whose ids fall in its slice.
struct Params { k: u32, n: u32, width: u32, base: u32, count: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<${el}>;
@group(1) @binding(2) var<storage, read> ids: array<i32>;
@group(1) @binding(3) var<storage, read_write> out: array<${el}>;
${checked ? '@group(1) @binding(4) var<storage, read_write> err: atomic<u32>;' : ''}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = (${FLAT_WORKGROUP}) * ${WG}u + lid;
  if (e >= p.k * p.width) { return; }
  let r = e / p.width;
  let c = e % p.width;
  let id = ids[r];
  if (id < 0 || u32(id) >= p.n) {
    ${checked ? `atomicOr(&err, 1u << ${bit}u);` : ''}
    out[e] = ${el}(0);
    return;
  }
  if (u32(id) < p.base || u32(id) - p.base >= p.count) { return; }
  out[e] = x[(u32(id) - p.base) * p.width + c];
}`);
}

/**
 * Rows of x picked by `rows`: out[r] = x[rows[r]]. x: [n, width]; rows: i32 tensor or Int32Array
 * of k ids. Returns [k, width]. Host ids are checked here; ids in a GPU tensor that are out of
 * range give zero rows and an IndexError at the next read-back. An x larger than one binding
 * (maxStorageBufferBindingSize, or `maxBindingBytes`) is read one slice of rows per dispatch.
 */
export function gatherRows(x: Tensor, rows: Tensor | Int32Array, options: { maxBindingBytes?: number } = {}): Tensor {
  const op = 'gatherRows';
  const device = checkLive(op, x);
  checkRank(op, 'x', x, 2);
  const [n, width] = x.shape;
  const maxBinding = options.maxBindingBytes ?? device.limits.maxStorageBufferBindingSize;
  if (!(maxBinding > 0)) throw new OptionError(`${op}: maxBindingBytes must be > 0, got ${maxBinding}`);
  const rb = width * dtypeBytes(x.dtype);
  const chunks = rowChunks(op, x, rb, n, maxBinding);
  let ids: Tensor;
  let owned = false;
  if (rows instanceof Int32Array) {
    const bad = rows.findIndex((r) => r < 0 || r >= n);
    if (bad >= 0) throw new IndexError(`${op}: row id rows[${bad}] = ${rows[bad]} is outside x ${formatShape(x.shape)}`);
    ids = device.tensor(rows, [rows.length], 'i32');
    owned = true;
  } else {
    checkLive(op, x, rows);
    checkDType(op, 'rows', rows, 'i32');
    if (rows.rank !== 1) throw new ShapeError(`${op}: rows ${rows.describe()} must be a vector of row ids`);
    ids = rows;
  }
  const k = ids.size;
  const out = device.empty([k, width], x.dtype); // [k, width]
  if (k * width > 0) {
    const wg = grid(device, Math.ceil((k * width) / WG));
    const flag = owned ? null : device.indexErrorFlag(op);
    for (const [base, count] of chunks) {
      const xs = base === 0 && count === n ? x.buffer : { buffer: x.buffer, offset: base * rb, size: count * rb };
      const uniforms = params(k, n, width, base, count);
      if (flag) device.dispatch(gatherKernel(x.dtype, true)(flag.bit), [xs, ids.buffer, out.buffer, flag.buffer], uniforms, wg);
      else device.dispatch(gatherKernel(x.dtype, false)(0), [xs, ids.buffer, out.buffer], uniforms, wg);
    }
  }
  if (owned) ids.dispose();
  return out;
}
