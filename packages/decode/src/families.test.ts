// Greedy speculative decoding on today's open model families (random weights, each family's
// published config.json shrunk, as in the model package's families test): with a random Medusa
// head over several trees the output equals greedy AR token for token, and AR equals the CPU
// reference's greedy tokens; so does a head that knows the continuation. Sliding windows meet tree rows here: a candidate at depth d sits at
// position cachedLen + d and must see exactly the keys its window allows.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { getDevice, randomArray } from '@hydra-ts/tensor';
import { loadHfCheckpoint, LlamaModel, memoryFileSource, parseHfConfig, randomHfModelFiles } from '@hydra-ts/model';
import { argmaxReference as argmax, ReferenceLlama } from '@hydra-ts/model/testing';
import { createEagleHead, createHead } from '@hydra-ts/heads';
import { chain, getTree } from '@hydra-ts/tree';
import { SpeculativeDecoder } from './decoder';
import { OracleHead } from './testing';

const FIXTURES = fileURLToPath(new URL('../../model/test/fixtures/configs/', import.meta.url));
const device = await getDevice();
const N = 20;
const prompt = [1, 7, 30, 11, 64, 5];

const families: Array<[string, string, Record<string, unknown>]> = [
  ['Llama-3.2-1B', 'Llama-3.2-1B.json', { hidden_size: 64, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 32 }],
  ['Qwen3-0.6B', 'Qwen3-0.6B.json', { hidden_size: 64, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 32 }],
  ['Mistral-7B-v0.1', 'Mistral-7B-v0.1.json', { hidden_size: 64, num_attention_heads: 4, num_key_value_heads: 2, sliding_window: 5 }],
  // Gemma untied here: with random weights its √dim-scaled, tied embeddings make every token predict
  // itself, and a sequence of one repeated token would test little (the model test runs them tied).
  ['gemma-2-2b', 'gemma-2-2b.json', { hidden_size: 64, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 32, sliding_window: 5, tie_word_embeddings: false }],
  ['gemma-3-1b-it', 'gemma-3-1b-it.json', { hidden_size: 64, num_attention_heads: 4, num_key_value_heads: 1, head_dim: 32, sliding_window: 5, sliding_window_pattern: 3, tie_word_embeddings: false }],
];

async function familyModel(file: string, over: Record<string, unknown>, seed: number) {
  const published = JSON.parse(readFileSync(FIXTURES + file, 'utf8')) as Record<string, unknown>;
  const json = { ...published, intermediate_size: 96, num_hidden_layers: 3, vocab_size: 97, max_position_embeddings: 128, bos_token_id: 1, eos_token_id: 2, ...over };
  const { config, weights } = await loadHfCheckpoint(memoryFileSource(randomHfModelFiles(json, parseHfConfig(json), seed, 0.15)));
  return { config, weights, model: LlamaModel.fromWeights(device, config, weights, undefined, { format: 'hf' }) };
}

describe('greedy speculative decoding is lossless on each family', () => {
  families.forEach(([name, file, over], n) => {
    it(`${name}: random Medusa and EAGLE heads over chain-4 and cpu-16 give the AR tokens, and AR the reference's`, async () => {
      const { config, weights, model } = await familyModel(file, over, 40 + n);
      const decoder = new SpeculativeDecoder(model);
      const truth = (await decoder.generate({ prompt, maxNewTokens: N, stopAtEos: false })).tokenIds;
      // The CPU reference's greedy continuation, one token at a time.
      const ref = new ReferenceLlama(config, weights);
      const want: number[] = [];
      let logits: Float32Array<ArrayBufferLike> = new Float32Array(0);
      prompt.forEach((t, p) => (logits = ref.forward(t, p)));
      for (let p = prompt.length; want.length < N; p++) {
        want.push(argmax(logits));
        logits = ref.forward(want[want.length - 1], p);
      }
      expect(truth).toEqual(want);
      expect(new Set(truth).size).toBeGreaterThan(2); // not a model that repeats one token

      const head = await createHead(model, { kind: 'medusa', numHeads: 4, seed: 5 });
      let s = 977;
      for (const [, t] of head.parameters()) if (t.dtype === 'f32') t.write(randomArray(t.size, ++s, -0.3, 0.3));
      for (const tree of [chain(4), getTree('cpu-16')]) {
        const r = await decoder.generate({ prompt, maxNewTokens: N, head, tree, stopAtEos: false });
        expect(r.tokenIds, `${name} on ${tree.name}`).toEqual(truth);
      }
      // An EAGLE head: its layer takes the family's layer shape (grouped kv heads, its RoPE layout and base)
      const eagle = await createEagleHead(model, { depth: 4, seed: 6 });
      for (const [k, t] of eagle.parameters()) if (!k.endsWith('norm')) t.write(randomArray(t.size, ++s, -0.3, 0.3));
      for (const tree of [chain(4), getTree('cpu-16')]) {
        const r = await decoder.generate({ prompt, maxNewTokens: N, head: eagle, tree, stopAtEos: false });
        expect(r.tokenIds, `${name}, eagle on ${tree.name}`).toEqual(truth);
      }
      eagle.dispose();
      // A head that knows the continuation, right 70% of the time: long accepted paths through windows.
      const oracle = new OracleHead([...prompt, ...truth], 4, config.vocabSize, { hitRate: 0.7, seed: 3 });
      const r = await decoder.generate({ prompt, maxNewTokens: N, head: oracle, tree: getTree('cpu-16'), stopAtEos: false });
      expect(r.tokenIds, `${name} with an oracle head`).toEqual(truth);
      expect(r.meanAcceptedLength).toBeGreaterThan(1.5);
      head.dispose();
      model.dispose();
    });
  });
});
