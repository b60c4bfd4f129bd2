// llama2.c checkpoint -> Hugging Face directory (config.json + model.safetensors).
import type { LlamaConfig, LlamaWeights } from './config';
import { ConfigError } from './errors';
import type { Llama2cTokenizer } from './llama2c-tokenizer';
import { serializeSafetensors, type SafetensorsInput } from './safetensors';

/**
 * Reorders the rows of a q/k projection [nHeads * headDim, dim] so that 'half' RoPE on the
 * result equals 'interleaved' RoPE on the input: within each head, old rows (2i, 2i+1) — an
 * interleaved pair — become new rows (i, i + headDim/2).
 */
export function permuteInterleavedToHalf(w: Float32Array, nHeads: number, headDim: number, dim: number): Float32Array {
  const out = new Float32Array(w.length); // [nHeads * headDim, dim]
  const half = headDim / 2;
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < half; i++) {
      for (let p = 0; p < 2; p++) {
        const from = (h * headDim + 2 * i + p) * dim;
        const to = (h * headDim + p * half + i) * dim;
        out.set(w.subarray(from, from + dim), to);
      }
    }
  }
  return out;
}

/** The HF config.json object for a config. */
export function hfConfigJson(c: LlamaConfig): Record<string, unknown> {
  const names = { llama: ['LlamaForCausalLM', 'llama'], mistral: ['MistralForCausalLM', 'mistral'], qwen2: ['Qwen2ForCausalLM', 'qwen2'] };
  const [arch, modelType] = names[c.architecture];
  return {
    architectures: [arch],
    model_type: modelType,
    hidden_size: c.dim,
    intermediate_size: c.hiddenDim,
    num_hidden_layers: c.nLayers,
    num_attention_heads: c.nHeads,
    num_key_value_heads: c.nKvHeads,
    head_dim: c.headDim,
    vocab_size: c.vocabSize,
    max_position_embeddings: c.maxSeqLen,
    rope_theta: c.ropeTheta,
    rms_norm_eps: c.normEps,
    hidden_act: 'silu',
    tie_word_embeddings: c.tiedEmbeddings,
    attention_bias: c.qkvBias,
    bos_token_id: c.bosId,
    eos_token_id: c.eosId,
    torch_dtype: 'float32',
  };
}

/**
 * Converts a model to the files of a Hugging Face directory: config.json, model.safetensors and,
 * when a llama2.c tokenizer is given, its file as tokenizer.bin (loadModelFiles reads it from there).
 * Interleaved-RoPE models get their q/k rows permuted so the result runs with 'half' RoPE.
 */
export function convertLlama2cToHf(config: LlamaConfig, weights: LlamaWeights, tokenizer?: Llama2cTokenizer): Map<string, Uint8Array> {
  if (config.architecture === 'qwen2' && !config.qkvBias) throw new ConfigError('qwen2 models always have q/k/v biases');
  const c = config;
  const permute = c.ropeLayout === 'interleaved';
  const qk = (w: Float32Array, heads: number) => (permute ? permuteInterleavedToHalf(w, heads, c.headDim, 1) : w);
  const qkRows = (w: Float32Array, heads: number) => (permute ? permuteInterleavedToHalf(w, heads, c.headDim, c.dim) : w);
  const qDim = c.nHeads * c.headDim;
  const kvDim = c.nKvHeads * c.headDim;
  const t = new Map<string, SafetensorsInput>();
  t.set('model.embed_tokens.weight', { shape: [c.vocabSize, c.dim], data: weights.tokenEmbedding });
  weights.layers.forEach((l, i) => {
    const p = `model.layers.${i}.`;
    t.set(`${p}input_layernorm.weight`, { shape: [c.dim], data: l.attnNorm });
    t.set(`${p}self_attn.q_proj.weight`, { shape: [qDim, c.dim], data: qkRows(l.wq, c.nHeads) });
    t.set(`${p}self_attn.k_proj.weight`, { shape: [kvDim, c.dim], data: qkRows(l.wk, c.nKvHeads) });
    t.set(`${p}self_attn.v_proj.weight`, { shape: [kvDim, c.dim], data: l.wv });
    if (c.qkvBias && l.bq && l.bk && l.bv) {
      // Biases are added before RoPE, so they follow their rows.
      t.set(`${p}self_attn.q_proj.bias`, { shape: [qDim], data: qk(l.bq, c.nHeads) });
      t.set(`${p}self_attn.k_proj.bias`, { shape: [kvDim], data: qk(l.bk, c.nKvHeads) });
      t.set(`${p}self_attn.v_proj.bias`, { shape: [kvDim], data: l.bv });
    }
    t.set(`${p}self_attn.o_proj.weight`, { shape: [c.dim, qDim], data: l.wo });
    t.set(`${p}post_attention_layernorm.weight`, { shape: [c.dim], data: l.ffnNorm });
    t.set(`${p}mlp.gate_proj.weight`, { shape: [c.hiddenDim, c.dim], data: l.w1 });
    t.set(`${p}mlp.down_proj.weight`, { shape: [c.dim, c.hiddenDim], data: l.w2 });
    t.set(`${p}mlp.up_proj.weight`, { shape: [c.hiddenDim, c.dim], data: l.w3 });
  });
  t.set('model.norm.weight', { shape: [c.dim], data: weights.finalNorm });
  if (!c.tiedEmbeddings) t.set('lm_head.weight', { shape: [c.vocabSize, c.dim], data: weights.output });

  const files = new Map<string, Uint8Array>();
  files.set('config.json', new TextEncoder().encode(JSON.stringify(hfConfigJson(c), null, 2) + '\n'));
  files.set('model.safetensors', serializeSafetensors(t, { format: 'pt' }));
  if (tokenizer) files.set('tokenizer.bin', tokenizer.toBytes());
  return files;
}
