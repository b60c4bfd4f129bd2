// Hugging Face model directories: config.json plus model.safetensors (or shards listed in
// model.safetensors.index.json), for the Llama-shaped architectures we run: Llama (with Llama 3.1
// RoPE scaling), Mistral, Qwen2, Qwen3, Gemma 2 and Gemma 3 (text). Fields of config.json that
// would change the arithmetic and that we do not implement are a ConfigError naming the field,
// never ignored.
//
// Gemma's RMSNorms scale by (1 + w) where the others scale by w; the loader stores 1 + w, so every
// norm downstream (GPU and CPU reference) is the plain one.
import { validateConfig, validateWeights, type Activation, type Architecture, type AttentionKind, type LlamaCheckpoint, type LlamaConfig, type LlamaLayerWeights, type RopeScaling } from './config';
import { ConfigError, SafetensorsError, WeightError } from './errors';
import { idList } from './generation-config';
import { parseSafetensors, type SafetensorsTensor } from './safetensors';
import type { FileSource } from './source';

const ARCHITECTURES: Record<string, Architecture> = {
  LlamaForCausalLM: 'llama',
  MistralForCausalLM: 'mistral',
  Qwen2ForCausalLM: 'qwen2',
  Qwen3ForCausalLM: 'qwen3',
  Gemma2ForCausalLM: 'gemma2',
  Gemma3ForCausalLM: 'gemma3',
};

/**
 * Gemma3TextConfig's defaults (transformers), which the multimodal checkpoints' `text_config`
 * mostly leaves out (gemma-3-4b-it lists only widths, layers, rope_scaling and sliding_window).
 */
const GEMMA3_TEXT_DEFAULTS: Record<string, unknown> = {
  vocab_size: 262208, hidden_size: 2304, intermediate_size: 9216, num_hidden_layers: 26, num_attention_heads: 8,
  num_key_value_heads: 4, head_dim: 256, hidden_activation: 'gelu_pytorch_tanh', max_position_embeddings: 131072,
  rms_norm_eps: 1e-6, rope_theta: 1_000_000, query_pre_attn_scalar: 256, sliding_window: 4096, sliding_window_pattern: 6,
  rope_local_base_freq: 10000, rope_scaling: null, attn_logit_softcapping: null, final_logit_softcapping: null,
  bos_token_id: 2, eos_token_id: 1, tie_word_embeddings: true,
};

/** The text model of a Gemma3ForConditionalGeneration config.json, as a Gemma3ForCausalLM one. */
function gemma3TextConfig(json: Record<string, unknown>, where: string): Record<string, unknown> {
  const text = json.text_config;
  if (typeof text !== 'object' || text === null || Array.isArray(text)) throw new ConfigError(`${where}: text_config = ${JSON.stringify(text)}, expected an object (Gemma3ForConditionalGeneration)`);
  // Token ids may sit on the outer config.
  const ids = Object.fromEntries(['bos_token_id', 'eos_token_id'].filter((k) => json[k] !== undefined).map((k) => [k, json[k]]));
  return { ...GEMMA3_TEXT_DEFAULTS, ...ids, ...text, architectures: ['Gemma3ForCausalLM'] };
}

