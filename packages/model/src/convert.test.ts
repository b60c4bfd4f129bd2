import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { convertLlama2cToHf, permuteInterleavedToHalf } from './convert';
import { HfTokenizer } from './hf-tokenizer';
import { Llama2cTokenizer } from './llama2c-tokenizer';
import { loadHfCheckpoint } from './hf';
import { loadModelFiles } from './load';
import { ReferenceLlama, argmax, referenceGreedy, rope } from './reference';
import { f16ToF32, f32ToF16 } from './safetensors';
import { memoryFileSource } from './source';
import { STORIES_DIR, randomCheckpoint } from './testdata';

const expected = readFileSync(`${STORIES_DIR}/expected-greedy-200-steps.txt`, 'utf8');

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('permuteInterleavedToHalf', () => {
  it("makes 'half' RoPE of the permuted vector equal the permuted 'interleaved' RoPE (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 0, max: 300 }), fc.integer(), (heads, halfDim, pos, seed) => {
        const headDim = 2 * halfDim;
        const v = randomCheckpoint({}, seed).weights.tokenEmbedding.slice(0, heads * headDim);
        if (v.length < heads * headDim) return;
        const a = v.slice();
        rope(a, heads, headDim, pos, 10000, 'interleaved');
        const b = permuteInterleavedToHalf(v, heads, headDim, 1);
        rope(b, heads, headDim, pos, 10000, 'half');
        expect(maxAbsDiff(permuteInterleavedToHalf(a, heads, headDim, 1), b)).toBeLessThan(1e-6);
      }),
      { numRuns: 100 },
    );
  });

  it('moves rows as HF conversion does: head 0 of headDim 4 takes rows 0,2,1,3', () => {
    const w = Float32Array.from([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7]); // [2 heads * 4, 2]
    expect(Array.from(permuteInterleavedToHalf(w, 2, 4, 2))).toEqual([0, 0, 2, 2, 1, 1, 3, 3, 4, 4, 6, 6, 5, 5, 7, 7]);
  });
});

describe('convertLlama2cToHf', () => {
  it('gives stories260K identical logits (1e-5) with half RoPE and the same greedy text', async () => {
    const orig = await loadModelFiles(`${STORIES_DIR}/stories260K.bin`, { tokenizer: 'tok512.bin' });
    const files = convertLlama2cToHf(orig.config, orig.weights, orig.tokenizer as Llama2cTokenizer);
    expect([...files.keys()].sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.bin', 'tokenizer.json', 'tokenizer_config.json']);
    const hf = await loadModelFiles(memoryFileSource(files, 'converted'));
    expect(hf.format).toBe('hf');
    expect(hf.config).toEqual({ ...orig.config, ropeLayout: 'half', eosIds: [2] });
    expect(hf.weights.output).toBe(hf.weights.tokenEmbedding);
    expect(hf.tokenizer).toBeInstanceOf(HfTokenizer);

    const a = new ReferenceLlama(orig.config, orig.weights);
    const b = new ReferenceLlama(hf.config, hf.weights);
    let token = 1;
    for (let pos = 0; pos < 40; pos++) {
      const la = a.forward(token, pos).slice();
      const lb = b.forward(token, pos);
      expect(maxAbsDiff(la, lb)).toBeLessThan(1e-5);
      token = argmax(la);
    }
    const ids = referenceGreedy(new ReferenceLlama(hf.config, hf.weights), [hf.tokenizer.bosId], 200);
    expect(hf.tokenizer.decode([hf.tokenizer.bosId, ...ids])).toBe(expected);
    expect(orig.tokenizer.decode([1, ...ids])).toBe(expected);
  });

  it.each([
    ['llama with q/k/v bias, GQA 3:1, untied, theta 5e5', { architecture: 'llama' as const }],
    ['qwen2, MHA 2:2, tied', { architecture: 'qwen2' as const, nHeads: 2, nKvHeads: 2, headDim: 4, tiedEmbeddings: true }],
    ['mistral without bias, 4:2, headDim 2', { architecture: 'mistral' as const, qkvBias: false, nHeads: 4, nKvHeads: 2, headDim: 2, nLayers: 1 }],
  ])('round-trips a random model (%s) to identical logits', async (_, over) => {
    const { config, weights } = randomCheckpoint(over, 7);
    const hf = await loadHfCheckpoint(memoryFileSource(convertLlama2cToHf(config, weights)));
    expect(hf.config.ropeLayout).toBe('half');
    const a = new ReferenceLlama(config, weights);
    const b = new ReferenceLlama(hf.config, hf.weights);
    for (let pos = 0; pos < config.maxSeqLen; pos++) {
      const token = (pos * 7 + 3) % config.vocabSize;
      expect(maxAbsDiff(a.forward(token, pos).slice(), b.forward(token, pos))).toBeLessThan(1e-5);
    }
  });

  it('stores F16 weights that load back rounded to float16', async () => {
    const { config, weights } = randomCheckpoint({ qkvBias: false }, 3);
    const hf = await loadHfCheckpoint(memoryFileSource(convertLlama2cToHf(config, weights, undefined, { dtype: 'F16' })));
    const w = weights.layers[1].w2;
    expect(Array.from(hf.weights.layers[1].w2)).toEqual(Array.from(w, (x) => f16ToF32(f32ToF16(x))));
    expect(maxAbsDiff(hf.weights.layers[1].w2, w)).toBeLessThan(1e-3);
  });
});
