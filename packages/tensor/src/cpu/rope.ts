// CPU twin of rope, in f64 straight from the definition: the reference for the GPU op, and for the
// heads' and training's RoPE (rotating by −angle, the gradient, is this at negated positions).

/** x: [rows, dim] with dim = nHeads·headDim; positions: [rows] -> [rows, dim] (f64) */
export function ropeCpu(
  x: ArrayLike<number>,
  positions: ArrayLike<number>,
  rows: number,
  dim: number,
  headDim: number,
  layout: 'interleaved' | 'half',
  theta = 10000,
  /** Angle per position of each pair [headDim/2], in place of theta's. */
  freqs?: ArrayLike<number>,
): Float64Array {
  const out = Float64Array.from(x);
  const half = headDim / 2;
  for (let r = 0; r < rows; r++) {
    for (let h = 0; h < dim / headDim; h++) {
      for (let i = 0; i < half; i++) {
        const angle = positions[r] * (freqs ? freqs[i] : Math.pow(theta, (-2 * i) / headDim));
        const c = Math.cos(angle);
        const s = Math.sin(angle);
        const a = r * dim + h * headDim + (layout === 'interleaved' ? 2 * i : i);
        const b = layout === 'interleaved' ? a + 1 : a + half;
        out[a] = x[a] * c - x[b] * s;
        out[b] = x[a] * s + x[b] * c;
      }
    }
  }
  return out;
}
