// Today's open model families, each from its published config.json (test/fixtures/configs) with
// the widths, layer count, vocabulary and window shrunk and every other field as published: random
// weights under HF names are written to a directory, loaded back through loadHfCheckpoint, and the
// GPU model's logits over a prefill and a few decode steps must match the CPU reference.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { getDevice } from '@hydra-ts/tensor';
import { compareClose } from '@hydra-ts/tensor/testing';
import type { LlamaConfig } from './config';
import { hfTensorsToCheckpoint, loadHfCheckpoint, parseHfConfig } from './hf';
import { randomHfModelFiles, randomHfTensors } from './hf-random';
import { LlamaModel } from './model';
import { argmax, ReferenceLlama } from './reference';
import { WeightError } from './errors';
import { parseSafetensors, serializeSafetensors } from './safetensors';
import { memoryFileSource, nodeFileSource } from './source';

const FIXTURES = fileURLToPath(new URL('../test/fixtures/configs/', import.meta.url));
const device = await getDevice();
const LOGIT_TOL = { atol: 1e-4, rtol: 1e-4 };

/** A published config.json with the sizes that make a model big replaced by small ones. */
function published(file: string, over: Record<string, unknown>): Record<string, unknown> {
  const json = JSON.parse(readFileSync(join(FIXTURES, file), 'utf8')) as Record<string, unknown>;
  return { ...json, intermediate_size: 96, num_hidden_layers: 3, vocab_size: 97, max_position_embeddings: 64, bos_token_id: 1, eos_token_id: 2, ...over };
}

interface Family {
  name: string;
  json: Record<string, unknown>;
  /** What the loader must have read from the fields kept as published. */
  expect: (c: LlamaConfig) => void;
}

const FAMILIES: Family[] = [
  {
    name: 'Llama-3.2-1B (llama3 RoPE scaling, head_dim 32 ≠ 64/4, tied)',
    json: published('Llama-3.2-1B.json', { hidden_size: 64, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 32 }),
    expect: (c) => {
      expect(c.ropeScaling).toEqual({ type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 });
      expect([c.headDim, c.tiedEmbeddings, c.ropeTheta]).toEqual([32, true, 500000]);
    },
  },
  {
    name: 'Llama-3.2-1B untied, linear scaling',
    json: published('Llama-3.2-1B.json', { hidden_size: 64, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, tie_word_embeddings: false, rope_scaling: { rope_type: 'linear', factor: 4 } }),
    expect: (c) => expect([c.tiedEmbeddings, c.ropeScaling]).toEqual([false, { type: 'linear', factor: 4 }]),
  },
  {
    name: 'Llama dynamic (NTK) scaling past original_max_position_embeddings',
    json: published('Llama-3.2-1B.json', { hidden_size: 64, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, rope_scaling: { rope_type: 'dynamic', factor: 4, original_max_position_embeddings: 16 } }),
    expect: (c) => expect(c.ropeScaling).toEqual({ type: 'dynamic', factor: 4, originalMaxPositions: 16 }),
  },
  {
    name: 'SmolLM2-135M',
    json: published('SmolLM2-135M.json', { hidden_size: 48, num_attention_heads: 3, num_key_value_heads: 1 }),
    expect: (c) => expect([c.headDim, c.ropeTheta, c.normEps, c.ropeScaling]).toEqual([16, 100000, 1e-5, undefined]),
  },
  {
    name: 'Qwen2.5-0.5B (q/k/v biases; sliding_window written, use_sliding_window false)',
    json: published('Qwen2.5-0.5B.json', { hidden_size: 64, num_attention_heads: 4, num_key_value_heads: 2 }),
    expect: (c) => expect([c.qkvBias, c.slidingWindow, c.tiedEmbeddings]).toEqual([true, undefined, true]),
  },
  {
    name: 'Qwen3-0.6B (q/k RMSNorm, head_dim 32 ≠ 64/4)',
    json: published('Qwen3-0.6B.json', { hidden_size: 64, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 32 }),
    expect: (c) => expect([c.architecture, c.qkNorm, c.qkvBias, c.headDim]).toEqual(['qwen3', true, false, 32]),
  },
  {
    name: 'Mistral-7B-v0.1 (sliding window, untied)',
    json: published('Mistral-7B-v0.1.json', { hidden_size: 64, num_attention_heads: 4, num_key_value_heads: 2, sliding_window: 5 }),
    expect: (c) => expect([c.slidingWindow, c.layerTypes, c.tiedEmbeddings]).toEqual([5, undefined, false]),
  },
  {
    name: 'gemma-2-2b (GeGLU, sandwich norms, soft-capping, alternating windows)',
    json: published('gemma-2-2b.json', { hidden_size: 64, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 32, sliding_window: 5 }),
    expect: (c) => {
      expect([c.activation, c.sandwichNorms, c.attnSoftcap, c.finalSoftcap, c.tiedEmbeddings]).toEqual(['gelu_tanh', true, 50, 30, true]);
      expect(c.layerTypes).toEqual(['sliding', 'full', 'sliding']);
      expect(c.attnScale).toBe(1 / 16); // query_pre_attn_scalar 256, not head_dim 32
      expect(c.embedScale).toBe(8);
    },
  },
  {
    name: 'gemma-3-1b-it (q/k norms, local RoPE base, pattern of local and global layers)',
    json: published('gemma-3-1b-it.json', { hidden_size: 64, num_attention_heads: 4, num_key_value_heads: 1, head_dim: 32, sliding_window: 5, sliding_window_pattern: 3 }),
    expect: (c) => {
      expect([c.qkNorm, c.ropeTheta, c.ropeLocalTheta, c.attnSoftcap, c.finalSoftcap]).toEqual([true, 1e6, 10000, undefined, undefined]);
      expect(c.layerTypes).toEqual(['sliding', 'sliding', 'full']);
    },
  },
  {
    name: 'gemma-3 with layer_types and linear scaling on its global layers',
    json: published('gemma-3-1b-it.json', { hidden_size: 64, num_attention_heads: 4, num_key_value_heads: 1, head_dim: 32, sliding_window: 4, rope_scaling: { rope_type: 'linear', factor: 8 }, layer_types: ['full_attention', 'sliding_attention', 'full_attention'] }),
    expect: (c) => expect([c.layerTypes, c.ropeScaling]).toEqual([['full', 'sliding', 'full'], { type: 'linear', factor: 8 }]),
  },
];

