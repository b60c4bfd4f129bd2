// concat along rows (axis 0) or columns (last axis), e.g. [r, d] ++ [r, d] -> [r, 2d] for the
// Hydra heads' input. Rows are contiguous blocks and become buffer copies; columns take one kernel
// that reads up to MAX_IN inputs per dispatch (8 storage buffers per kernel, one is the output).

import { DTypeError, OptionError, ShapeError } from '../errors';
import { checkLive, FLAT_WORKGROUP, grid, kernel, params } from '../kernel';
import { dtypeBytes, formatShape, type DType, type Tensor } from '../tensor';
import { rowOrColumnAxis } from './slice';

const WG = 256;
const MAX_IN = 7;

function concatKernel(dtype: DType, n: number) {
  const el = dtype === 'f16' ? 'f16' : 'u32'; // 4-byte dtypes move as raw bits
  const ins = Array.from({ length: n }, (_, k) => k);
  // Input k covers batch columns [o_k, o_{k+1}); the chain of ifs picks it per element.
  const pick = ins
    .map((k) => `${k < n - 1 ? `if (c < o${k + 1}) ` : ''}{ out[r * p.outW + p.colBase + c] = x${k}[r * p.w${k} + c - o${k}]; ${k < n - 1 ? 'return; ' : ''}}`)
    .join('\n  ');
  return kernel(`concat-cols-${el}-${n}`, [...ins.map(() => 'read' as const), 'read_write'], () => `
${el === 'f16' ? 'enable f16;' : ''}
struct Params { rows: u32, outW: u32, colBase: u32, batchW: u32, ${ins.map((k) => `w${k}: u32`).join(', ')} }
@group(0) @binding(0) var<uniform> p: Params;
${ins.map((k) => `@group(1) @binding(${k + 1}) var<storage, read> x${k}: array<${el}>;`).join('\n')}
@group(1) @binding(${n + 1}) var<storage, read_write> out: array<${el}>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = (${FLAT_WORKGROUP}) * ${WG}u + lid;
  if (e >= p.rows * p.batchW) { return; }
  let r = e / p.batchW;
  let c = e % p.batchW;
  let o0 = 0u;
  ${ins.slice(1).map((k) => `let o${k} = o${k - 1} + p.w${k - 1};`).join('\n  ')}
  ${pick}
}`);
}

/** Writes inputs (each viewed as [rows, w_k]) side by side into out [rows, outW] from column 0. */
function concatColumns(out: Tensor, parts: Array<{ buffer: GPUBuffer; w: number }>, rows: number, outW: number): void {
  const device = out.device;
  let colBase = 0;
  for (let b = 0; b < parts.length; b += MAX_IN) {
    const batch = parts.slice(b, b + MAX_IN);
    const batchW = batch.reduce((s, x) => s + x.w, 0);
    const k = concatKernel(out.dtype, batch.length);
    device.dispatch(
      k,
      [...batch.map((x) => x.buffer), out.buffer],
      params(rows, outW, colBase, batchW, ...batch.map((x) => x.w)),
      grid(device, Math.ceil((rows * batchW) / WG)),
    );
    colBase += batchW;
  }
}

/**
 * Joins tensors along axis 0 (rows) or the last axis (columns); every other dimension must agree.
 * Returns a new tensor of the inputs' dtype.
 */
export function concat(tensors: readonly Tensor[], axis: number): Tensor {
  const op = 'concat';
  if (tensors.length === 0) throw new OptionError(`${op}: needs at least one tensor`);
  const device = checkLive(op, ...tensors);
  const first = tensors[0];
  const shapes = tensors.map((t) => formatShape(t.shape)).join(', ');
  for (const t of tensors) {
    if (t.dtype !== first.dtype) throw new DTypeError(`${op}: inputs mix dtypes ${tensors.map((x) => x.dtype).join(', ')}`);
    if (t.rank !== first.rank) throw new ShapeError(`${op}: inputs differ in rank (${shapes})`);
  }
  if (first.rank === 0) throw new OptionError(`${op}: cannot join scalars`);
  const which = rowOrColumnAxis(op, first, axis);
  const a = which === 0 ? 0 : first.rank - 1;
  for (const t of tensors) {
    if (t.shape.some((d, i) => i !== a && d !== first.shape[i])) {
      throw new ShapeError(`${op}: along axis ${axis} every other dimension must agree (${shapes})`);
    }
  }
  const shape = [...first.shape];
  shape[a] = tensors.reduce((s, t) => s + t.shape[a], 0);
  const out = device.empty(shape, first.dtype);
  if (out.size === 0) return out;
  const parts = tensors.filter((t) => t.size > 0);
  const bytes = dtypeBytes(first.dtype);
  if (a === 0) {
    if (parts.every((t) => (t.size * bytes) % 4 === 0)) {
      let offset = 0;
      for (const t of parts) {
        device.copyBuffer(t.buffer, 0, out.buffer, offset, t.size * bytes);
        offset += t.size * bytes;
      }
    } else {
      // f16 blocks of odd length: one row of everything, joined by the column kernel
      concatColumns(out, parts.map((t) => ({ buffer: t.buffer, w: t.size })), 1, out.size);
    }
  } else {
    const rows = out.size / shape[a];
    concatColumns(out, parts.map((t) => ({ buffer: t.buffer, w: t.shape[a] })), rows, shape[a]);
  }
  return out;
}
