// linear: y = x · wᵀ + bias with w stored [out, in] (llama2.c's layout): f32 or f16 weights, or a
// QuantizedMatrix (int8 or 4-bit groups). This file checks the operands and fused options, asks
// linear/select.ts which kernel runs (by adapter, shape and weights; its table says why), and
// records it; each kernel variant lives in its own file under linear/. Weights past
// maxStorageBufferBindingSize are bound as 256-byte-aligned slices of rows, one dispatch a slice.

import { checkDType, checkLive, checkRank, rowChunks, SHARE_LANES, shapeMismatch } from '../kernel';
import type { Binding, Device } from '../device';
import { DisposedError, OptionError, ShapeError } from '../errors';
import { dtypeBytes, formatShape, type Tensor } from '../tensor';
import { add } from './elementwise';
import { silu } from './unary';
import { dispatchColumns } from './linear/columns';
import { dispatchKSplit } from './linear/ksplit';
import { dispatchNaive } from './linear/naive';
import { dispatchQuantized } from './linear/quantized';
import { QuantizedMatrix } from './linear/quantized-matrix';
import { selectLinear, sharesRows } from './linear/select';
import type { ColumnConfig, ColumnFusion } from './linear/shared';
import { DEFAULT_TILE, dispatchTiled, type TileConfig } from './linear/tiled';

export { SHARE_LANES, sharesRows, type ColumnConfig };
export { columnConfig, fitWidth, quantConfig } from './linear/tables';

export interface LinearOptions {
  /**
   * Largest byte range of w bound at once; defaults to the device's maxStorageBufferBindingSize.
   * Lower it to exercise the chunked path on small weights.
   */
  maxBindingBytes?: number;
  /**
   * Kernel: by default the k-split kernel where it fits (one row, f32 weights, no prologue) on
   * devices with subgroups of 16 or more lanes (linear/select.ts says which runs where), else the column kernel.
   * 'columns', 'ksplit' (an OptionError where it does not fit) or the workgroup-memory 'tiled'
   * kernel of matmul choose one (tests, benchmarks).
   */
  path?: 'columns' | 'ksplit' | 'tiled';
  /** Register block of the column kernel; by default chosen from the row count (benchmarks). */
  columns?: ColumnConfig;
  /** Tile shape for the tiled path (benchmarks). */
  tile?: TileConfig;
  /** Added to the result, y = residual + (x·wᵀ + bias): [rows, out] (or [out]) f32, as y. */
  residual?: Tensor;
  /**
   * Applied to x·wᵀ + bias before the residual is added: y = residual + SiLU(x·wᵀ + bias)
   * (Medusa's residual block in one dispatch). Column path only.
   */
  activation?: 'silu';
  /**
   * RMSNorm each row of x first, y = rmsnorm(x, weight, eps)·wᵀ + bias; weight is [in] f32, eps
   * defaults to 1e-5. Saves a dispatch and a pass over x, but on llvmpipe it measured ~10% slower
   * than rmsnorm + linear for one row (the scaled x costs registers in the weight loop).
   */
  normalize?: { weight: Tensor; eps?: number };
  /** x is [rows, 2·in], gate | up: y = (silu(gate) ⊙ up)·wᵀ + bias (the SwiGLU feed-forward's down projection). */
  swiglu?: boolean;
  /**
   * As swiglu with the tanh GELU for SiLU, y = (gelu_tanh(gate) ⊙ up)·wᵀ + bias: Gemma's GeGLU
   * (`gelu_pytorch_tanh`), gelu_tanh(g) = g/2·(1 + tanh(√(2/π)·(g + 0.044715·g³))).
   */
  geglu?: boolean;
}

interface Checked {
  device: Device;
  rows: number;
  k: number;
  n: number;
  outShape: number[];
}

function checkLinear(op: string, x: Tensor, weight: Tensor | QuantizedMatrix, bias: Tensor | undefined, gated?: 'swiglu' | 'geglu'): Checked {
  if (weight instanceof QuantizedMatrix && weight.disposed) throw new DisposedError(`${op}: input ${weight.describe()} was disposed`);
  const w = weight instanceof QuantizedMatrix ? weight.q : weight; // for the checks below: the device and a description
  const device = bias ? checkLive(op, x, w, bias) : checkLive(op, x, w);
  checkRank(op, 'x', x, 1, 2);
  checkDType(op, 'x', x, 'f32');
  if (!(weight instanceof QuantizedMatrix)) {
    checkRank(op, 'w', weight, 2);
    checkDType(op, 'w', weight, 'f32', 'f16');
  }
  const xk = x.shape[x.rank - 1];
  const k = gated ? xk / 2 : xk;
  const rows = x.rank === 2 ? x.shape[0] : 1;
  const [n, kw] = weight.shape;
  const wShape: [string, { shape: readonly number[] }] = ['w', weight];
  if (gated && kw * 2 !== xk) {
    throw shapeMismatch(op, `with ${gated}, x's last dimension ${xk} must be twice w's input dimension ${kw} (gate | up halves; w is [out, in])`, ['x', x], wShape);
  }
  if (kw !== k) throw shapeMismatch(op, `x's last dimension ${k} differs from w's input dimension ${kw} (w is [out, in])`, ['x', x], wShape);
  if (bias) {
    checkDType(op, 'bias', bias, 'f32');
    if (bias.rank !== 1 || bias.shape[0] !== n) throw shapeMismatch(op, `bias must be [${n}] (w's output dimension)`, wShape, ['bias', bias]);
  }
  const outShape = x.rank === 2 ? [rows, n] : [n];
  const limit = device.limits.maxStorageBufferBindingSize;
  if (x.byteLength > limit || rows * n * 4 > limit) {
    throw new ShapeError(`${op}: x ${formatShape(x.shape)} or its output ${formatShape(outShape)} exceeds maxStorageBufferBindingSize (${limit} bytes); split the rows`);
  }
  return { device, rows, k, n, outShape };
}

