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
  /**
   * A decoder layer fuses its attention and feed-forward RMSNorms into the next linear (the norm
   * recomputed for each of its rows) for at most this many rows and this width; past them a
   * separate rmsnorm runs. Measured on lavapipe (model/bench/norm-fusion-ab.ts): fused is cheaper
   * for few, narrow rows (stories260K 1 row 1.78 vs 1.91 ms), dearer for many or wide ones
   * (16 rows 5.0 vs 4.1 ms; dim 288, 1 row 17.7 vs 14.7 ms). Quantized weights always fuse.
   */
  fuseNormMaxRows: number;
  fuseNormMaxDim: number;
}

export const flags: TensorFlags = {
  stagePrologue: true,
  fuseNormMaxRows: 4,
  fuseNormMaxDim: 128,
};
