// CPU references for RoPE: rotation by +angle (forward, @hydra-ts/tensor's CPU twin) and by −angle
// (its gradient: the same rotation at negated positions).
import { cpu } from '@hydra-ts/tensor';

/** `freqs` [headDim / 2]: each pair's frequency (a scaled RoPE's), instead of theta^(-2i/headDim). */
export const ropeRef = (x: ArrayLike<number>, positions: ArrayLike<number>, dim: number, headDim: number, layout: 'interleaved' | 'half', theta = 10000, freqs?: ArrayLike<number>) =>
  cpu.ropeCpu(x, positions, positions.length, dim, headDim, layout, theta, freqs);

export const ropeBackwardCpu = (dy: ArrayLike<number>, positions: ArrayLike<number>, dim: number, headDim: number, layout: 'interleaved' | 'half', theta = 10000, freqs?: ArrayLike<number>) =>
  cpu.ropeCpu(dy, Array.from(positions, (p) => -p), positions.length, dim, headDim, layout, theta, freqs);
