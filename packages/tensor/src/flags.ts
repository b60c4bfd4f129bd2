// The experiment switches of the tensor core in one place: A/B switches that exist to measure a
// kernel variant against another, not options a user needs. Library code reads them only here;
// benchmarks and tests flip them (and set them back). Defaults are the measured winners on every
// adapter so far.
export interface TensorFlags {
  /**
   * Column kernels stage a fused prologue (RMSNorm / SwiGLU / GeGLU of x) in workgroup memory once
   * per workgroup where it fits, instead of every lane redoing it in the inner loop.
   */
  stagePrologue: boolean;
}

export const flags: TensorFlags = {
  stagePrologue: true,
};