/** config.json `rope_scaling` → RopeScaling; `maxPositions` is max_position_embeddings. */
function parseRopeScaling(v: unknown, maxPositions: number, where: string): RopeScaling | null {
  if (v === null || v === undefined) return null;
  if (typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(`${where}: rope_scaling = ${JSON.stringify(v)}, expected an object or null`);
  const r = v as Record<string, unknown>;
  const type = r.rope_type ?? r.type;
  const num = (key: string, fallback?: number): number => {
    const x = r[key] ?? fallback;
    if (typeof x !== 'number' || !Number.isFinite(x)) throw new ConfigError(`${where}: rope_scaling.${key} = ${JSON.stringify(x)}, expected a number (rope_type ${JSON.stringify(type)})`);
    return x;
  };
  // Fields that would change the table beyond what these types compute.
  for (const key of ['attention_factor', 'beta_fast', 'beta_slow', 'short_factor', 'long_factor', 'mrope_section']) {
    if (r[key] !== undefined && r[key] !== null) throw new ConfigError(`${where}: rope_scaling.${key} is not supported (rope_type ${JSON.stringify(type)})`);
  }
  switch (type) {
    case 'default':
      return null;
    case 'linear':
      return { type: 'linear', factor: num('factor') };
    case 'dynamic':
      return { type: 'dynamic', factor: num('factor'), originalMaxPositions: num('original_max_position_embeddings', maxPositions) };
    case 'llama3':
      return {
        type: 'llama3',
        factor: num('factor'),
        lowFreqFactor: num('low_freq_factor'),
        highFreqFactor: num('high_freq_factor'),
        originalMaxPositions: num('original_max_position_embeddings'),
      };
    default:
      throw new ConfigError(`${where}: rope_scaling.rope_type = ${JSON.stringify(type)} is not supported, expected one of "default", "linear", "dynamic", "llama3"`);
  }
}

/**
 * Each layer's attention kind from `layer_types` when the file has it, else by the family's rule:
 * Gemma 2 slides on even layers; Gemma 3 on all but every sliding_window_pattern-th; Qwen with
 * use_sliding_window from layer max_window_layers on; Mistral on every layer (no list needed).
 */
function parseLayerTypes(json: Record<string, unknown>, arch: Architecture, nLayers: number, where: string): AttentionKind[] | undefined {
  const list = json.layer_types;
  if (list !== undefined && list !== null) {
    if (!Array.isArray(list) || list.length !== nLayers) throw new ConfigError(`${where}: layer_types = ${JSON.stringify(list)}, expected a list of num_hidden_layers = ${nLayers} entries`);
    return list.map((t, i) => {
      if (t === 'full_attention') return 'full';
      if (t === 'sliding_attention') return 'sliding';
      throw new ConfigError(`${where}: layer_types[${i}] = ${JSON.stringify(t)}, expected "full_attention" or "sliding_attention"`);
    });
  }
  const each = (f: (i: number) => boolean) => Array.from({ length: nLayers }, (_, i): AttentionKind => (f(i) ? 'sliding' : 'full'));
  if (arch === 'gemma2') return each((i) => i % 2 === 0);
  if (arch === 'gemma3') {
    const pattern = json.sliding_window_pattern ?? 6;
    if (typeof pattern !== 'number' || !Number.isInteger(pattern) || pattern < 1) throw new ConfigError(`${where}: sliding_window_pattern = ${JSON.stringify(pattern)}, expected a positive integer`);
    return each((i) => (i + 1) % pattern !== 0);
  }
  if ((arch === 'qwen2' || arch === 'qwen3') && json.use_sliding_window === true) {
    const from = json.max_window_layers ?? nLayers;
    if (typeof from !== 'number') throw new ConfigError(`${where}: max_window_layers = ${JSON.stringify(from)}, expected a number`);
    return each((i) => i >= from);
  }
  return undefined;
}

/** The feed-forward gate config.json names (Gemma: hidden_activation, else hidden_act). */
function parseActivation(json: Record<string, unknown>, gemma: boolean, where: string): Activation {
  if (gemma) {
    const key = json.hidden_activation !== undefined && json.hidden_activation !== null ? 'hidden_activation' : 'hidden_act';
    const act = json[key] ?? 'gelu_pytorch_tanh';
    if (act !== 'gelu_pytorch_tanh') throw new ConfigError(`${where}: ${key} = ${JSON.stringify(act)}, expected "gelu_pytorch_tanh"`);
    return 'gelu_tanh';
  }
  const act = json.hidden_act ?? 'silu';
  if (act !== 'silu') throw new ConfigError(`${where}: hidden_act = ${JSON.stringify(act)}, expected "silu"`);
  return 'silu';
}

function parseJsonFile(bytes: Uint8Array, where: string, ErrorClass: typeof ConfigError | typeof SafetensorsError): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw new ErrorClass(`${where}: not valid UTF-8 JSON: ${(e as Error).message}`, { cause: e });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ErrorClass(`${where}: expected a JSON object`);
  return v as Record<string, unknown>;
}

