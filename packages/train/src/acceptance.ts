// τ, the mean accepted length per decoding step, of trained heads on held-out prompts: greedy
// speculative decoding (lossless) through @hydra-ts/decode, as `hydra generate` runs it.
import { SpeculativeDecoder } from '@hydra-ts/decode';
import type { DraftHead } from '@hydra-ts/heads';
import type { LlamaModel } from '@hydra-ts/model';
import type { CandidateTree } from '@hydra-ts/tree';

export interface AcceptanceResult {
  tree: string;
  /** Tokens over steps, all prompts pooled. */
  meanAcceptedLength: number;
  /** τ of each prompt. */
  perPrompt: number[];
  tokens: number;
  steps: number;
  /** Generated ids per prompt (for checking against autoregressive decoding). */
  outputs: number[][];
}

export async function measureAcceptance(model: LlamaModel, head: DraftHead, prompts: readonly (string | readonly number[])[], tree: CandidateTree, maxNewTokens = 128): Promise<AcceptanceResult> {
  const decoder = new SpeculativeDecoder(model);
  let tokens = 0;
  let steps = 0;
  const perPrompt: number[] = [];
  const outputs: number[][] = [];
  for (const prompt of prompts) {
    head.reset();
    const r = await decoder.generate({ prompt, maxNewTokens, head, tree });
    const accepted = r.acceptedPerStep.reduce((a, b) => a + b, 0);
    tokens += accepted;
    steps += r.acceptedPerStep.length;
    perPrompt.push(r.meanAcceptedLength);
    outputs.push(r.tokenIds);
  }
  return { tree: tree.name, meanAcceptedLength: steps > 0 ? tokens / steps : 0, perPrompt, tokens, steps, outputs };
}
