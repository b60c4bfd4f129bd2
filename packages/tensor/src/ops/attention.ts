// Attention of new rows over a KV cache: the core of decoding (rows = 1) and of tree verification
// (rows = tree size, with the tree's ancestor mask among the new rows). This file checks the
// operands and options and binds them; attention/select.ts says which kernel runs (by adapter,
// shape and dtype, and why), and each kernel variant lives in its own file under attention/.

import { IndexError, OptionError, ShapeError } from '../errors';
import { checkDType, checkLive, checkRank, shapeMismatch } from '../kernel';
import type { Tensor } from '../tensor';
import { selectAttention, type AttentionKernel } from './attention/select';
import type { AttentionLaunch } from './attention/shared';
import { dispatchThread } from './attention/thread';
import { dispatchWorkgroup, MAX_HEAD_DIM } from './attention/workgroup';

export interface AttentionOptions {
  /** Cache rows [0, cachedLen) are committed; the new rows' keys/values sit at cachedLen.. */
  cachedLen: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  /**
   * [rows, rows]: mask[i * rows + j] != 0 lets new row i see new row j. Default: causal (j <= i).
   * A wider mask [rows, W] (rows < W <= cachedLen + rows) covers the last W keys instead: the new
   * rows and the W − rows cache rows just before them (e.g. a draft tree's earlier levels, kept
   * pending), mask[i * W + j] letting row i see key cachedLen + rows − W + j; keys before those
   * are always seen. A row that may see no key at all comes out as zeros.
   */
  mask?: Tensor | Uint8Array | Uint32Array;
  /** Score scale; default 1 / sqrt(headDim). */
  scale?: number;
  /**
   * Sliding window (Mistral, Gemma's local layers): a query at position p sees only keys at
   * positions > p − window. Needs `positions`. Default: no window.
   */
  window?: number;
  /**
   * Positions of the new rows [rows] (i32 tensor or host integers), as RoPE turned them; the
   * committed cache row j holds position j. Only the window reads them.
   */
  positions?: Tensor | Int32Array;
  /** Soft-capping of the scaled scores, s ← cap·tanh(s / cap) (Gemma 2). Default: none. */
  softcap?: number;
  /**
   * 'thread': one invocation per (row, head) with an online softmax in registers — no barriers,
   * the fast choice on CPU-backed adapters for small heads (headDim ≤ 64). 'workgroup': one
   * workgroup per (row, head). Default: attention/select.ts's choice ('thread' when headDim ≤ 64).
   */
  kernel?: AttentionKernel;
}

/**
 * Attention of `q`'s rows over a KV cache whose rows [0, cachedLen + rows) are filled (the new rows'
 * keys/values already written at cachedLen..). Query head h reads kv head floor(h / (nHeads / nKvHeads)).
 * q: [rows, nHeads·headDim] (roped); kCache, vCache: [capacity, nKvHeads·headDim].
 * Returns [rows, nHeads·headDim], owned by the caller.
 */