/** Maps a parsed config.json onto LlamaConfig; `where` names the file in errors. */
export function parseHfConfig(json: Record<string, unknown>, where = 'config.json'): LlamaConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ConfigError(`${where}: expected a JSON object`);
  const archs = json.architectures;
  const archName = Array.isArray(archs) && typeof archs[0] === 'string' ? archs[0] : undefined;
  if (archName === 'Gemma3ForConditionalGeneration') return parseHfConfig(gemma3TextConfig(json, where), where);
  const architecture = archName !== undefined ? ARCHITECTURES[archName] : undefined;
  if (architecture === undefined) {
    throw new ConfigError(`${where}: architectures = ${JSON.stringify(archs)}, expected one of ${[...Object.keys(ARCHITECTURES), 'Gemma3ForConditionalGeneration'].join(', ')}`);
  }
  const num = (key: string, fallback?: number): number => {
    const v = json[key] ?? fallback;
    if (typeof v !== 'number') throw new ConfigError(`${where}: ${key} = ${JSON.stringify(v)}, expected a number`);
    return v;
  };
  const firstId = (key: string, fallback: number): number => {
    const v = json[key];
    if (Array.isArray(v) && typeof v[0] === 'number') return v[0];
    return typeof v === 'number' ? v : fallback;
  };
  const gemma = architecture === 'gemma2' || architecture === 'gemma3';
  const activation = parseActivation(json, gemma, where);
  const dim = num('hidden_size');
  const nHeads = num('num_attention_heads');
  const nLayers = num('num_hidden_layers');
  const ropeScaling = parseRopeScaling(json.rope_scaling, num('max_position_embeddings'), where);
  // Fields whose non-default values change the arithmetic in ways not implemented here.
  if (json.mlp_bias === true) throw new ConfigError(`${where}: mlp_bias = true is not supported (feed-forward biases)`);
  if (json.rope_interleaved === true) throw new ConfigError(`${where}: rope_interleaved = true is not supported (HF checkpoints rotate halves)`);
  if (json.use_mrope === true) throw new ConfigError(`${where}: use_mrope = true is not supported (multimodal RoPE)`);
  if (json.partial_rotary_factor !== undefined && json.partial_rotary_factor !== 1) {
    throw new ConfigError(`${where}: partial_rotary_factor = ${JSON.stringify(json.partial_rotary_factor)} is not supported, expected 1`);
  }
  // Qwen2's q/k/v biases are fixed by the architecture (its config has no attention_bias); Mistral has none.
  if (json.attention_bias === true && architecture === 'mistral') {
    throw new ConfigError(`${where}: attention_bias = true is not supported for ${archName} (its attention has no biases)`);
  }
  const window = json.sliding_window === undefined && gemma ? 4096 : (json.sliding_window ?? null); // Gemma2/3Config default 4096
  if (window !== null && (typeof window !== 'number' || !Number.isInteger(window) || window < 1)) {
    throw new ConfigError(`${where}: sliding_window = ${JSON.stringify(window)}, expected a positive integer or null`);
  }
  const layerTypes = parseLayerTypes(json, architecture, nLayers, where);
  if (layerTypes?.includes('sliding') && window === null) throw new ConfigError(`${where}: layer_types has sliding_attention layers but sliding_window = null`);
  // Qwen writes sliding_window even when use_sliding_window is false: then no layer slides.
  const slides = architecture === 'mistral' ? window !== null : (layerTypes?.includes('sliding') ?? false);
  const config: LlamaConfig = {
    architecture,
    dim,
    hiddenDim: num('intermediate_size'),
    nLayers,
    nHeads,
    nKvHeads: num('num_key_value_heads', nHeads),
    headDim: num('head_dim', dim / nHeads),
    vocabSize: num('vocab_size'),
    maxSeqLen: num('max_position_embeddings'),
    ropeTheta: num('rope_theta', architecture === 'gemma3' ? 1_000_000 : 10000),
    ropeLayout: 'half',
    normEps: num('rms_norm_eps', 1e-6),
    tiedEmbeddings: json.tie_word_embeddings === true || (gemma && json.tie_word_embeddings === undefined),
    qkvBias: architecture === 'qwen2' || json.attention_bias === true,
    bosId: firstId('bos_token_id', 1),
    eosId: firstId('eos_token_id', 2),
  };
  // Llama 3 lists several stop ids ([<|end_of_text|>, <|eom_id|>, <|eot_id|>]); keep them all.
  const eosIds = idList(json.eos_token_id, 'eos_token_id', where);
  if (eosIds !== undefined && eosIds.length > 0) config.eosIds = eosIds;
  // Optional fields only where they differ from the Llama defaults.
  if (ropeScaling) config.ropeScaling = ropeScaling;
  if (activation !== 'silu') config.activation = activation;
  if (slides) config.slidingWindow = window;
  if (layerTypes && slides) config.layerTypes = layerTypes;
  if (architecture === 'qwen3' || architecture === 'gemma3') config.qkNorm = true;
  if (gemma) {
    config.sandwichNorms = true;
    config.embedScale = Math.sqrt(dim);
    config.attnScale = 1 / Math.sqrt(num('query_pre_attn_scalar', 256)); // Gemma2Config's and Gemma3TextConfig's default
    const cap = (key: string, fallback: number | null) => {
      const v = json[key] === undefined ? fallback : json[key];
      if (v !== null && typeof v !== 'number') throw new ConfigError(`${where}: ${key} = ${JSON.stringify(v)}, expected a number or null`);
      return v;
    };
    const attnCap = cap('attn_logit_softcapping', architecture === 'gemma2' ? 50 : null);
    const finalCap = cap('final_logit_softcapping', architecture === 'gemma2' ? 30 : null);
    if (attnCap !== null) config.attnSoftcap = attnCap;
    if (finalCap !== null) config.finalSoftcap = finalCap;
  }
  if (architecture === 'gemma3' && slides) config.ropeLocalTheta = num('rope_local_base_freq', 10000);
  validateConfig(config, where);
  return config;
}

