// MLPSpeculator (Wertheimer et al. 2024, "Accelerating Production LLMs with Combined
// Token/Embedding Speculators"; IBM fms-extras): a chain of stages, each drafting one token from
// the state the stage before it left and the token that stage drafted, like a small RNN:
//
//   s_0     = h_t                                   (scaleInput: s_0 = h_t / rms(h_t) / √2)
//   s_{i+1} = GELU(N_i(P_i s_i + c · E_i[x_i]))      x_0 = root, x_i = the token stage i-1 drafted
//   logits_i = H_i s_{i+1}
//   N_i(y)  = y / √(mean(y²) + 1e-6) · w_i + b_i      (fms LayerNormParameterized with use_mean
//                                                    off: an RMS norm with gain and shift)
//   c       = emb_weight / state_weight,  state_weight = 0.5^(0.5/n),
//             emb_weight = √((1 − state_weight²) · inner/2),  n = numHeads (n_predict)
//
// GELU is the exact (erf) one, PyTorch's nn.GELU(). A tree is filled depth by depth as Hydra's
// is: each parent's children take the top-k of the stage run on that parent's own state.
import { concat, gatherRows, linear, rmsnorm, scope, type Tensor } from '@hydra-ts/tensor';
import { gpuHeadOps, speculatorStage } from './blocks';
import type { HeadBase } from './draft-head';
import { SequentialTopKHeads, type Keep, type NextRows } from './sequential-heads';
import type { HeadConfig } from './config';
import { HeadStateError } from './errors';

/** The norm's eps in every engine that runs these speculators (vLLM, TGI, fms). */
export const SPECULATOR_NORM_EPS = 1e-6;

/** c of the equation above: how much more the token embedding weighs than the projected state. */
export function speculatorEmbeddingScale(numHeads: number, innerDim: number): number {
  const stateWeight = 0.5 ** (0.5 / numHeads);
  const embWeight = Math.sqrt((1 - stateWeight * stateWeight) * (innerDim / 2));
  return embWeight / stateWeight;
}

export class MLPSpeculatorHeads extends SequentialTopKHeads {
  /** [dim] filled with 1/√2: rmsnorm with it is scaleInput's s_0 in one dispatch; null without scaleInput. */
  private readonly inputGain: Tensor | null;
  /** c of the header's equation. */
  readonly embeddingScale: number;

  constructor(base: HeadBase, config: HeadConfig, params: Map<string, Tensor>) {
    super(base, config, params, null);
    const sc = config.speculator;
    if (!sc) throw new HeadStateError(`mlp-speculator heads need config.speculator (innerDim, scaleInput)`);
    this.embeddingScale = speculatorEmbeddingScale(config.numHeads, sc.innerDim);
    this.inputGain = sc.scaleInput ? base.device.tensor(new Float32Array(config.dim).fill(Math.SQRT1_2), [config.dim]) : null;
  }

  override dispose(): void {
    this.inputGain?.dispose();
    super.dispose();
  }

  /**
   * Logits of every stage along one path (root, x_1, ..., x_{m-1}): row i is stage i fed x_i
   * after stages 0..i-1 were fed the tokens before it. Returns [m, vocab], owned by the caller.
   * For tests and training parity.
   */
  logits(hT: Tensor, path: Int32Array): Tensor {
    const owned: Tensor[] = [];
    const keep = <T extends Tensor>(t: T): T => (owned.push(t), t);
    try {
      let s = this.inputState(hT);
      if (s !== hT) keep(s);
      const rows: Tensor[] = [];
      for (let i = 0; i < path.length; i++) {
        s = keep(this.stage(i, s, Int32Array.of(path[i]))); // [1, inner]
        rows.push(keep(linear(s, this.head(i)))); // [1, vocab]
      }
      return concat(rows, 0); // [m, vocab]
    } finally {
      for (const t of owned) t.dispose();
    }
  }

  /** Stage 0's output for the root: s_1 = stage_0(s_0, root) [1, inner]. */
  protected firstRows(hT: Tensor, root: number, keep: Keep): Tensor {
    const s0 = this.inputState(hT);
    if (s0 !== hT) keep(s0);
    return keep(this.stage(0, s0, Int32Array.of(root)));
  }

  /** The next stage's states: each parent's state continued with its own token (gathered on the GPU). */
  protected nextRows(s: Tensor, n: NextRows, keep: Keep): Tensor {
    const column = keep(n.ids.reshape([n.ids.size, 1]));
    const next = n.at instanceof Int32Array ? n.at.length : n.at.size;
    const tokens = keep(keep(gatherRows(column, n.at)).reshape([next])); // [next] i32, on the GPU
    const states = keep(gatherRows(s, n.from)); // [next, inner]
    return keep(this.stage(n.depth, states, tokens));
  }

  /** s_0: h_t itself (returned as is, not a copy), or with scaleInput h_t / rms(h_t) / √2 (owned by the caller). */
  private inputState(hT: Tensor): Tensor {
    return this.inputGain ? rmsnorm(hT, this.inputGain, SPECULATOR_NORM_EPS) : hT;
  }

  /** Stage i (blocks.ts's speculatorStage): s [rows, in] and the tokens x_i [rows] -> [rows, inner], owned by the caller. */
  private stage(i: number, s: Tensor, tokens: Tensor | Int32Array): Tensor {
    return scope((track) => speculatorStage(gpuHeadOps(track, (name) => this.param(name)), i, s, tokens, this.embeddingScale, SPECULATOR_NORM_EPS));
  }

  /** Stage i's logits H_i s for state rows s [rows, inner]: [rows, vocab], owned by the caller. */
  protected headLogits(i: number, s: Tensor): Tensor {
    return linear(s, this.head(i));
  }

  /** H_i [vocab, inner] */
  private head(i: number): Tensor {
    return this.param(`speculator.head.${i}.weight`);
  }
}