/** Writes the family's HF directory and returns its path. */
function writeDir(f: Family, seed: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'hydra-family-'));
  for (const [name, bytes] of randomHfModelFiles(f.json, parseHfConfig(f.json), seed, 0.15)) writeFileSync(join(dir, name), bytes);
  return dir;
}

describe('open model families load from config.json + safetensors and match the CPU reference', () => {
  FAMILIES.forEach((f, n) => {
    it(f.name, async () => {
      const dir = writeDir(f, 10 + n);
      const { config, weights } = await loadHfCheckpoint(nodeFileSource(dir));
      f.expect(config);
      if (config.architecture.startsWith('gemma')) {
        // The file's w becomes 1 + w: Gemma's norm scales by (1 + w).
        const file = parseSafetensors(readFileSync(join(dir, 'model.safetensors'))).tensors;
        const w = file.get('model.layers.1.pre_feedforward_layernorm.weight')!.data as Float32Array;
        expect(Array.from(weights.layers[1].ffnNorm)).toEqual(Array.from(w, (v) => Math.fround(1 + v)));
      }
      const model = LlamaModel.fromWeights(device, config, weights, undefined, { format: 'hf' });
      const ref = new ReferenceLlama(config, weights);
      const cache = model.createCache();
      // 9 prompt tokens and 7 steps: past every window of these configs.
      const prompt = [1, 5, 17, 42, 3, 88, 60, 23, 9];
      const pre = model.forward(cache, { tokens: prompt, logits: 'all' });
      cache.commit();
      const all = await pre.logits!.read();
      pre.hidden.dispose();
      pre.logits!.dispose();
      let next = 0;
      prompt.forEach((t, p) => {
        const want = ref.forward(t, p);
        const r = compareClose(all.subarray(p * config.vocabSize, (p + 1) * config.vocabSize), want, { ...LOGIT_TOL, what: `${f.name}: prefill logits at ${p}` });
        expect(r.ok, r.message).toBe(true);
        next = argmax(want);
      });
      const spread = Math.max(...all) - Math.min(...all);
      expect(spread).toBeGreaterThan(0.5); // the logits say something: a comparison of constants would prove nothing
      for (let p = prompt.length; p < prompt.length + 7; p++) {
        const out = model.forward(cache, { tokens: [next], logits: 'all' });
        cache.commit();
        const got = await out.logits!.read();
        out.hidden.dispose();
        out.logits!.dispose();
        const want = ref.forward(next, p);
        const r = compareClose(got, want, { ...LOGIT_TOL, what: `${f.name}: decode logits at ${p}` });
        expect(r.ok, r.message).toBe(true);
        expect(argmax(got as Float32Array)).toBe(argmax(want));
        next = argmax(want);
      }
      cache.dispose();
      model.dispose();
    });
  });
});

