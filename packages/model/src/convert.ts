// llama2.c checkpoint -> Hugging Face directory (config.json + model.safetensors).
import type { LlamaConfig, LlamaWeights } from './config';
import { ConfigError, TokenizerError } from './errors';
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

/** The inverse of permuteInterleavedToHalf: rows (i, i + headDim/2) of each head become rows (2i, 2i+1). */
export function permuteHalfToInterleaved(w: Float32Array, nHeads: number, headDim: number, dim: number): Float32Array {
  const out = new Float32Array(w.length); // [nHeads * headDim, dim]
  const half = headDim / 2;
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < half; i++) {
      for (let p = 0; p < 2; p++) {
        const from = (h * headDim + p * half + i) * dim;
        const to = (h * headDim + 2 * i + p) * dim;
        out.set(w.subarray(from, from + dim), to);
      }
    }
  }
  return out;
}

/** The HF config.json object for a config. */
export function hfConfigJson(c: LlamaConfig): Record<string, unknown> {
  const names: Partial<Record<LlamaConfig['architecture'], [string, string]>> = { llama: ['LlamaForCausalLM', 'llama'], mistral: ['MistralForCausalLM', 'mistral'], qwen2: ['Qwen2ForCausalLM', 'qwen2'] };
  const entry = names[c.architecture];
  // The converter writes the families a llama2.c checkpoint can become; the others need fields it does not know.
  if (!entry) throw new ConfigError(`hfConfigJson: architecture ${c.architecture} is not written by the converter, expected llama, mistral or qwen2`);
  const [arch, modelType] = entry;
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
    eos_token_id: c.eosIds !== undefined && c.eosIds.length > 1 ? c.eosIds : c.eosId,
    torch_dtype: 'float32',
  };
}

/**
 * The tokenizer.json (SentencePiece-style BPE with byte fallback, as HF writes for Llama) that
 * encodes like a llama2.c tokenizer: merges are every split of a piece into two pieces, ranked by
 * the merged piece's score, which is the order llama2.c's best-score merging takes them in.
 */
export function llama2cTokenizerJson(tok: Llama2cTokenizer): Record<string, unknown> {
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const special = ['<unk>', '<s>', '</s>'];
  const names = tok.pieces.map((p, id) => {
    if (id < 3) return special[id];
    try {
      return utf8.decode(p).replaceAll(' ', '\u2581');
    } catch {
      throw new TokenizerError(`piece ${id} is not valid UTF-8; cannot express it in tokenizer.json`);
    }
  });
  const vocab: Record<string, number> = {};
  names.forEach((n, id) => {
    if (!(n in vocab)) vocab[n] = id;
  });
  const merges: { left: string; right: string; id: number }[] = [];
  names.forEach((n, id) => {
    if (id < 3 || vocab[n] !== id) return;
    const chars = Array.from(n);
    for (let i = 1; i < chars.length; i++) {
      const left = chars.slice(0, i).join('');
      const right = chars.slice(i).join('');
      if (left in vocab && right in vocab) merges.push({ left, right, id });
    }
  });
  merges.sort((a, b) => tok.scores[b.id] - tok.scores[a.id] || a.id - b.id);
  const added = special.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: '\u2581' },
        { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<s>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '\u2581' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      vocab,
      merges: merges.map((m) => [m.left, m.right]),
    },
  };
}

/** tokenizer_config.json to go with llama2cTokenizerJson. */
export function llama2cTokenizerConfigJson(): Record<string, unknown> {
  return { tokenizer_class: 'LlamaTokenizer', bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', add_bos_token: true, add_eos_token: false, legacy: true, clean_up_tokenization_spaces: false };
}

/**
 * Converts a model to the files of a Hugging Face directory: config.json, model.safetensors and,
 * when a llama2.c tokenizer is given, tokenizer.json + tokenizer_config.json built from it and
 * the original file as tokenizer.bin.
 * Interleaved-RoPE models get their q/k rows permuted so the result runs with 'half' RoPE.
 */
export function convertLlama2cToHf(
  config: LlamaConfig,
  weights: LlamaWeights,
  tokenizer?: Llama2cTokenizer,
  opts: { dtype?: 'F32' | 'F16' | 'BF16' } = {},
): Map<string, Uint8Array> {
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
  if (opts.dtype) for (const v of t.values()) v.dtype = opts.dtype;
  files.set('model.safetensors', serializeSafetensors(t, { format: 'pt' }));
  if (tokenizer) {
    const json = (o: unknown) => new TextEncoder().encode(JSON.stringify(o) + '\n');
    files.set('tokenizer.json', json(llama2cTokenizerJson(tokenizer)));
    files.set('tokenizer_config.json', json(llama2cTokenizerConfigJson()));
    files.set('tokenizer.bin', tokenizer.toBytes());
  }
  return files;
}
