// Self-distillation on the bundled model: sequences start with their prompt and stay within the
// length; with sampledTokens, every token after the sampled start is the base model's greedy
// choice (checked against one full-sequence forward, not the incremental decoding that wrote it),
// while the sampled starts differ; bad options -> typed errors.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LlamaModel } from '@hydra-ts/model';
import { OptionError } from '@hydra-ts/tensor';
import { distillCorpus } from './distill';

const MODELS = fileURLToPath(new URL('../../../models/stories260K/', import.meta.url));
const model = await LlamaModel.load(path.join(MODELS, 'stories260K.bin'), { tokenizer: 'tok512.bin' });

/** For each position j ≥ from, whether seq[j] is the argmax of the logits one full forward gives at j − 1. */
async function greedyFrom(seq: Int32Array, from: number): Promise<boolean[]> {
  const cache = model.createCache(seq.length);
  const out = model.forward(cache, { tokens: [...seq], logits: 'all' });
  const logits = await out.logits!.read();
  out.hidden.dispose();
  out.logits!.dispose();
  cache.dispose();
  const V = model.config.vocabSize;
  const res: boolean[] = [];
  for (let j = from; j < seq.length; j++) {
    const row = logits.subarray((j - 1) * V, j * V);
    let best = 0;
    for (let v = 1; v < V; v++) if (row[v] > row[best]) best = v;
    res.push(seq[j] === best);
  }
  return res;
}

describe('distillCorpus', () => {
  it('continues greedily after sampledTokens sampled tokens, with varied starts', async () => {
    const prompt = [model.config.bosId, ...model.tokenizer!.encode('Once upon a time', { bos: false })];
    const corpus = await distillCorpus(model, { sequences: 4, length: 40, temperature: 1, sampledTokens: 6, seed: 3, prompts: [prompt] });
    expect(corpus.sequences).toHaveLength(4);
    const starts = new Set<string>();
    for (const seq of corpus.sequences) {
      expect(seq.length).toBeLessThanOrEqual(40);
      expect([...seq.subarray(0, prompt.length)]).toEqual(prompt);
      starts.add(seq.subarray(prompt.length, prompt.length + 6).join());
      if (seq.length > prompt.length + 6) {
        const greedy = await greedyFrom(seq, prompt.length + 6);
        expect(greedy.every(Boolean)).toBe(true);
      }
    }
    expect(starts.size).toBeGreaterThan(1);
  }, 60_000);

  it('samples every token by default (a temperature-1 sequence is not the greedy one)', async () => {
    const corpus = await distillCorpus(model, { sequences: 3, length: 40, temperature: 1, seed: 3 });
    const greedy = await Promise.all(corpus.sequences.map((s) => greedyFrom(s, 1)));
    expect(greedy.some((g) => !g.every(Boolean))).toBe(true);
  }, 60_000);

  it('rejects bad options with a typed error naming the option', async () => {
    await expect(distillCorpus(model, { sequences: 1, length: 8, temperature: 1, sampledTokens: -1 })).rejects.toThrow(OptionError);
    await expect(distillCorpus(model, { sequences: 1, length: 8, temperature: 1, sampledTokens: 1.5 })).rejects.toThrow(/sampledTokens = 1.5/);
    await expect(distillCorpus(model, { sequences: 0, length: 8, temperature: 1 })).rejects.toThrow(/sequences = 0/);
    await expect(distillCorpus(model, { sequences: 1, length: 8, temperature: -1 })).rejects.toThrow(/temperature = -1/);
  });
});