/** config.json and the shard index are small; refuse anything far larger before reading it. */
export const MAX_CONFIG_BYTES = 16 * 2 ** 20;
const MAX_INDEX_BYTES = 64 * 2 ** 20;

/** Reads every tensor of model.safetensors, or of the shards named in model.safetensors.index.json. */
async function readTensors(source: FileSource): Promise<Map<string, SafetensorsTensor>> {
  if (await source.exists('model.safetensors')) {
    return parseSafetensors(await source.read('model.safetensors', { expected: 'a safetensors file' }), source.describe('model.safetensors')).tensors;
  }
  const indexName = 'model.safetensors.index.json';
  if (!(await source.exists(indexName))) {
    throw new WeightError(`${source.describe('model.safetensors')}: not found, and no ${indexName} beside it`);
  }
  const index = parseJsonFile(await source.read(indexName, { maxBytes: MAX_INDEX_BYTES, expected: 'a safetensors index (JSON)' }), source.describe(indexName), SafetensorsError);
  const map = index.weight_map;
  if (typeof map !== 'object' || map === null) throw new SafetensorsError(`${source.describe(indexName)}: no weight_map object`);
  const shards = new Set<string>();
  for (const [tensor, file] of Object.entries(map)) {
    // Shard names come from the file: refuse anything that could escape the model directory.
    if (typeof file !== 'string' || !/^[\w.-]+\.safetensors$/.test(file)) {
      throw new SafetensorsError(`${source.describe(indexName)}: weight_map[${JSON.stringify(tensor)}] = ${JSON.stringify(file)}, expected a .safetensors file name`);
    }
    shards.add(file);
  }
  const tensors = new Map<string, SafetensorsTensor>();
  for (const shard of shards) {
    for (const [name, t] of parseSafetensors(await source.read(shard, { expected: 'a safetensors shard' }), source.describe(shard)).tensors) {
      if (tensors.has(name)) throw new SafetensorsError(`${source.describe(shard)}: tensor ${name} also appears in another shard`);
      tensors.set(name, t);
    }
  }
  return tensors;
}

