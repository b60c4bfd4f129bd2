// LlamaModel with int8 and 4-bit weights (dtypes 'q8', 'q4') against the CPU reference run the
// same way, and the property speculative decoding needs from it: a row's logits do not depend on
// how many rows a forward pass carries.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DTypeError, getDevice, Q4Matrix, Q8Matrix, type Tensor } from '@hydra-ts/tensor';
import { compareClose } from '@hydra-ts/tensor/testing';
import { LlamaModel } from './model';
import { ReferenceLlama } from './reference';
import { randomCheckpoint } from './random-weights';
import { parseLlama2cCheckpoint } from './llama2c';
import { greedyTokens, STORIES_DIR } from './testdata';
import { Llama2cTokenizer } from './llama2c-tokenizer';
import type { LlamaConfig } from './config';

const device = await getDevice();
const it8 = device.hasPacked4x8 ? it : it.skip;

const config: LlamaConfig = {
  architecture: 'qwen2',
  dim: 64,
  hiddenDim: 160,
  nLayers: 2,
  nHeads: 4,
  nKvHeads: 2,
  headDim: 16,
  vocabSize: 300,
  maxSeqLen: 48,
  ropeTheta: 10000,
  ropeLayout: 'interleaved',
  normEps: 1e-5,
  tiedEmbeddings: false,
  qkvBias: true,
  bosId: 1,
  eosId: 2,
};
const { weights } = randomCheckpoint(config, 5, 0.05); // about a trained model's scale: logits within ±2
const tokens = [1, 200, 3, 299, 17, 0, 99, 5, 140, 33, 12, 7, 250, 64, 128, 1, 2, 45, 77, 3];

async function readAndDispose(t: Tensor | null): Promise<Float32Array> {
  const data = (await t!.read()) as Float32Array;
  t!.dispose();
  return data;
}

const DTYPES = [
  // worst logit error against f32 as a share of the logits' range (measured 2.1 % for q8 and 27 % for q4 on
  // these random weights, whose groups are as spread as groups get),
  // and how much of llama2.c's greedy stories260K story survives (measured 121 and 27 tokens)
  { dtype: 'q8', Matrix: Q8Matrix, vsF32: 0.05, story: 100 },
  { dtype: 'q4', Matrix: Q4Matrix, vsF32: 0.4, story: 20 },
] as const;