/**
 * y = x · wᵀ + bias. x is [rows, in] (or [in]) f32, w is [out, in] f32 or f16 (or a
 * QuantizedMatrix, int8 or 4-bit: x is then quantized to int8 groups too), bias is [out]; returns y [rows, out] (or
 * [out]) f32, accumulated in f32.
 */
export function linear(x: Tensor, w: Tensor | QuantizedMatrix, bias?: Tensor, options: LinearOptions = {}): Tensor<'f32'> {
  const op = 'linear';
  const { device, rows, k, n, outShape } = checkLinear(op, x, w, bias, options.swiglu === true ? 'swiglu' : options.geglu === true ? 'geglu' : undefined);
  const maxBinding = options.maxBindingBytes ?? device.limits.maxStorageBufferBindingSize;
  if (!(Number.isInteger(maxBinding) && maxBinding >= 256)) {
    throw new OptionError(`linear: maxBindingBytes ${maxBinding} must be an integer ≥ 256`);
  }
  if (options.path !== undefined && !['columns', 'ksplit', 'tiled'].includes(options.path)) {
    throw new OptionError(`linear: path must be 'columns', 'ksplit' or 'tiled', got ${JSON.stringify(options.path)}`);
  }
  const fuse = checkFusion(x, k, outShape, options.path ?? 'columns', options);
  const columns = options.columns && checkColumns(device, options.columns);
  const weights = w instanceof QuantizedMatrix ? (w.bits === 8 ? 'q8' : 'q4') : w.dtype === 'f16' ? 'f16' : 'f32';
  const request = { prologue: Boolean(fuse.norm || fuse.swiglu || fuse.geglu), path: options.path, columns };
  // Selected once up front, so a forced choice that cannot run fails before any work.
  const choice = selectLinear(device, { rows, n, k }, weights, request);
  if (rows === 0 || n === 0) return device.empty(outShape, 'f32');
  if (k === 0) return biasOnly(device, bias, rows, outShape, fuse, options.residual);
  const out = device.empty(outShape, 'f32'); // [rows, out]
  if (w instanceof QuantizedMatrix) {
    dispatchQuantized(device, x, w, bias, out, rows, n, k, choice.block!, maxBinding, fuse);
    return out;
  }
  const wBytes = dtypeBytes(w.dtype);
  for (const [c0, cn] of rowChunks('linear', w, k * wBytes, n, maxBinding)) {
    const offset = c0 * k * wBytes;
    const size = Math.min(Math.ceil((cn * k * wBytes) / 4) * 4, w.buffer.size - offset);
    const wb: Binding = c0 === 0 && cn === n ? w.buffer : { buffer: w.buffer, offset, size };
    const bb = bias ? bias.buffer : null;
    // A slice's block is fitted to its own width.
    const slice = cn === n ? choice : selectLinear(device, { rows, n: cn, k }, weights, request);
    if (slice.kernel === 'ksplit') {
      dispatchKSplit(device, x.buffer, wb, bb, out.buffer, cn, k, c0, fuse);
    } else if (slice.kernel === 'columns') {
      dispatchColumns(device, w.dtype, x.buffer, wb, bb, out.buffer, rows, cn, k, n, c0, slice.block!, undefined, fuse);
    } else {
      const spec = { transposeA: false, transposeB: true, bDtype: w.dtype, tile: options.tile ?? DEFAULT_TILE };
      dispatchTiled(device, spec, x.buffer, wb, bb, out.buffer, { m: rows, n: cn, k, ldc: n, col0: c0, ldb: k });
    }
  }
  return out;
}

/** linear with an empty input dimension: y[r] = bias (or 0), SiLU'd if asked, plus the residual. */
function biasOnly(device: Device, bias: Tensor | undefined, rows: number, outShape: number[], fuse: ColumnFusion, residual: Tensor | undefined): Tensor<'f32'> {
  let y = bias ? copyRows(device, bias, rows, outShape) : device.zeros(outShape, 'f32');
  if (fuse.silu) {
    const s = silu(y);
    y.dispose();
    y = s;
  }
  if (!residual) return y;
  const sum = add(residual, y);
  y.dispose();
  return sum;
}