describe('weights that disagree with config.json are a WeightError naming the tensor', () => {
  const json = published('Qwen3-0.6B.json', { hidden_size: 32, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, num_hidden_layers: 2 });
  const config = parseHfConfig(json);
  const files = randomHfModelFiles(json, config, 3);
  const tensors = parseSafetensors(files.get('model.safetensors')!).tensors;
  /** The directory with config.json replaced or tensors edited. */
  const dir = (over: Record<string, unknown>, edit: (t: Map<string, { shape: number[]; data: Float32Array }>) => void = () => {}) => {
    const t = new Map([...tensors].map(([k, v]) => [k, { shape: v.shape, data: v.data as Float32Array }]));
    edit(t);
    return memoryFileSource({ 'config.json': new TextEncoder().encode(JSON.stringify({ ...json, ...over })), 'model.safetensors': serializeSafetensors(t) }, 'd');
  };
  it('a layer past num_hidden_layers, or one missing', async () => {
    await expect(loadHfCheckpoint(dir({ num_hidden_layers: 1 }))).rejects.toThrow(WeightError);
    await expect(loadHfCheckpoint(dir({ num_hidden_layers: 1 }))).rejects.toThrow(/tensor model\.layers\.1\.[\w.]+ belongs to layer 1, but config\.json has num_hidden_layers = 1/);
    await expect(loadHfCheckpoint(dir({ num_hidden_layers: 3 }))).rejects.toThrow(/no tensors of layer 2 \(model\.layers\.2\.\*\), but config\.json has num_hidden_layers = 3/);
  });
  it('head_dim that disagrees with q_proj, and a missing q_norm', async () => {
    await expect(loadHfCheckpoint(dir({ head_dim: 8 }))).rejects.toThrow(/q_proj\.weight has shape \[64, 32\], expected \[32, 32\] \(num_attention_heads 4 · head_dim 8 = 32 rows\)/);
    await expect(loadHfCheckpoint(dir({}, (t) => t.delete('model.layers.1.self_attn.k_norm.weight')))).rejects.toThrow(/tensor model\.layers\.1\.self_attn\.k_norm\.weight is missing, expected shape \[16\]/);
  });
});

describe('Gemma3ForConditionalGeneration', () => {
  it('(gemma-3-4b-it) loads as the Gemma3ForCausalLM inside it, under either tensor prefix', async () => {
    const outer = JSON.parse(readFileSync(join(FIXTURES, 'gemma-3-4b-it.json'), 'utf8')) as Record<string, unknown>;
    const text = { ...(outer.text_config as object), hidden_size: 64, intermediate_size: 96, num_hidden_layers: 3, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 32, vocab_size: 128, sliding_window: 5, max_position_embeddings: 64 };
    const json = { ...outer, text_config: text };
    const config = parseHfConfig(json);
    // Gemma3TextConfig's defaults fill what text_config leaves out.
    expect([config.architecture, config.nHeads, config.ropeTheta, config.ropeLocalTheta, config.attnScale, config.tiedEmbeddings, config.eosId]).toEqual(['gemma3', 4, 1e6, 10000, 1 / 16, true, 1]);
    expect(config.ropeScaling).toEqual({ type: 'linear', factor: 8 });
    expect(config.layerTypes).toEqual(['sliding', 'sliding', 'sliding']); // pattern 6: the 6th layer is the first global one
    const t = randomHfTensors(config, 5);
    const want = hfTensorsToCheckpoint(config, parseSafetensors(serializeSafetensors(t)).tensors);
    for (const [from, to] of [['model.', 'language_model.model.'], ['model.', 'model.language_model.']]) {
      const renamed = new Map([...t].map(([k, v]) => [k.startsWith(from) ? to + k.slice(from.length) : k, v]));
      renamed.set('vision_tower.vision_model.post_layernorm.weight', { shape: [4], data: new Float32Array(4) });
      const files = { 'config.json': new TextEncoder().encode(JSON.stringify(json)), 'model.safetensors': serializeSafetensors(renamed) };
      expect(await loadHfCheckpoint(memoryFileSource(files))).toEqual(want);
    }
    expect(() => parseHfConfig({ ...outer, text_config: undefined })).toThrow(/text_config = undefined, expected an object/);
  });
});
