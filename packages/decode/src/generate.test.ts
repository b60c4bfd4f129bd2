import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getDevice, OptionError } from '@hydra-ts/tensor';
import { createRng, sampleFromLogits } from '@hydra-ts/verify';
import { fileURLToPath } from 'node:url';
import { convertLlama2cToHf, Llama2cTokenizer, LlamaModel, memoryFileSource, parseLlama2cCheckpoint } from '@hydra-ts/model';
import { ReferenceLlama } from '@hydra-ts/model/testing';
import { generate, GenerationError } from './generate';

const STORIES_DIR = fileURLToPath(new URL('../../../models/stories260K', import.meta.url));

const ckpt = parseLlama2cCheckpoint(readFileSync(`${STORIES_DIR}/stories260K.bin`), 'stories260K.bin');
const tok = Llama2cTokenizer.fromBytes(readFileSync(`${STORIES_DIR}/tok512.bin`), 'tok512.bin', ckpt.config.vocabSize);

let model: LlamaModel;
beforeAll(async () => {
  model = LlamaModel.fromWeights(await getDevice(), ckpt.config, ckpt.weights, tok);
});
afterAll(() => model?.dispose());

describe('generate', () => {
  it("greedy 200 steps from BOS reproduces llama2.c's output byte for byte, streamed and in the result", async () => {
    const expected = readFileSync(`${STORIES_DIR}/expected-greedy-200-steps.txt`);
    // llama2.c's 200 steps = positions 0..199, each emitting one token; BOS stops it.
    const gen = generate(model, { prompt: [tok.bosId], maxNewTokens: 200 });
    let streamed = '';
    for await (const piece of gen) streamed += piece.text;
    const result = await gen.result();
    expect(Buffer.from(result.text, 'utf8').equals(expected)).toBe(true);
    expect(streamed).toBe(result.text);
    expect(result.promptTokens).toBe(1);
    expect(result.steps).toBe(result.tokenIds.length + (result.stopReason === 'eos' ? 1 : 0));
  });

  it('the converted Hugging Face directory (half RoPE, safetensors, tokenizer.json) generates the same text', async () => {
    const hf = await LlamaModel.load(memoryFileSource(convertLlama2cToHf(ckpt.config, ckpt.weights, tok), 'stories260K-hf'), { device: model.device });
    const opts = { prompt: 'Once upon a time', maxNewTokens: 30, stopAtEos: false };
    const a = await generate(model, opts).result();
    const b = await generate(hf, opts).result();
    expect(b.tokenIds).toEqual(a.tokenIds);
    expect(b.text).toBe(a.text);
    expect(a.tokenIds.length).toBe(30);
    hf.dispose();
  });

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
    // A text prompt past the context is rejected from a bound on its token count, before merging.
    const long = 'Lily and Ben went to the park. '.repeat(1000);
    expect(() => generate(model, { prompt: long })).toThrow(GenerationError);
    expect(() => generate(model, { prompt: long })).toThrow(/generate: the prompt has at least \d+ tokens, more than the model's context of 512/);
    expect(() => generate(model, { prompt: [1], temperature: -1 })).toThrow(OptionError);
    expect(() => generate(model, { prompt: [1], topP: 2 })).toThrow(OptionError);
    expect(() => generate(model, { prompt: [1], maxNewTokens: 1.5 })).toThrow(OptionError);
    expect(() => generate(model, { prompt: 0 as unknown as string })).toThrow(/prompt is number; expected a string or an array of token ids/);
    const bare = LlamaModel.fromWeights(model.device, ckpt.config, ckpt.weights);
    expect(() => generate(bare, { prompt: 'text' })).toThrow(/needs a model with a tokenizer/);
    bare.dispose();
  });

  it('a token outside the vocabulary in the prompt surfaces as an OptionError when iterated', async () => {
    await expect(generate(model, { prompt: [1, 100000], maxNewTokens: 1 }).result()).rejects.toThrow(/prompt token 100000 out of range/);
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
