// Test fixtures: paths of the model files the tests use (Node only) and random models of odd shapes.
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import type { LlamaCheckpoint, LlamaConfig, LlamaLayerWeights } from './config';
import { argmax } from '@hydra-ts/tensor';
import type { LlamaModel } from './model';

/** The repository's models/ folder. */
export const MODELS_DIR = fileURLToPath(new URL('../../../models/', import.meta.url));
export const STORIES_DIR = `${MODELS_DIR}stories260K`;
/** The 32000-token Llama 2 tokenizer from the shared reference folder beside the repository; may be absent. */
export const LLAMA2_TOKENIZER_DIR = fileURLToPath(new URL('../../../../shared/models/llama2-tokenizer/', import.meta.url));
export const HAVE_LLAMA2_TOKENIZER = existsSync(`${LLAMA2_TOKENIZER_DIR}tokenizer.bin`);

/**
 * Real Hugging Face tokenizers (tokenizer.json + tokenizer_config.json) shipped by npm dev
 * dependencies and pinned by the lockfile; see fixtures/README.md for their origin and licences.
 */
export const HF_TOKENIZER_FIXTURES = {
  'llama-3': 'tokenizer-llama3',
  'llama-3.1': 'tokenizer-llama3_1',
  'qwen-3': 'tokenizer-qwen3',
  'gemma-3': 'tokenizer-gemma3',
  'llama-2': 'tokenizer-llama2',
} as const;
export type HfTokenizerFixture = keyof typeof HF_TOKENIZER_FIXTURES;
/** The folder holding tokenizer.json and tokenizer_config.json of a fixture. */
export function hfTokenizerDir(name: HfTokenizerFixture): string {
  return fileURLToPath(new URL(`../node_modules/@lenml/${HF_TOKENIZER_FIXTURES[name]}/models/`, import.meta.url));
}

/** Seeded random model of odd shapes, for the paths stories260K does not take (bias, untied, theta). */
export function randomCheckpoint(over: Partial<LlamaConfig>, seed = 1): LlamaCheckpoint {
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 0.6;
  const config: LlamaConfig = {
    architecture: 'llama', dim: 17, hiddenDim: 23, nLayers: 2, nHeads: 3, nKvHeads: 1, headDim: 6, vocabSize: 31,
    maxSeqLen: 16, ropeTheta: 500000, ropeLayout: 'interleaved', normEps: 1e-5, tiedEmbeddings: false, qkvBias: true,
    bosId: 1, eosId: 2, ...over,
  };
  const c = config;
  const arr = (n: number) => Float32Array.from({ length: n }, rand);
  const qDim = c.nHeads * c.headDim;
  const kvDim = c.nKvHeads * c.headDim;
  const layers: LlamaLayerWeights[] = Array.from({ length: c.nLayers }, () => ({
    attnNorm: arr(c.dim).map((x) => 1 + x), wq: arr(qDim * c.dim), wk: arr(kvDim * c.dim), wv: arr(kvDim * c.dim),
    wo: arr(c.dim * qDim), ffnNorm: arr(c.dim).map((x) => 1 + x), w1: arr(c.hiddenDim * c.dim), w2: arr(c.dim * c.hiddenDim),
    w3: arr(c.hiddenDim * c.dim),
    ...(c.qkvBias ? { bq: arr(qDim), bk: arr(kvDim), bv: arr(kvDim) } : {}),
    ...(c.oBias ? { bo: arr(c.dim) } : {}),
    ...(c.qkNorm ? { qNorm: arr(c.headDim).map((x) => 1 + x), kNorm: arr(c.headDim).map((x) => 1 + x) } : {}),
    ...(c.sandwichNorms ? { postAttnNorm: arr(c.dim).map((x) => 1 + x), postFfnNorm: arr(c.dim).map((x) => 1 + x) } : {}),
  }));
  const tokenEmbedding = arr(c.vocabSize * c.dim);
  return { config, weights: { tokenEmbedding, layers, finalNorm: arr(c.dim).map((x) => 1 + x), output: c.tiedEmbeddings ? tokenEmbedding : arr(c.vocabSize * c.dim) } };
}


/**
 * Greedy ids after `prompt`, one forward pass per token, stopping before any of `stopIds`: the
 * model tests' own loop over forward() (generation for users is @hydra-ts/decode's).
 */
export async function greedyTokens(model: LlamaModel, prompt: readonly number[], n: number, stopIds: readonly number[] = []): Promise<number[]> {
  const cache = model.createCache();
  const out: number[] = [];
  try {
    let input = [...prompt];
    while (out.length < n) {
      const { hidden, logits } = model.forward(cache, { tokens: input, logits: 'last' });
      hidden.dispose();
      cache.commit();
      const best = argmax(logits!); // [1]
      logits!.dispose();
      const next = (await best.read())[0];
      best.dispose();
      if (stopIds.includes(next)) break;
      out.push(next);
      input = [next];
    }
  } finally {
    cache.dispose();
  }
  return out;
}
