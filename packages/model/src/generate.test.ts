import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getDevice, OptionError } from '@hydra-ts/tensor';
import { createRng, sampleFromLogits } from '@hydra-ts/verify';
import { parseLlama2cCheckpoint } from './llama2c';
import { Llama2cTokenizer } from './llama2c-tokenizer';
import { ReferenceLlama } from './reference';
import { STORIES_DIR } from './testdata';
import { LlamaModel } from './model';
import { generate, GenerationError } from './generate';

const ckpt = parseLlama2cCheckpoint(readFileSync(`${STORIES_DIR}/stories260K.bin`), 'stories260K.bin');
const tok = Llama2cTokenizer.fromBytes(readFileSync(`${STORIES_DIR}/tok512.bin`), 'tok512.bin', ckpt.config.vocabSize);

let model: LlamaModel;
beforeAll(async () => {
  model = LlamaModel.fromWeights(await getDevice(), ckpt.config, ckpt.weights, tok);
});
afterAll(() => model?.dispose());

describe('generate', () => {
  it('samples with the shared verify sampler: the first token is the reference draw with the same seed', async () => {
    const prompt = tok.encode('Lily had a red ball', { bos: true });
    const opts = { temperature: 0.8, topK: 40, topP: 0.95 };
    const ref = new ReferenceLlama(ckpt.config, ckpt.weights);
    let logits = new Float32Array() as Float32Array<ArrayBufferLike>;
    prompt.forEach((t, p) => (logits = ref.forward(t, p)));
    for (const seed of [1, 2, 3]) {
      const want = sampleFromLogits(logits, opts, createRng(seed));
      const got = await generate(model, { prompt, maxNewTokens: 1, seed, ...opts, stopAtEos: false }).result();
      expect(got.tokenIds).toEqual([want]);
    }
    // Same seed, same text; the text is what the tokenizer decodes.
    const a = await generate(model, { prompt: 'Lily had a red ball', maxNewTokens: 12, seed: 7, ...opts }).result();
    const b = await generate(model, { prompt: 'Lily had a red ball', maxNewTokens: 12, seed: 7, ...opts }).result();
    expect(b.tokenIds).toEqual(a.tokenIds);
    expect(a.text).toBe(tok.decode([...prompt, ...a.tokenIds]).slice(tok.decode(prompt).length));
    expect(a.promptTokens).toBe(prompt.length);
    expect(a.tokensPerSecond).toBeGreaterThan(0);
  });

  it('stops at maxNewTokens, at the context length and on abort', async () => {
    const few = await generate(model, { prompt: [1], maxNewTokens: 5, stopAtEos: false }).result();
    expect(few.tokenIds.length).toBe(5);
    expect(few.stopReason).toBe('max-tokens');
    expect(few.steps).toBe(5);

    // The same weights with a 40-token context: 37 prompt tokens fill positions 0..36; positions
    // 37..39 remain, so 1 + 3 tokens fit.
    const short = LlamaModel.fromWeights(model.device, { ...ckpt.config, maxSeqLen: 40 }, ckpt.weights, tok);
    const long = Array.from({ length: 37 }, (_, i) => (i === 0 ? 1 : 3 + i));
    const ctx = await generate(short, { prompt: long, maxNewTokens: 10, stopAtEos: false }).result();
    expect(ctx.stopReason).toBe('context');
    expect(ctx.tokenIds.length).toBe(4);
    const full = await generate(short, { prompt: long.concat([5, 6, 7]), maxNewTokens: 10, stopAtEos: false }).result();
    expect(full.tokenIds.length).toBe(1); // prompt of exactly the context: one token from the last position
    short.dispose();

    const controller = new AbortController();
    const gen = generate(model, { prompt: [1], maxNewTokens: 50, stopAtEos: false, signal: controller.signal });
    let n = 0;
    for await (const _ of gen) if (++n === 3) controller.abort();
    const aborted = await gen.result();
    expect(aborted.stopReason).toBe('aborted');
    expect(aborted.tokenIds.length).toBe(3);
  });

  it('bad input: prompt longer than the context, empty prompt, bad options -> typed errors', () => {
    const C = ckpt.config.maxSeqLen;
    expect(() => generate(model, { prompt: new Array(C + 1).fill(1) })).toThrow(GenerationError);
    expect(() => generate(model, { prompt: new Array(C + 1).fill(1) })).toThrow(/more than the model's context of 512/);
    expect(() => generate(model, { prompt: [] })).toThrow(GenerationError);
    expect(() => generate(model, { prompt: [1], temperature: -1 })).toThrow(OptionError);
    expect(() => generate(model, { prompt: [1], topP: 2 })).toThrow(OptionError);
    expect(() => generate(model, { prompt: [1], maxNewTokens: 1.5 })).toThrow(OptionError);
    expect(() => generate(model, { prompt: 0 as unknown as string })).toThrow(/prompt is number; expected a string or an array of token ids/);
    const bare = LlamaModel.fromWeights(model.device, ckpt.config, ckpt.weights);
    expect(() => generate(bare, { prompt: 'text' })).toThrow(/needs a model with a tokenizer/);
    bare.dispose();
  });

  it('a token outside the vocabulary in the prompt surfaces as the model error when iterated', async () => {
    await expect(generate(model, { prompt: [1, 100000], maxNewTokens: 1 }).result()).rejects.toThrow(/outside the vocabulary/);
  });

  it('stops at every id of config.eosIds, and samples with the generation defaults when the caller sets none', async () => {
    const free = await generate(model, { prompt: 'Lily had a red ball', maxNewTokens: 12, stopAtEos: false }).result();
    const third = free.tokenIds[2];
    const firstAt = free.tokenIds.indexOf(third);
    const stopping = LlamaModel.fromWeights(model.device, { ...ckpt.config, eosIds: [ckpt.config.eosId, third] }, ckpt.weights, tok);
    const cut = await generate(stopping, { prompt: 'Lily had a red ball', maxNewTokens: 12 }).result();
    expect(cut.stopReason).toBe('eos');
    expect(cut.tokenIds).toEqual(free.tokenIds.slice(0, firstAt));
    stopping.dispose();

    const opts = { temperature: 0.8, topK: 40, topP: 0.95 };
    const sampled = LlamaModel.fromWeights(model.device, ckpt.config, ckpt.weights, tok, { generationDefaults: { doSample: true, ...opts } });
    const a = await generate(sampled, { prompt: 'Lily had a red ball', maxNewTokens: 8, seed: 5 }).result();
    const b = await generate(model, { prompt: 'Lily had a red ball', maxNewTokens: 8, seed: 5, ...opts }).result();
    expect(a.tokenIds).toEqual(b.tokenIds);
    const greedy = await generate(sampled, { prompt: 'Lily had a red ball', maxNewTokens: 8, temperature: 0 }).result();
    expect(greedy.tokenIds).toEqual(free.tokenIds.slice(0, 8));
    sampled.dispose();
  });
});