export function attention(q: Tensor, kCache: Tensor, vCache: Tensor, opts: AttentionOptions): Tensor<'f32'> {
  const op = 'attention';
  const device = checkLive(op, q, kCache, vCache);
  for (const [name, t] of [['q', q], ['kCache', kCache], ['vCache', vCache]] as const) {
    checkDType(op, name, t, 'f32');
    checkRank(op, name, t, 2);
  }
  const { cachedLen, nHeads, nKvHeads, headDim } = opts;
  for (const [name, v, min] of [['cachedLen', cachedLen, 0], ['nHeads', nHeads, 1], ['nKvHeads', nKvHeads, 1], ['headDim', headDim, 1]] as const) {
    if (!Number.isInteger(v) || v < min) throw new OptionError(`${op}: option ${name} = ${v}, expected an integer >= ${min}`);
  }
  if (headDim > MAX_HEAD_DIM) throw new OptionError(`${op}: headDim ${headDim} exceeds the supported ${MAX_HEAD_DIM}`);
  if (nHeads % nKvHeads !== 0) {
    throw new ShapeError(`${op}: nHeads ${nHeads} is not a multiple of nKvHeads ${nKvHeads} (grouped KV heads need whole groups)`);
  }
  const scale = opts.scale ?? 1 / Math.sqrt(headDim);
  if (!Number.isFinite(scale)) throw new OptionError(`${op}: option scale = ${scale}, expected a finite number`);
  const window = opts.window ?? 0;
  if (opts.window !== undefined && !(Number.isInteger(window) && window >= 1 && window <= 0x7fffffff)) {
    throw new OptionError(`${op}: option window = ${window}, expected an integer >= 1`);
  }
  const softcap = opts.softcap ?? 0;
  if (opts.softcap !== undefined && !(Number.isFinite(softcap) && softcap > 0)) throw new OptionError(`${op}: option softcap = ${softcap}, expected a positive number`);
  if (opts.window !== undefined && opts.positions === undefined) throw new OptionError(`${op}: option window needs option positions (the new rows' positions)`);
  const [rows, qW] = q.shape;
  const [capacity, kvW] = kCache.shape;
  if (qW !== nHeads * headDim) throw shapeMismatch(op, `q must be [rows, nHeads·headDim = ${nHeads * headDim}]`, ['q', q]);
  if (kvW !== nKvHeads * headDim) {
    throw shapeMismatch(op, `kCache must be [capacity, nKvHeads·headDim = ${nKvHeads * headDim}]`, ['kCache', kCache]);
  }
  if (vCache.shape[0] !== capacity || vCache.shape[1] !== kvW) {
    throw shapeMismatch(op, 'kCache and vCache must have one shape', ['kCache', kCache], ['vCache', vCache]);
  }
  if (cachedLen + rows > capacity) {
    throw new IndexError(`${op}: cachedLen ${cachedLen} + rows ${rows} exceeds the cache capacity ${capacity} (kCache [${capacity}, ${kvW}])`);
  }
  const { kernel } = selectAttention(device, { rows, headDim }, 'f32', opts.kernel);

  let maskBuffer: GPUBuffer;
  let ownedMask: Tensor | null = null;
  const mask = opts.mask;
  let maskWidth = rows;
  if (mask !== undefined) {
    const entries = ArrayBuffer.isView(mask) ? mask.length : mask.size;
    maskWidth = entries / rows;
    if (!Number.isInteger(maskWidth) || maskWidth < rows || maskWidth > cachedLen + rows) {
      throw new ShapeError(`${op}: mask has ${entries} entries, expected rows·W = ${rows}·W with ${rows} <= W <= cachedLen + rows = ${cachedLen + rows} (q [${rows}, ${qW}]; W = rows: the new rows only)`);
    }
    if (maskWidth > rows && opts.window !== undefined) throw new OptionError(`${op}: a mask wider than the new rows (${maskWidth} > ${rows}) cannot be combined with option window`);
  }
  if (mask === undefined) {
    ownedMask = device.empty([1], 'u32'); // causal: the mask binding is never read
    maskBuffer = ownedMask.buffer;
  } else if (ArrayBuffer.isView(mask)) {
    ownedMask = device.tensor(mask instanceof Uint32Array ? mask : Uint32Array.from(mask), [rows, maskWidth], 'u32');
    maskBuffer = ownedMask.buffer;
  } else {
    checkLive(op, q, mask);
    checkDType(op, 'mask', mask, 'u32', 'i32');
    maskBuffer = mask.buffer;
  }

  let posBuffer = maskBuffer; // any buffer when no window reads it
  let ownedPos: Tensor | null = null;
  const positions = opts.positions;
  if (positions !== undefined) {
    if (positions instanceof Int32Array) {
      if (positions.length !== rows) throw new ShapeError(`${op}: ${positions.length} positions for q [${rows}, ${qW}], expected ${rows}`);
      ownedPos = device.tensor(positions, [rows], 'i32');
      posBuffer = ownedPos.buffer;
    } else {
      checkLive(op, q, positions);
      checkDType(op, 'positions', positions, 'i32');
      if (positions.size !== rows) throw shapeMismatch(op, `positions must be [rows = ${rows}]`, ['positions', positions], ['q', q]);
      posBuffer = positions.buffer;
    }
  }

  const out = device.empty([rows, qW], 'f32'); // [rows, nHeads·headDim]
  const launch: AttentionLaunch = {
    rows, cachedLen, nHeads, nKvHeads, headDim, qW, kvW, scale, causal: mask === undefined, window, softcap, maskStart: cachedLen + rows - maskWidth, maskWidth,
    buffers: [q.buffer, kCache.buffer, vCache.buffer, maskBuffer, posBuffer, out.buffer],
  };
  if (kernel === 'thread') dispatchThread(device, launch);
  else dispatchWorkgroup(device, launch);
  ownedMask?.dispose(); // its buffer returns to the pool only after this dispatch is submitted
  ownedPos?.dispose();
  return out;
}