/** Turns HF-named tensors into LlamaWeights for `config`, checking every name and shape. */
export function hfTensorsToCheckpoint(config: LlamaConfig, tensors: Map<string, SafetensorsTensor>, where = 'model'): LlamaCheckpoint {
  const c = { ...config };
  tensors = textModelTensors(tensors);
  const qDim = c.nHeads * c.headDim;
  const kvDim = c.nKvHeads * c.headDim;
  // What a wrong size of each projection says about config.json.
  const hints: Record<string, string> = {
    q_proj: ` (num_attention_heads ${c.nHeads} · head_dim ${c.headDim} = ${qDim} rows)`,
    k_proj: ` (num_key_value_heads ${c.nKvHeads} · head_dim ${c.headDim} = ${kvDim} rows)`,
    v_proj: ` (num_key_value_heads ${c.nKvHeads} · head_dim ${c.headDim} = ${kvDim} rows)`,
    o_proj: ` (hidden_size ${c.dim} rows of num_attention_heads · head_dim = ${qDim})`,
  };
  const take = (name: string, shape: number[]): Float32Array => {
    const t = tensors.get(name);
    if (!t) throw new WeightError(`${where}: tensor ${name} is missing, expected shape [${shape.join(', ')}]`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      const hint = Object.entries(hints).find(([k]) => name.includes(`.${k}.`))?.[1] ?? '';
      throw new WeightError(`${where}: tensor ${name} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]${hint}`);
    }
    return t.data;
  };
  // Gemma's norms scale by 1 + w: stored as such, so every consumer runs the plain RMSNorm.
  const gemma = c.architecture === 'gemma2' || c.architecture === 'gemma3';
  const norm = (name: string, n: number) => {
    const w = take(name, [n]);
    return gemma ? w.map((v) => 1 + v) : w;
  };
  checkLayerCount(c.nLayers, tensors, where);
  const tokenEmbedding = take('model.embed_tokens.weight', [c.vocabSize, c.dim]);
  const layers: LlamaLayerWeights[] = [];
  const hasOBias = tensors.has('model.layers.0.self_attn.o_proj.bias');
  // HF's attention_bias puts a bias on o_proj too; checkpoints converted from llama2.c have none.
  if (hasOBias && c.architecture !== 'qwen2' && c.architecture !== 'mistral' && c.qkvBias) c.oBias = true;
  for (let l = 0; l < c.nLayers; l++) {
    const p = `model.layers.${l}.`;
    const layer: LlamaLayerWeights = {
      attnNorm: norm(`${p}input_layernorm.weight`, c.dim),
      wq: take(`${p}self_attn.q_proj.weight`, [qDim, c.dim]),
      wk: take(`${p}self_attn.k_proj.weight`, [kvDim, c.dim]),
      wv: take(`${p}self_attn.v_proj.weight`, [kvDim, c.dim]),
      wo: take(`${p}self_attn.o_proj.weight`, [c.dim, qDim]),
      // Gemma's post_attention_layernorm follows the attention; its feed-forward has its own pre-norm.
      ffnNorm: norm(`${p}${c.sandwichNorms ? 'pre_feedforward_layernorm' : 'post_attention_layernorm'}.weight`, c.dim),
      w1: take(`${p}mlp.gate_proj.weight`, [c.hiddenDim, c.dim]),
      w2: take(`${p}mlp.down_proj.weight`, [c.dim, c.hiddenDim]),
      w3: take(`${p}mlp.up_proj.weight`, [c.hiddenDim, c.dim]),
    };
    if (c.qkvBias) {
      layer.bq = take(`${p}self_attn.q_proj.bias`, [qDim]);
      layer.bk = take(`${p}self_attn.k_proj.bias`, [kvDim]);
      layer.bv = take(`${p}self_attn.v_proj.bias`, [kvDim]);
    }
    if (c.oBias) layer.bo = take(`${p}self_attn.o_proj.bias`, [c.dim]);
    if (c.qkNorm) {
      layer.qNorm = norm(`${p}self_attn.q_norm.weight`, c.headDim);
      layer.kNorm = norm(`${p}self_attn.k_norm.weight`, c.headDim);
    }
    if (c.sandwichNorms) {
      layer.postAttnNorm = norm(`${p}post_attention_layernorm.weight`, c.dim);
      layer.postFfnNorm = norm(`${p}post_feedforward_layernorm.weight`, c.dim);
    }
    layers.push(layer);
  }
  const finalNorm = norm('model.norm.weight', c.dim);
  const output = c.tiedEmbeddings ? tokenEmbedding : take('lm_head.weight', [c.vocabSize, c.dim]);
  const weights = { tokenEmbedding, layers, finalNorm, output };
  validateWeights(c, weights);
  return { config: c, weights };
}

