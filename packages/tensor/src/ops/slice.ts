// slice: a range of rows (axis 0) or of columns (last axis). A row range is contiguous and becomes
// one buffer copy; columns take a strided-copy kernel.

import { IndexError, OptionError } from '../errors';
import { checkLive, FLAT_WORKGROUP, grid, kernel, params } from '../kernel';
import { dtypeBytes, type DType, type Tensor } from '../tensor';

const WG = 256;

const sliceKernel = (dtype: DType) => {
  const el = dtype === 'f16' ? 'f16' : 'u32'; // 4-byte dtypes move as raw bits
  return kernel(`slice-cols-${el}`, ['read', 'read_write'], () => `
${el === 'f16' ? 'enable f16;' : ''}
struct Params { rows: u32, inW: u32, outW: u32, start: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<${el}>;
@group(1) @binding(2) var<storage, read_write> out: array<${el}>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = (${FLAT_WORKGROUP}) * ${WG}u + lid;
  if (e >= p.rows * p.outW) { return; }
  let r = e / p.outW;
  out[e] = x[r * p.inW + p.start + e % p.outW];
}`);
};

/** @internal Normalizes an axis argument that must name the first or the last dimension. */
export function rowOrColumnAxis(op: string, x: Tensor, axis: number): 0 | 'last' {
  const rank = x.rank;
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new OptionError(`${op}: axis ${axis} is not an axis of ${x.describe()}`);
  }
  const a = axis < 0 ? axis + rank : axis;
  if (a === 0) return 0; // also the only axis of a vector: contiguous, so buffer copies
  if (a === rank - 1) return 'last';
  throw new OptionError(`${op}: axis ${axis} of ${x.describe()}: only the first (rows) and last (columns) axes are supported`);
}

/**
 * x's entries with index start <= i < end along `axis` (0 = rows, or the last axis = columns).
 * Returns a new tensor of x's dtype, e.g. [end − start, width] for rows of [n, width].
 */
export function slice(x: Tensor, axis: number, start: number, end: number): Tensor {
  const op = 'slice';
  const device = checkLive(op, x);
  if (x.rank === 0) throw new OptionError(`${op}: cannot slice the scalar ${x.describe()}`);
  const which = rowOrColumnAxis(op, x, axis);
  const a = which === 0 ? 0 : x.rank - 1;
  const dim = x.shape[a];
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start || end > dim) {
    throw new IndexError(`${op}: range ${start}..${end} along axis ${axis} is outside ${x.describe()} (0 <= start <= end <= ${dim})`);
  }
  const shape = [...x.shape];
  shape[a] = end - start;
  const out = device.empty(shape, x.dtype);
  if (out.size === 0) return out;
  const bytes = dtypeBytes(x.dtype);
  const inner = x.size / dim; // elements per index along the axis, when it is axis 0
  let rows: number, inW: number, outW: number, first: number;
  if (which === 0) {
    const offset = start * inner * bytes;
    const length = out.size * bytes;
    if (offset % 4 === 0 && length % 4 === 0) {
      device.copyBuffer(x.buffer, offset, out.buffer, 0, length);
      return out;
    }
    [rows, inW, outW, first] = [1, x.size, out.size, start * inner]; // f16 at an odd offset
  } else {
    [rows, inW, outW, first] = [x.size / dim, dim, end - start, start];
  }
  device.dispatch(sliceKernel(x.dtype), [x.buffer, out.buffer], params(rows, inW, outW, first), grid(device, Math.ceil(out.size / WG)));
  return out;
}
