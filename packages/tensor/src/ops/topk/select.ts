// Which kernel runs a top-k, and why: the one place that decides, by adapter, shape and dtype.
//
//   dtype  row length n   adapter   kernel      why
//   f32    ≤ 4096         any       thread      one invocation walks a row, no workgroup memory or
//                                               barriers: small vocabularies (stories260K's 512, the
//                                               draft heads' rows) cost a fraction of k merge rounds
//   f32    > 4096         any       workgroup   256 invocations share a row, then k merge rounds: a
//                                               real vocabulary's row is too long for one invocation
//
// The split was measured on llvmpipe (Mesa's software Vulkan, the device class this project is
// tuned on); hardware GPUs take it too until they are measured. Both kernels read f32 rows.
// TopkOptions.kernel forces one (tests, benchmarks); either runs any n.
import type { Device } from '../../device';
import { OptionError } from '../../errors';
import { THREAD_MAX_N } from './thread';

export type TopkKernel = 'thread' | 'workgroup';

export interface TopkShape {
  rows: number;
  /** Row length (the vocabulary, for logits). */
  n: number;
  k: number;
}

export interface TopkChoice {
  kernel: TopkKernel;
  /** Why this kernel runs here, in words (for logs, benchmarks and tests). */
  reason: string;
}

/** The kernel for one top-k; throws OptionError for an unknown forced kernel. */
export function selectTopk(device: Device, shape: TopkShape, dtype: 'f32', forced?: TopkKernel): TopkChoice {
  const { n } = shape;
  if (forced !== undefined) {
    if (forced !== 'thread' && forced !== 'workgroup') {
      throw new OptionError(`topk: option kernel = ${JSON.stringify(forced)}, expected 'thread' or 'workgroup'`);
    }
    return { kernel: forced, reason: `forced by option kernel '${forced}'` };
  }
  if (n <= THREAD_MAX_N) {
    return {
      kernel: 'thread',
      reason: `${dtype} rows of ${n} ≤ ${THREAD_MAX_N}: one invocation walks a row with no barriers (rule measured on llvmpipe, applied on ${device.name})`,
    };
  }
  return {
    kernel: 'workgroup',
    reason: `${dtype} rows of ${n} > ${THREAD_MAX_N}: a workgroup of 256 shares each row, then k merge rounds (rule measured on llvmpipe, applied on ${device.name})`,
  };
}