/**
 * The text model's tensors under Gemma3ForCausalLM's names: multimodal Gemma 3 files keep them
 * under `language_model.model.` (as published) or `model.language_model.` (as transformers ≥ 4.52
 * saves them), beside the vision tower's, which are left out.
 */
function textModelTensors(tensors: Map<string, SafetensorsTensor>): Map<string, SafetensorsTensor> {
  if (tensors.has('model.embed_tokens.weight')) return tensors;
  for (const [prefix, to] of [['language_model.model.', 'model.'], ['model.language_model.', 'model.'], ['language_model.lm_head.', 'lm_head.']] as const) {
    if (![...tensors.keys()].some((k) => k.startsWith(prefix))) continue;
    const out = new Map<string, SafetensorsTensor>();
    for (const [k, t] of tensors) {
      if (k.startsWith(prefix)) out.set(to + k.slice(prefix.length), t);
      else if (k === 'lm_head.weight' || k.startsWith('language_model.lm_head.')) out.set('lm_head.weight', t);
    }
    return out;
  }
  return tensors;
}

/** Throws WeightError when the file holds a layer at or past num_hidden_layers (or skips one). */
function checkLayerCount(nLayers: number, tensors: Map<string, SafetensorsTensor>, where: string): void {
  const present = new Set<number>();
  for (const name of tensors.keys()) {
    const m = /^model\.layers\.(\d+)\./.exec(name);
    if (!m) continue;
    const l = Number(m[1]);
    if (l >= nLayers) throw new WeightError(`${where}: tensor ${name} belongs to layer ${l}, but config.json has num_hidden_layers = ${nLayers}`);
    present.add(l);
  }
  for (let l = 0; l < nLayers; l++) {
    if (!present.has(l)) throw new WeightError(`${where}: no tensors of layer ${l} (model.layers.${l}.*), but config.json has num_hidden_layers = ${nLayers}`);
  }
}

/** Loads config.json and the safetensors weights of a Hugging Face model directory. */
export async function loadHfCheckpoint(source: FileSource): Promise<LlamaCheckpoint> {
  const configJson = parseJsonFile(await source.read('config.json', { maxBytes: MAX_CONFIG_BYTES, expected: 'a JSON model config' }), source.describe('config.json'), ConfigError);
  const config = parseHfConfig(configJson, source.describe('config.json'));
  return hfTensorsToCheckpoint(config, await readTensors(source), source.describe(''));
}
