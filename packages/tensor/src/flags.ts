// The experiment and device-tuning switches of hydra in one place: A/B switches that exist to
// measure one kernel variant or schedule against another, not options a user needs. Library code
// (this package and the ones above it: model, heads, decode) reads them only here; benchmarks and
// tests flip them and set them back. Where a public option already existed (DeviceOptions.flushEvery,
// a head's fusedKernels, GenerateOptions.deviceProposals) it still overrides the flag for its device,
// head or call.
//
// Defaults are the measured winners. Every figure below was measured on llvmpipe (Mesa's software
// Vulkan, the device class this project is tuned on) and no adapter has measured otherwise yet, so
// no flag has a per-adapter default; choices that do depend on the adapter (subgroups, head size,
// row length) are the kernel families' selectors (ops/*/select.ts), not flags.
import { OptionError } from './errors';

export interface TensorFlags {
  /**
   * Column kernels stage a fused prologue (RMSNorm / SwiGLU / GeGLU of x) in workgroup memory once
   * per workgroup where it fits, instead of every lane redoing it in the inner loop.
   */
  stagePrologue: boolean;
  /**
   * A decoder layer fuses its attention and feed-forward RMSNorms into the next linear (the norm
   * recomputed for each of its rows) for at most this many rows and this width; past them a
   * separate rmsnorm runs. Measured on lavapipe (model/bench/norm-fusion-ab.ts): fused is cheaper
   * for few, narrow rows (stories260K 1 row 1.78 vs 1.91 ms), dearer for many or wide ones
   * (16 rows 5.0 vs 4.1 ms; dim 288, 1 row 17.7 vs 14.7 ms). Quantized weights always fuse.
   */
  fuseNormMaxRows: number;
  fuseNormMaxDim: number;
  /**
   * Dispatches a device records before it submits them on its own, so the GPU starts on the first
   * ones while later ones are still being recorded (a read-back or flush() submits earlier). On
   * lavapipe a decode step of stories260K took ~2.1 ms with 8 against ~3.0 ms submitting only at
   * read-backs (model/bench/profile.ts). Infinity submits only at read-backs and flush(); a number
   * below 1 is an OptionError. DeviceOptions.flushEvery / Device.flushEvery override it per device.
   */
  flushEvery: number;
  /**
   * Draft heads (the TopKHeads of @hydra-ts/heads: Medusa, Hydra, Hydra++) run a small head — its
   * blocks, output projection and top-k — as one mlpTopK dispatch where it fits, instead of a
   * dispatch per op. Proposals are the same up to f32 rounding; false runs the separate ops.
   * decode/bench/fused-heads-ab.ts measures both: on lavapipe stories260K's Hydra++ heads took
   * about half the head time a step fused. A head's fusedKernels overrides it per head.
   */
  fusedHeads: boolean;
  /**
   * Decoding lets a head that can (DraftHead.proposeOnDevice) leave its proposal on the GPU, so
   * the verify pass is recorded right behind the drafting with one read-back per step instead of
   * two. The output is the same either way; false reads proposals back first (to time the phases
   * apart). The deviceProposals option of a decoding call overrides it per call.
   */
  deviceProposals: boolean;
}

let flushEvery = 8;

export const flags: TensorFlags = {
  stagePrologue: true,
  fuseNormMaxRows: 4,
  fuseNormMaxDim: 128,
  get flushEvery(): number {
    return flushEvery;
  },
  set flushEvery(v: number) {
    flushEvery = checkFlushEvery('flags.flushEvery', v);
  },
  fusedHeads: true,
  deviceProposals: true,
};

/** `v` if it is a flushEvery (a number ≥ 1, or Infinity); else an OptionError naming `what`. */
export function checkFlushEvery(what: string, v: number): number {
  if (!(typeof v === 'number' && v >= 1)) throw new OptionError(`${what} must be a number ≥ 1 (or Infinity), got ${v}`);
  return v;
}
