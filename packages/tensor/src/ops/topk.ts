// Row-wise top-k (candidate tokens for draft trees), sorted descending, ties to the lower index.
// This file checks the operands; topk/select.ts says which kernel runs (by adapter, shape and
// dtype, and why), and each kernel variant lives in its own file under topk/.

import { OptionError, ShapeError } from '../errors';
import { checkDType, checkLive, checkRank } from '../kernel';
import type { Tensor } from '../tensor';
import { selectTopk, type TopkKernel } from './topk/select';
import { TOPK_MAX_K, type TopkLaunch } from './topk/shared';
import { dispatchThread } from './topk/thread';
import { dispatchWorkgroup } from './topk/workgroup';

export { TOPK_MAX_K };
export { topkInsertWgsl, topkMergeDeclsWgsl, topkMergeWgsl } from './topk/shared';

export interface TopK {
  /** [rows, k], descending along each row. */
  values: Tensor<'f32'>;
  /** [rows, k], the column of each value; ties in value are ordered by lower index. */
  indices: Tensor<'i32'>;
}

export interface TopkOptions {
  /**
   * 'thread': one invocation per row, no barriers. 'workgroup': 256 invocations per row and k
   * merge rounds. Default: topk/select.ts's choice ('thread' for rows of at most 4096). Tests and
   * benchmarks.
   */
  kernel?: TopkKernel;
}

/**
 * The k largest entries of each row of x ([rows, n]) and their indices, sorted descending.
 * 1 <= k <= min(n, 64). Both tensors are new and owned by the caller. NaN entries give
 * unspecified results.
 */
export function topk(x: Tensor, k: number, opts: TopkOptions = {}): TopK {
  const op = 'topk';
  const device = checkLive(op, x);
  checkDType(op, 'x', x, 'f32');
  checkRank(op, 'x', x, 2);
  const [rows, n] = x.shape;
  if (!Number.isInteger(k) || k < 1 || k > TOPK_MAX_K) throw new OptionError(`${op}: k must be an integer in [1, ${TOPK_MAX_K}], got ${k}`);
  if (k > n) throw new ShapeError(`${op}: k = ${k} exceeds the row length of x ${x.describe()}`);
  const { kernel } = selectTopk(device, { rows, n, k }, 'f32', opts.kernel);
  const values = device.empty([rows, k], 'f32'); // [rows, k]
  const indices = device.empty([rows, k], 'i32'); // [rows, k]
  const launch: TopkLaunch = { rows, n, k, buffers: [x.buffer, values.buffer, indices.buffer] };
  if (kernel === 'thread') dispatchThread(device, launch);
  else dispatchWorkgroup(device, launch);
  return { values, indices };
}
