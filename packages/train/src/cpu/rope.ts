// CPU references for RoPE: rotation by +angle (forward) and by −angle (its gradient).

function rotate(x: ArrayLike<number>, positions: ArrayLike<number>, dim: number, headDim: number, layout: 'interleaved' | 'half', theta: number, sign: 1 | -1, freqs?: ArrayLike<number>): Float64Array {
  const rows = positions.length;
  const out = Float64Array.from(x);
  const half = headDim / 2;
  for (let r = 0; r < rows; r++) {
    for (let h = 0; h < dim / headDim; h++) {
      for (let i = 0; i < half; i++) {
        const angle = sign * positions[r] * (freqs ? freqs[i] : Math.pow(theta, (-2 * i) / headDim));
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

/** `freqs` [headDim / 2]: each pair's frequency (a scaled RoPE's), instead of theta^(-2i/headDim). */
export const ropeRef = (x: ArrayLike<number>, positions: ArrayLike<number>, dim: number, headDim: number, layout: 'interleaved' | 'half', theta = 10000, freqs?: ArrayLike<number>) =>
  rotate(x, positions, dim, headDim, layout, theta, 1, freqs);

export const ropeBackwardCpu = (dy: ArrayLike<number>, positions: ArrayLike<number>, dim: number, headDim: number, layout: 'interleaved' | 'half', theta = 10000, freqs?: ArrayLike<number>) =>
  rotate(dy, positions, dim, headDim, layout, theta, -1, freqs);