/** Validates a register block given to linear (LinearOptions.columns). */
function checkColumns(device: Device, c: ColumnConfig): ColumnConfig {
  const op = 'linear';
  const whole = (v: unknown, max: number) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= max;
  if (!whole(c.wg, device.limits.maxComputeInvocationsPerWorkgroup) || !whole(c.tm, 64) || !whole(c.tc, 16)) {
    throw new OptionError(`${op}: columns ${JSON.stringify(c)} needs whole wg in [1, ${device.limits.maxComputeInvocationsPerWorkgroup}], tm in [1, 64] and tc in [1, 16]`);
  }
  if (c.share) {
    if (!sharesRows(device)) throw new OptionError(`${op}: columns.share needs subgroups of at least ${SHARE_LANES} invocations; ${device.name} has ${device.subgroups ? `subgroups of ${device.subgroups.minSize}-${device.subgroups.maxSize}` : 'no subgroups feature'}`);
    if (c.lanes === 'rows') throw new OptionError(`${op}: columns.share needs lanes 'cols', got lanes 'rows'`);
    if (c.tm > SHARE_LANES && c.tm % SHARE_LANES !== 0) throw new OptionError(`${op}: columns.share needs tm ≤ ${SHARE_LANES} or a multiple of ${SHARE_LANES}, got tm ${c.tm}`);
    if (c.wg % SHARE_LANES !== 0) throw new OptionError(`${op}: columns.share needs wg a multiple of ${SHARE_LANES} (whole groups of loading lanes), got wg ${c.wg}`);
  }
  return c;
}

/** Validates the fused prologue/epilogue options of linear. */
function checkFusion(x: Tensor, k: number, outShape: number[], path: string, o: LinearOptions): ColumnFusion {
  const op = 'linear';
  const { residual, normalize, swiglu, geglu, activation } = o;
  if (swiglu !== undefined && typeof swiglu !== 'boolean') throw new OptionError(`${op}: option swiglu must be a boolean, got ${String(swiglu)}`);
  if (geglu !== undefined && typeof geglu !== 'boolean') throw new OptionError(`${op}: option geglu must be a boolean, got ${String(geglu)}`);
  if (swiglu && geglu) throw new OptionError(`${op}: options swiglu and geglu cannot be combined`);
  if (activation !== undefined && activation !== 'silu') throw new OptionError(`${op}: option activation must be 'silu' or absent, got ${JSON.stringify(activation)}`);
  if (!residual && !normalize && !swiglu && !geglu && !activation) return {};
  if (path === 'tiled') throw new OptionError(`${op}: options residual, normalize, swiglu, geglu and activation need path 'columns' or 'ksplit', got path '${path}'`);
  if (normalize && (swiglu || geglu)) throw new OptionError(`${op}: options normalize and ${swiglu ? 'swiglu' : 'geglu'} cannot be combined`);
  const fuse: ColumnFusion = { swiglu: swiglu === true, geglu: geglu === true, silu: activation === 'silu' };
  if (residual) {
    checkLive(op, x, residual);
    checkDType(op, 'residual', residual, 'f32');
    if (residual.shape.join() !== outShape.join()) throw shapeMismatch(op, `residual must have the output's shape ${formatShape(outShape)}`, ['x', x], ['residual', residual]);
    fuse.residual = residual.buffer;
  }
  if (normalize) {
    const { weight, eps = 1e-5 } = normalize;
    checkLive(op, x, weight);
    checkDType(op, 'normalize.weight', weight, 'f32');
    if (weight.rank !== 1 || weight.shape[0] !== k) throw shapeMismatch(op, `normalize.weight must be [${k}] (x's last dimension)`, ['x', x], ['normalize.weight', weight]);
    if (!Number.isFinite(eps) || eps < 0) throw new OptionError(`${op}: normalize.eps must be a finite number >= 0, got ${eps}`);
    fuse.norm = { weight: weight.buffer, eps };
  }
  return fuse;
}

/** y[r] = bias for every row (linear with an empty input dimension). */
function copyRows(device: Device, bias: Tensor, rows: number, outShape: number[]): Tensor<'f32'> {
  const out = device.empty(outShape, 'f32');
  for (let r = 0; r < rows; r++) device.copyBuffer(bias.buffer, 0, out.buffer, r * bias.byteLength, bias.byteLength);
  return out;
}

/** The one-invocation-per-output baseline linear() is measured against. Same contract as linear. */
export function linearNaive(x: Tensor, w: Tensor, bias?: Tensor): Tensor<'f32'> {
  const op = 'linearNaive';
  const { device, rows, k, n, outShape } = checkLinear(op, x, w, bias);
  const limit = device.limits.maxStorageBufferBindingSize;
  if (w.byteLength > limit) throw new ShapeError(`linearNaive: w ${formatShape(w.shape)} exceeds maxStorageBufferBindingSize (${limit} bytes); use linear`);
  const out = device.empty(outShape, 'f32'); // [rows, out]
  if (rows * n === 0) return out;
  dispatchNaive(device, w.dtype, x.buffer, w.buffer, bias?.buffer ?? null, out.buffer, rows, n, k);
  return out;
}
