// Hugging Face model directories: config.json plus model.safetensors (or shards listed in
// model.safetensors.index.json), for the Llama-shaped architectures we run.
import { validateConfig, validateWeights, type Architecture, type LlamaCheckpoint, type LlamaConfig, type LlamaLayerWeights } from './config';
import { ConfigError, SafetensorsError, WeightError } from './errors';
import { parseSafetensors, type SafetensorsTensor } from './safetensors';
import type { FileSource } from './source';

const ARCHITECTURES: Record<string, Architecture> = {
  LlamaForCausalLM: 'llama',
  MistralForCausalLM: 'mistral',
  Qwen2ForCausalLM: 'qwen2',
};

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
  const architecture = archName !== undefined ? ARCHITECTURES[archName] : undefined;
  if (architecture === undefined) {
    throw new ConfigError(`${where}: architectures = ${JSON.stringify(archs)}, expected one of ${Object.keys(ARCHITECTURES).join(', ')}`);
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
  const act = json.hidden_act ?? 'silu';
  if (act !== 'silu') throw new ConfigError(`${where}: hidden_act = ${JSON.stringify(act)}, expected "silu"`);
  const scaling = json.rope_scaling as { type?: string; rope_type?: string } | null | undefined;
  const scalingType = scaling ? scaling.rope_type ?? scaling.type : undefined;
  if (scaling && scalingType !== 'default') {
    throw new ConfigError(`${where}: rope_scaling ${JSON.stringify(scaling)} is not supported, expected null`);
  }
  const dim = num('hidden_size');
  const nHeads = num('num_attention_heads');
  const config: LlamaConfig = {
    architecture,
    dim,
    hiddenDim: num('intermediate_size'),
    nLayers: num('num_hidden_layers'),
    nHeads,
    nKvHeads: num('num_key_value_heads', nHeads),
    headDim: num('head_dim', dim / nHeads),
    vocabSize: num('vocab_size'),
    maxSeqLen: num('max_position_embeddings'),
    ropeTheta: num('rope_theta', 10000),
    ropeLayout: 'half',
    normEps: num('rms_norm_eps', 1e-6),
    tiedEmbeddings: json.tie_word_embeddings === true,
    qkvBias: architecture === 'qwen2' || json.attention_bias === true,
    bosId: firstId('bos_token_id', 1),
    eosId: firstId('eos_token_id', 2),
  };
  validateConfig(config, where);
  return config;
}

/** config.json and the shard index are small; refuse anything far larger before reading it. */
const MAX_CONFIG_BYTES = 16 * 2 ** 20;
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
  const c = config;
  const take = (name: string, shape: number[]): Float32Array => {
    const t = tensors.get(name);
    if (!t) throw new WeightError(`${where}: tensor ${name} is missing, expected shape [${shape.join(', ')}]`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new WeightError(`${where}: tensor ${name} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
    }
    return t.data;
  };
  const qDim = c.nHeads * c.headDim;
  const kvDim = c.nKvHeads * c.headDim;
  const tokenEmbedding = take('model.embed_tokens.weight', [c.vocabSize, c.dim]);
  const layers: LlamaLayerWeights[] = [];
  for (let l = 0; l < c.nLayers; l++) {
    const p = `model.layers.${l}.`;
    const layer: LlamaLayerWeights = {
      attnNorm: take(`${p}input_layernorm.weight`, [c.dim]),
      wq: take(`${p}self_attn.q_proj.weight`, [qDim, c.dim]),
      wk: take(`${p}self_attn.k_proj.weight`, [kvDim, c.dim]),
      wv: take(`${p}self_attn.v_proj.weight`, [kvDim, c.dim]),
      wo: take(`${p}self_attn.o_proj.weight`, [c.dim, qDim]),
      ffnNorm: take(`${p}post_attention_layernorm.weight`, [c.dim]),
      w1: take(`${p}mlp.gate_proj.weight`, [c.hiddenDim, c.dim]),
      w2: take(`${p}mlp.down_proj.weight`, [c.dim, c.hiddenDim]),
      w3: take(`${p}mlp.up_proj.weight`, [c.hiddenDim, c.dim]),
    };
    if (c.qkvBias) {
      layer.bq = take(`${p}self_attn.q_proj.bias`, [qDim]);
      layer.bk = take(`${p}self_attn.k_proj.bias`, [kvDim]);
      layer.bv = take(`${p}self_attn.v_proj.bias`, [kvDim]);
    }
    layers.push(layer);
  }
  // Weights of layers the config does not count would be silently dropped: a config that
  // understates the depth runs a different (wrong) model.
  for (const name of tensors.keys()) {
    const m = /^model\.layers\.(\d+)\./.exec(name);
    if (m && Number(m[1]) >= c.nLayers) {
      throw new WeightError(`${where}: tensor ${name} belongs to layer ${m[1]}, but num_hidden_layers = ${c.nLayers} (config.json); expected layers 0..${c.nLayers - 1} only`);
    }
  }
  const finalNorm = take('model.norm.weight', [c.dim]);
  const output = c.tiedEmbeddings ? tokenEmbedding : take('lm_head.weight', [c.vocabSize, c.dim]);
  const weights = { tokenEmbedding, layers, finalNorm, output };
  validateWeights(c, weights);
  return { config: c, weights };
}

/** Loads config.json and the safetensors weights of a Hugging Face model directory. */
export async function loadHfCheckpoint(source: FileSource): Promise<LlamaCheckpoint> {
  const configJson = parseJsonFile(await source.read('config.json', { maxBytes: MAX_CONFIG_BYTES, expected: 'a JSON model config' }), source.describe('config.json'), ConfigError);
  const config = parseHfConfig(configJson, source.describe('config.json'));
  return hfTensorsToCheckpoint(config, await readTensors(source), source.describe(''));
}
