// The RoPE frequency table: radians per position of each rotated pair, computed once on the host.
// Both the CPU reference and the GPU model take their table from here (the GPU splits it into
// exact turns, tensor's turnTable), so the two cannot drift apart.
//
//   default  f_i = θ^(−2i/d),  i = 0 .. d/2 − 1
//   linear   f_i / factor                                       (position interpolation)
//   dynamic  θ' = θ·(factor·L/L₀ − (factor − 1))^(d/(d−2)) for L = maxSeqLen > L₀, else θ
//   llama3   λ_i = 2π/f_i;  f_i if λ_i < L₀/high;  f_i/factor if λ_i > L₀/low;
//            else (1 − s)·f_i/factor + s·f_i with s = (L₀/λ_i − low)/(high − low)
//
// 'dynamic' is NTK-aware scaling. transformers recomputes its table from each call's sequence
// length (unscaled up to L₀, then θ' at that length); a cached model cannot re-rotate the keys it
// already stored, so here the table is fixed at the longest sequence the model accepts, L =
// maxSeqLen. It equals transformers' whenever maxSeqLen ≤ L₀ (no scaling) and for a sequence of
// maxSeqLen positions; shorter sequences past L₀ are scaled more than transformers would.
import type { LlamaConfig, RopeScaling } from './config';
import { layerAttention } from './config';

/** f_i for i < headDim/2 (radians per position), scaled as `scaling` says. */
export function ropeFrequencies(headDim: number, theta: number, scaling: RopeScaling | null = null, maxSeqLen = 0): Float64Array {
  const half = headDim / 2;
  let base = theta;
  if (scaling?.type === 'dynamic' && maxSeqLen > scaling.originalMaxPositions) {
    const { factor, originalMaxPositions: L0 } = scaling;
    base = theta * Math.pow((factor * maxSeqLen) / L0 - (factor - 1), headDim / (headDim - 2));
  }
  const f = Float64Array.from({ length: half }, (_, i) => Math.pow(base, (-2 * i) / headDim));
  if (scaling?.type === 'linear') return f.map((v) => v / scaling.factor);
  if (scaling?.type === 'llama3') {
    const { factor, lowFreqFactor: low, highFreqFactor: high, originalMaxPositions: L0 } = scaling;
    return f.map((v) => {
      const wavelen = (2 * Math.PI) / v;
      if (wavelen < L0 / high) return v;
      if (wavelen > L0 / low) return v / factor;
      const s = (L0 / wavelen - low) / (high - low);
      return (1 - s) * (v / factor) + s * v;
    });
  }
  return f;
}

/** Layer l's table: its own base and scaling (Gemma 3's local layers differ from its global ones). */
export function layerRopeFrequencies(c: LlamaConfig, l: number): Float64Array {
  const a = layerAttention(c, l);
  return ropeFrequencies(c.headDim, a.ropeTheta, a.ropeScaling, c.maxSeqLen);
}
