// Which kernel runs an attention call, and why: the one place that decides, by adapter, shape
// and dtype.
//
//   dtype  headDim   adapter   kernel      why
//   f32    ≤ 64      any       thread      one invocation per (row, head), q and the accumulators in
//                                          registers, no barriers: 0.4 ms against 16 ms for 64 tree
//                                          rows × 8 heads over 160 keys on llvmpipe
//   f32    65..256   any       workgroup   q too wide for one invocation's registers; one workgroup
//                                          per (row, head), keys in tiles of workgroup memory
//
// The rule was measured on llvmpipe (Mesa's software Vulkan, the device class this project is
// tuned on); hardware GPUs take it too until they are measured. Both kernels take f32 only (q and
// the caches). AttentionOptions.kernel forces one (tests, benchmarks); 'thread' past its head size
// is an OptionError.
import type { Device } from '../../device';
import { OptionError } from '../../errors';
import { THREAD_MAX_HEAD_DIM } from './thread';

export type AttentionKernel = 'thread' | 'workgroup';

export interface AttentionShape {
  /** New rows (1 when decoding, the tree's size when verifying). */
  rows: number;
  headDim: number;
}

export interface AttentionChoice {
  kernel: AttentionKernel;
  /** Why this kernel runs here, in words (for logs, benchmarks and tests). */
  reason: string;
}

/** The kernel for one attention call; throws OptionError for a forced kernel that cannot run. */
export function selectAttention(device: Device, shape: AttentionShape, dtype: 'f32', forced?: AttentionKernel): AttentionChoice {
  const { headDim } = shape;
  if (forced !== undefined) {
    if (forced !== 'thread' && forced !== 'workgroup') {
      throw new OptionError(`attention: option kernel = ${JSON.stringify(forced)}, expected 'thread' or 'workgroup'`);
    }
    if (forced === 'thread' && headDim > THREAD_MAX_HEAD_DIM) {
      throw new OptionError(`attention: kernel 'thread' supports headDim up to ${THREAD_MAX_HEAD_DIM}, got ${headDim}`);
    }
    return { kernel: forced, reason: `forced by option kernel '${forced}'` };
  }
  if (headDim <= THREAD_MAX_HEAD_DIM) {
    return {
      kernel: 'thread',
      reason: `${dtype} headDim ${headDim} ≤ ${THREAD_MAX_HEAD_DIM}: a head fits one invocation's registers, no barriers (rule measured on llvmpipe, applied on ${device.name})`,
    };
  }
  return {
    kernel: 'workgroup',
    reason: `${dtype} headDim ${headDim} > ${THREAD_MAX_HEAD_DIM}: too wide for one invocation, a workgroup per (row, head) shares it (rule measured on llvmpipe, applied on ${device.name})`,
  };
}