for (const { dtype, Matrix, vsF32, story } of DTYPES) {
describe(`LlamaModel with dtype '${dtype}'`, () => {
  it8('matches the reference run with the same weights and int8 inputs, in prefill and in decode', async () => {
    const m = LlamaModel.fromWeights(device, config, weights, undefined, { dtype, format: 'hf' });
    expect(m.layers[0].wqkv).toBeInstanceOf(Matrix);
    expect(m.tokenEmbedding.dtype).toBe('f32');
    const quantized = new ReferenceLlama(config, weights, { weights: dtype });
    const f32 = new ReferenceLlama(config, weights);
    const want = tokens.map((t, p) => Float32Array.from(quantized.forward(t, p)));
    const exact = tokens.map((t, p) => Float32Array.from(f32.forward(t, p)));
    const V = config.vocabSize;
    const cache = m.createCache();
    const pre = m.forward(cache, { tokens: tokens.slice(0, 12), logits: 'all' });
    cache.commit();
    pre.hidden.dispose();
    const got = await readAndDispose(pre.logits);
    const rows: Float32Array[] = [];
    for (let p = 0; p < 12; p++) rows.push(got.slice(p * V, (p + 1) * V));
    for (let p = 12; p < tokens.length; p++) {
      const out = m.forward(cache, { tokens: [tokens[p]], logits: 'last' });
      cache.commit();
      out.hidden.dispose();
      rows.push(await readAndDispose(out.logits));
    }
    for (let p = 0; p < tokens.length; p++) {
      // Same integers on both sides but for an input that rounds the other way now and then.
      const r = compareClose(rows[p], want[p], { atol: 2e-3, rtol: 1e-3, what: `${dtype} logits at ${p}` });
      expect(r.ok, r.message).toBe(true);
      // And stays near full precision, within vsF32 of the logits' range.
      let range = 0;
      let worst = 0;
      for (let i = 0; i < V; i++) {
        range = Math.max(range, Math.abs(exact[p][i]));
        worst = Math.max(worst, Math.abs(rows[p][i] - exact[p][i]));
      }
      expect(worst, `${dtype} against f32 logits at ${p}`).toBeLessThan(vsF32 * range);
    }
    cache.dispose();
    m.dispose();
  });

  it8("gives a row the same logits whatever the number of rows beside it (tree verification relies on it)", async () => {
    const m = LlamaModel.fromWeights(device, config, weights, undefined, { dtype, format: 'hf' });
    const V = config.vocabSize;
    const prompt = tokens.slice(0, 5);
    const next = tokens.slice(5, 13); // 8 rows in one pass, as a chain-shaped tree
    const one = m.createCache();
    one.commit();
    m.forward(one, { tokens: prompt, logits: 'none' }).hidden.dispose();
    one.commit();
    const step: Float32Array[] = [];
    for (const t of next) {
      const out = m.forward(one, { tokens: [t], logits: 'last' });
      one.commit();
      out.hidden.dispose();
      step.push(await readAndDispose(out.logits));
    }
    const many = m.createCache();
    m.forward(many, { tokens: prompt, logits: 'none' }).hidden.dispose();
    many.commit();
    const out = m.forward(many, { tokens: next, logits: 'all' });
    out.hidden.dispose();
    const all = await readAndDispose(out.logits);
    for (let r = 0; r < next.length; r++) expect(Array.from(all.subarray(r * V, (r + 1) * V)), `row ${r}`).toEqual(Array.from(step[r]));
    one.dispose();
    many.dispose();
    m.dispose();
  });

  it8(`keeps llama2.c's greedy stories260K story for its first ${story} tokens (rows padded to whole groups)`, async () => {
    // stories260K's hidden width, 172, is not a whole number of groups of 32: its rows are padded.
    const dir = STORIES_DIR;
    const stories = parseLlama2cCheckpoint(readFileSync(`${dir}/stories260K.bin`), 'stories260K.bin');
    const tok = Llama2cTokenizer.fromBytes(readFileSync(`${dir}/tok512.bin`), 'tok512.bin', stories.config.vocabSize);
    const m = LlamaModel.fromWeights(device, stories.config, stories.weights, tok, { dtype });
    const expected = tok.encode(readFileSync(`${dir}/expected-greedy-200-steps.txt`, 'utf8'), { bos: false });
    // The padded rows against the reference run the same way, over the story's first positions.
    const ref = new ReferenceLlama(stories.config, stories.weights, { weights: dtype });
    const V = stories.config.vocabSize;
    const first = [1, ...expected.slice(0, 7)];
    const cache = m.createCache(first.length);
    const out = m.forward(cache, { tokens: first, logits: 'all' });
    out.hidden.dispose();
    const all = await readAndDispose(out.logits);
    cache.dispose();
    first.forEach((t, p) => {
      const r = compareClose(all.subarray(p * V, (p + 1) * V), ref.forward(t, p), { atol: 2e-3, rtol: 1e-3, what: `stories260K ${dtype} logits at ${p}` });
      expect(r.ok, r.message).toBe(true);
    });
    const got = await greedyTokens(m, [1], 200, [1, 2]);
    let same = 0;
    while (same < got.length && got[same] === expected[same]) same++;
    expect(same).toBeGreaterThanOrEqual(story); // the rounding then picks another word
    m.dispose();
  });

  it('bad input: widths that are not multiples of 4, or an unknown dtype, are typed errors', () => {
    const odd = { ...config, hiddenDim: 162 };
    const { weights: w } = randomCheckpoint(odd, 1, 0.05);
    const make = () => LlamaModel.fromWeights(device, odd, w, undefined, { dtype });
    expect(make).toThrow(DTypeError);
    expect(make).toThrow(device.hasPacked4x8 ? /hiddenDim = 162 is not a multiple of 4/ : /packed_4x8_integer_dot_product/);
    expect(() => LlamaModel.fromWeights(device, config, weights, undefined, { dtype: 'q2' as 'q8' })).toThrow(/dtype q2; expected one of 'f32', 'f16', 'q8', 'q4'/);
  });
});
}
