// Random weights under Hugging Face tensor names, for any config the HF loader reads: the files of
// a model directory (config.json + model.safetensors) that no hub download is needed for. Tests
// write them to disk and load them back through loadHfCheckpoint, so the loader's names, shapes
// and Gemma's (1 + w) norms are exercised as a real checkpoint would.
import { createRng } from '@hydra-ts/verify';
import { validateConfig, type LlamaConfig } from './config';
import { serializeSafetensors, type SafetensorsInput } from './safetensors';

/**
 * HF-named tensors for `c` with seeded uniform values in [−std·√3, std·√3] (standard deviation
 * `std`). Norm weights are 1 + noise, or noise alone for Gemma, whose files store w in (1 + w).
 */
export function randomHfTensors(c: LlamaConfig, seed = 1, std = 0.1): Map<string, SafetensorsInput> {
  validateConfig(c, 'randomHfTensors');
  const rng = createRng(seed);
  const a = std * Math.sqrt(3);
  const rand = (n: number, offset = 0) => Float32Array.from({ length: n }, () => offset + (2 * rng.next() - 1) * a);
  const gemma = c.architecture === 'gemma2' || c.architecture === 'gemma3';
  const normOf = (n: number) => rand(n, gemma ? 0 : 1);
  const qDim = c.nHeads * c.headDim;
  const kvDim = c.nKvHeads * c.headDim;
  const t = new Map<string, SafetensorsInput>();
  const set = (name: string, shape: number[], data: Float32Array) => t.set(name, { shape, data });
  set('model.embed_tokens.weight', [c.vocabSize, c.dim], rand(c.vocabSize * c.dim));
  for (let l = 0; l < c.nLayers; l++) {
    const p = `model.layers.${l}.`;
    set(`${p}input_layernorm.weight`, [c.dim], normOf(c.dim));
    set(`${p}self_attn.q_proj.weight`, [qDim, c.dim], rand(qDim * c.dim));
    set(`${p}self_attn.k_proj.weight`, [kvDim, c.dim], rand(kvDim * c.dim));
    set(`${p}self_attn.v_proj.weight`, [kvDim, c.dim], rand(kvDim * c.dim));
    set(`${p}self_attn.o_proj.weight`, [c.dim, qDim], rand(c.dim * qDim));
    if (c.qkvBias) {
      set(`${p}self_attn.q_proj.bias`, [qDim], rand(qDim));
      set(`${p}self_attn.k_proj.bias`, [kvDim], rand(kvDim));
      set(`${p}self_attn.v_proj.bias`, [kvDim], rand(kvDim));
    }
    if (c.oBias) set(`${p}self_attn.o_proj.bias`, [c.dim], rand(c.dim));
    if (c.qkNorm) {
      set(`${p}self_attn.q_norm.weight`, [c.headDim], normOf(c.headDim));
      set(`${p}self_attn.k_norm.weight`, [c.headDim], normOf(c.headDim));
    }
    set(`${p}post_attention_layernorm.weight`, [c.dim], normOf(c.dim));
    if (c.sandwichNorms) {
      set(`${p}pre_feedforward_layernorm.weight`, [c.dim], normOf(c.dim));
      set(`${p}post_feedforward_layernorm.weight`, [c.dim], normOf(c.dim));
    }
    set(`${p}mlp.gate_proj.weight`, [c.hiddenDim, c.dim], rand(c.hiddenDim * c.dim));
    set(`${p}mlp.up_proj.weight`, [c.hiddenDim, c.dim], rand(c.hiddenDim * c.dim));
    set(`${p}mlp.down_proj.weight`, [c.dim, c.hiddenDim], rand(c.dim * c.hiddenDim));
  }
  set('model.norm.weight', [c.dim], normOf(c.dim));
  if (!c.tiedEmbeddings) set('lm_head.weight', [c.vocabSize, c.dim], rand(c.vocabSize * c.dim));
  return t;
}

/** config.json (as given) and a model.safetensors of randomHfTensors(config): a loadable HF directory. */
export function randomHfModelFiles(configJson: Record<string, unknown>, config: LlamaConfig, seed = 1, std = 0.1): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  files.set('config.json', new TextEncoder().encode(JSON.stringify(configJson, null, 2) + '\n'));
  files.set('model.safetensors', serializeSafetensors(randomHfTensors(config, seed, std), { format: 'pt' }));
  return files;
}
