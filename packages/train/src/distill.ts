// Self-distillation data: the frozen base model writes the corpus its heads are trained on, so
// the heads learn the base model's own distribution rather than some other text's.
import type { LlamaModel } from '@hydra-ts/model';
import { generate } from '@hydra-ts/decode';
import { OptionError } from '@hydra-ts/tensor';
import type { TokenCorpus } from './data';

export interface DistillOptions {
  sequences: number;
  /** Tokens per sequence, prompt included (fewer when the model stops at EOS). */
  length: number;
  /** Sampling temperature; 0 = greedy (only useful with varied prompts). */
  temperature: number;
  /**
   * Sample only the first `sampledTokens` new tokens at `temperature`, then continue greedily. Greedy
   * decoding visits the base model's greedy continuations, which sampled text rarely follows for
   * long; a sampled start keeps the sequences varied. Default: every token sampled.
   */
  sampledTokens?: number;
  /** Sequence i samples with seed + i. */
  seed?: number;
  /** Prompts as token ids (BOS first), used in turn; default [BOS] alone. */
  prompts?: readonly (readonly number[])[];
  /** Sequences sampled at once (their GPU work interleaves). Default 8. */
  concurrency?: number;
  onSequence?: (done: number, tokens: number) => void;
}

/** Samples a corpus from the base model; sequence i starts with prompts[i mod prompts.length]. */
export async function distillCorpus(model: LlamaModel, o: DistillOptions): Promise<TokenCorpus> {
  const c = model.config;
  if (!Number.isInteger(o.sequences) || o.sequences < 1) throw new OptionError(`distill: sequences = ${o.sequences}, expected an integer >= 1`);
  if (!Number.isInteger(o.length) || o.length < 2 || o.length > c.maxSeqLen) {
    throw new OptionError(`distill: length = ${o.length}, expected an integer in [2, ${c.maxSeqLen}] (the model's context)`);
  }
  if (!(o.temperature >= 0) || !Number.isFinite(o.temperature)) throw new OptionError(`distill: temperature = ${o.temperature}, expected a number >= 0`);
  const sampled = o.sampledTokens ?? Infinity;
  if (!(sampled >= 0) || (sampled !== Infinity && !Number.isInteger(sampled))) throw new OptionError(`distill: sampledTokens = ${sampled}, expected an integer >= 0`);
  const seed = o.seed ?? 0;
  const prompts = o.prompts && o.prompts.length > 0 ? o.prompts : [[c.bosId]];
  prompts.forEach((p, i) => {
    if (p.length === 0 || p.length >= o.length) throw new OptionError(`distill: prompt ${i} has ${p.length} tokens, expected 1..${o.length - 1} (below --length)`);
  });
  const concurrency = o.concurrency ?? 8;
  const out: Int32Array[] = new Array(o.sequences);
  let next = 0;
  let done = 0;
  let tokens = 0;
  const worker = async () => {
    while (next < o.sequences) {
      const i = next++;
      const prompt = prompts[i % prompts.length];
      const total = o.length - prompt.length;
      const first = Math.min(sampled, total);
      const r = await generate(model, { prompt, maxNewTokens: first, temperature: o.temperature, seed: seed + i }).result();
      const seq = [...prompt, ...r.tokenIds];
      if (first < total && r.stopReason === 'max-tokens') {
        const rest = await generate(model, { prompt: seq, maxNewTokens: total - first, temperature: 0 }).result();
        seq.push(...rest.tokenIds);
      }
      out[i] = Int32Array.from(seq);
      tokens += out[i].length;
      o.onSequence?.(++done, tokens);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, o.sequences) }, worker));
  return { vocabSize: c.vocabSize, sequences: out };
}
