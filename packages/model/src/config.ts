// The model's configuration and weights as plain CPU structs, like llama2.c's Config and
// TransformerWeights. Loaders (llama2.c, Hugging Face) produce them; the CPU reference and the
// GPU model consume them.
import { ConfigError, WeightError } from './errors';

export type Architecture = 'llama' | 'mistral' | 'qwen2' | 'qwen3' | 'gemma2' | 'gemma3';

/** The architectures validateConfig accepts. */
export const ARCHITECTURES: readonly Architecture[] = ['llama', 'mistral', 'qwen2', 'qwen3', 'gemma2', 'gemma3'];

/**
 * How RoPE's frequencies are stretched for long contexts (config.json `rope_scaling`). The table
 * itself is ropeFrequencies() in rope-frequencies.ts, the one place it is computed.
 * - 'linear': every frequency divided by factor (position interpolation).
 * - 'dynamic': NTK-aware, the base raised as for a sequence of maxSeqLen positions (see ropeFrequencies).
 * - 'llama3': Llama 3.1's: long wavelengths divided by factor, short ones kept, a smooth blend between.
 */
export type RopeScaling =
  | { type: 'linear'; factor: number }
  | { type: 'dynamic'; factor: number; originalMaxPositions: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number };

/** A layer's attention: over every earlier position, or over the last slidingWindow ones. */
export type AttentionKind = 'full' | 'sliding';

/** The feed-forward gate: SwiGLU (SiLU) or Gemma's GeGLU (tanh GELU, `gelu_pytorch_tanh`). */
export type Activation = 'silu' | 'gelu_tanh';

/**
 * Which pairs of a head's query/key dimensions RoPE rotates together.
 * 'interleaved': (0,1), (2,3), ... as llama2.c and Meta's original code.
 * 'half': (i, i + headDim/2) as Hugging Face transformers (`rotate_half`).
 */
export type RopeLayout = 'interleaved' | 'half';

export interface LlamaConfig {
  architecture: Architecture;
  dim: number;
  /** Width of the SwiGLU feed-forward layer. */
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  /** Key/value heads; nHeads is a multiple of it (grouped-query attention when smaller). */
  nKvHeads: number;
  headDim: number;
  vocabSize: number;
  maxSeqLen: number;
  ropeTheta: number;
  ropeLayout: RopeLayout;
  normEps: number;
  /** Output projection shares the token embedding matrix. */
  tiedEmbeddings: boolean;
  /** q/k/v projections carry biases (Qwen2). */
  qkvBias: boolean;
  bosId: number;
  /** The first of eosIds (kept for callers that know one stop id). */
  eosId: number;
  /** Every id that ends generation (config.json's eos_token_id list, generation_config.json's, the tokenizer's). */
  eosIds?: number[];
  /** The o projection carries a bias too (HF `attention_bias` on Llama, Qwen3, Gemma). Default false. */
  oBias?: boolean;
  /** RoPE frequency scaling; default none. */
  ropeScaling?: RopeScaling | null;
  /** Per-head RMSNorm of q and k before RoPE, weights qNorm / kNorm [headDim] (Qwen3, Gemma 3). Default false. */
  qkNorm?: boolean;
  /** Window of the 'sliding' layers: a query at position p sees keys at positions > p − slidingWindow. */
  slidingWindow?: number | null;
  /** Each layer's attention [nLayers]; default: every layer 'sliding' when slidingWindow is set, else 'full'. */
  layerTypes?: readonly AttentionKind[];
  /** RoPE base of the sliding layers, unscaled (Gemma 3 `rope_local_base_freq`); default: as the full layers. */
  ropeLocalTheta?: number;
  /** Feed-forward gate; default 'silu'. */
  activation?: Activation;
  /** Token embeddings are multiplied by it (Gemma: √dim); default 1. */
  embedScale?: number;
  /**
   * Gemma 2/3: RMSNorms on the attention output and the feed-forward output before each residual
   * add (postAttnNorm, postFfnNorm), ffnNorm being the pre-feed-forward norm. Default false.
   */
  sandwichNorms?: boolean;
  /** Attention score scale; default 1/√headDim (Gemma: query_pre_attn_scalar^-1/2). */
  attnScale?: number;
  /** Attention scores become cap·tanh(score / cap) (Gemma 2). Default none. */
  attnSoftcap?: number | null;
  /** Logits become cap·tanh(logit / cap) (Gemma 2). Default none. */
  finalSoftcap?: number | null;
}

/** One transformer block. Linear weights are row-major [out, in]. */
export interface LlamaLayerWeights {
  attnNorm: Float32Array; // [dim]
  wq: Float32Array; // [nHeads * headDim, dim]
  wk: Float32Array; // [nKvHeads * headDim, dim]
  wv: Float32Array; // [nKvHeads * headDim, dim]
  wo: Float32Array; // [dim, nHeads * headDim]
  bq?: Float32Array; // [nHeads * headDim]
  bk?: Float32Array; // [nKvHeads * headDim]
  bv?: Float32Array; // [nKvHeads * headDim]
  bo?: Float32Array; // [dim], with config.oBias
  qNorm?: Float32Array; // [headDim], with config.qkNorm
  kNorm?: Float32Array; // [headDim], with config.qkNorm
  postAttnNorm?: Float32Array; // [dim], with config.sandwichNorms
  /** The norm before the feed-forward (HF post_attention_layernorm; Gemma's pre_feedforward_layernorm). */
  ffnNorm: Float32Array; // [dim]
  postFfnNorm?: Float32Array; // [dim], with config.sandwichNorms
  w1: Float32Array; // gate, [hiddenDim, dim]
  w2: Float32Array; // down, [dim, hiddenDim]
  w3: Float32Array; // up, [hiddenDim, dim]
}

export interface LlamaWeights {
  tokenEmbedding: Float32Array; // [vocabSize, dim]
  layers: LlamaLayerWeights[];
  finalNorm: Float32Array; // [dim]
  /** [vocabSize, dim]; the same object as tokenEmbedding when config.tiedEmbeddings. */
  output: Float32Array;
}

/** A config together with its weights: what every loader returns. */
export interface LlamaCheckpoint {
  config: LlamaConfig;
  weights: LlamaWeights;
}

/** Upper bounds that keep a corrupt header from asking for absurd allocations. */
const LIMITS = { dim: 1 << 16, hiddenDim: 1 << 18, nLayers: 1024, nHeads: 1024, vocabSize: 1 << 22, maxSeqLen: 1 << 22 };

function checkInt(field: string, value: unknown, min: number, max: number, where: string): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${where}: ${field} = ${String(value)}, expected an integer in [${min}, ${max}]`);
  }
}

/**
 * Throws ConfigError naming the first impossible field. `where` names the source (a file) for the
 * message.
 */
export function validateConfig(c: LlamaConfig, where = 'config'): void {
  if (!ARCHITECTURES.includes(c.architecture)) {
    throw new ConfigError(`${where}: architecture = ${String(c.architecture)}, expected one of ${ARCHITECTURES.join(', ')}`);
  }
  checkInt('dim', c.dim, 1, LIMITS.dim, where);
  checkInt('hiddenDim', c.hiddenDim, 1, LIMITS.hiddenDim, where);
  checkInt('nLayers', c.nLayers, 1, LIMITS.nLayers, where);
  checkInt('nHeads', c.nHeads, 1, LIMITS.nHeads, where);
  checkInt('nKvHeads', c.nKvHeads, 1, c.nHeads, where);
  if (c.nHeads % c.nKvHeads !== 0) {
    throw new ConfigError(`${where}: nHeads = ${c.nHeads} is not a multiple of nKvHeads = ${c.nKvHeads}`);
  }
  checkInt('headDim', c.headDim, 2, LIMITS.dim, where);
  if (c.headDim % 2 !== 0) throw new ConfigError(`${where}: headDim = ${c.headDim}, expected an even number (RoPE rotates pairs)`);
  checkInt('vocabSize', c.vocabSize, 1, LIMITS.vocabSize, where);
  checkInt('maxSeqLen', c.maxSeqLen, 1, LIMITS.maxSeqLen, where);
  if (!(Number.isFinite(c.ropeTheta) && c.ropeTheta > 0)) {
    throw new ConfigError(`${where}: ropeTheta = ${c.ropeTheta}, expected a positive finite number`);
  }
  if (c.ropeLayout !== 'interleaved' && c.ropeLayout !== 'half') {
    throw new ConfigError(`${where}: ropeLayout = ${String(c.ropeLayout)}, expected 'interleaved' or 'half'`);
  }
  if (!(Number.isFinite(c.normEps) && c.normEps > 0 && c.normEps < 1)) {
    throw new ConfigError(`${where}: normEps = ${c.normEps}, expected a number in (0, 1)`);
  }
  checkInt('bosId', c.bosId, 0, c.vocabSize - 1, where);
  checkInt('eosId', c.eosId, 0, c.vocabSize - 1, where);
  if (c.eosIds !== undefined) {
    if (!Array.isArray(c.eosIds)) throw new ConfigError(`${where}: eosIds = ${String(c.eosIds)}, expected an array of token ids`);
    c.eosIds.forEach((id, i) => checkInt(`eosIds[${i}]`, id, 0, c.vocabSize - 1, where));
  }
  validateVariant(c, where);
}

const positive = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0;

/** The optional fields of the newer families: each within bounds, or absent. */
function validateVariant(c: LlamaConfig, where: string): void {
  const s = c.ropeScaling;
  if (s !== undefined && s !== null) {
    if (!['linear', 'dynamic', 'llama3'].includes(s.type)) throw new ConfigError(`${where}: ropeScaling.type = ${JSON.stringify(s.type)}, expected 'linear', 'dynamic' or 'llama3'`);
    if (!positive(s.factor)) throw new ConfigError(`${where}: ropeScaling.factor = ${s.factor}, expected a positive number`);
    if (s.type !== 'linear') checkInt('ropeScaling.originalMaxPositions', s.originalMaxPositions, 1, LIMITS.maxSeqLen, where);
    if (s.type === 'llama3') {
      if (!positive(s.lowFreqFactor) || !positive(s.highFreqFactor) || !(s.highFreqFactor > s.lowFreqFactor)) {
        throw new ConfigError(`${where}: ropeScaling lowFreqFactor = ${s.lowFreqFactor}, highFreqFactor = ${s.highFreqFactor}, expected positive numbers with high > low`);
      }
    }
  }
  if (c.slidingWindow !== undefined && c.slidingWindow !== null) checkInt('slidingWindow', c.slidingWindow, 1, 0x7fffffff, where);
  if (c.layerTypes !== undefined) {
    if (!Array.isArray(c.layerTypes) || c.layerTypes.length !== c.nLayers) {
      throw new ConfigError(`${where}: layerTypes has ${(c.layerTypes as unknown[] | undefined)?.length} entries, expected nLayers = ${c.nLayers}`);
    }
    c.layerTypes.forEach((t, i) => {
      if (t !== 'full' && t !== 'sliding') throw new ConfigError(`${where}: layerTypes[${i}] = ${JSON.stringify(t)}, expected 'full' or 'sliding'`);
    });
    if (c.layerTypes.includes('sliding') && !c.slidingWindow) throw new ConfigError(`${where}: layerTypes has sliding layers but slidingWindow = ${c.slidingWindow}`);
  }
  if (c.ropeLocalTheta !== undefined && !(positive(c.ropeLocalTheta) && c.ropeLocalTheta > 1)) throw new ConfigError(`${where}: ropeLocalTheta = ${c.ropeLocalTheta}, expected a number > 1`);
  if (c.activation !== undefined && c.activation !== 'silu' && c.activation !== 'gelu_tanh') {
    throw new ConfigError(`${where}: activation = ${JSON.stringify(c.activation)}, expected 'silu' or 'gelu_tanh'`);
  }
  for (const key of ['embedScale', 'attnScale', 'attnSoftcap', 'finalSoftcap'] as const) {
    const v = c[key];
    if (v !== undefined && v !== null && !positive(v)) throw new ConfigError(`${where}: ${key} = ${v}, expected a positive number`);
  }
  if (c.headDim > 256) throw new ConfigError(`${where}: headDim = ${c.headDim}, expected at most 256 (the attention kernel's limit)`);
}

/** What differs between layers: the attention window and the RoPE table's base and scaling. */
export interface LayerAttention {
  kind: AttentionKind;
  /** Keys at positions > p − window are seen; null: every earlier key. */
  window: number | null;
  ropeTheta: number;
  ropeScaling: RopeScaling | null;
}

/** Layer l's attention settings (Gemma's alternating local/global layers, Mistral's window). */
export function layerAttention(c: LlamaConfig, l: number): LayerAttention {
  const kind: AttentionKind = c.layerTypes ? c.layerTypes[l] : c.slidingWindow ? 'sliding' : 'full';
  if (kind === 'sliding' && c.ropeLocalTheta !== undefined) return { kind, window: c.slidingWindow ?? null, ropeTheta: c.ropeLocalTheta, ropeScaling: null };
  return { kind, window: kind === 'sliding' ? (c.slidingWindow ?? null) : null, ropeTheta: c.ropeTheta, ropeScaling: c.ropeScaling ?? null };
}

/** Expected element counts of every weight, keyed by LlamaWeights field name. */
export function weightShapes(c: LlamaConfig): Record<string, number[]> {
  const qDim = c.nHeads * c.headDim;
  const kvDim = c.nKvHeads * c.headDim;
  return {
    tokenEmbedding: [c.vocabSize, c.dim],
    attnNorm: [c.dim],
    wq: [qDim, c.dim],
    wk: [kvDim, c.dim],
    wv: [kvDim, c.dim],
    wo: [c.dim, qDim],
    bq: [qDim],
    bk: [kvDim],
    bv: [kvDim],
    bo: [c.dim],
    qNorm: [c.headDim],
    kNorm: [c.headDim],
    postAttnNorm: [c.dim],
    ffnNorm: [c.dim],
    postFfnNorm: [c.dim],
    w1: [c.hiddenDim, c.dim],
    w2: [c.dim, c.hiddenDim],
    w3: [c.hiddenDim, c.dim],
    finalNorm: [c.dim],
    output: [c.vocabSize, c.dim],
  };
}

/** Throws WeightError naming the first missing or mis-sized weight. */
export function validateWeights(c: LlamaConfig, w: LlamaWeights): void {
  const shapes = weightShapes(c);
  const check = (name: string, key: string, a: Float32Array | undefined) => {
    const shape = shapes[key];
    const n = shape.reduce((x, y) => x * y, 1);
    if (!(a instanceof Float32Array)) throw new WeightError(`weight ${name} is missing, expected Float32Array [${shape.join(', ')}]`);
    if (a.length !== n) throw new WeightError(`weight ${name} has ${a.length} elements, expected [${shape.join(', ')}] = ${n}`);
  };
  check('tokenEmbedding', 'tokenEmbedding', w.tokenEmbedding);
  if (!Array.isArray(w.layers) || w.layers.length !== c.nLayers) {
    throw new WeightError(`weights have ${w.layers?.length} layers, expected nLayers = ${c.nLayers}`);
  }
  w.layers.forEach((l, i) => {
    for (const key of ['attnNorm', 'wq', 'wk', 'wv', 'wo', 'ffnNorm', 'w1', 'w2', 'w3'] as const) {
      check(`layers[${i}].${key}`, key, l[key]);
    }
    for (const key of ['bq', 'bk', 'bv'] as const) {
      if (c.qkvBias) check(`layers[${i}].${key}`, key, l[key]);
    }
    if (c.oBias) check(`layers[${i}].bo`, 'bo', l.bo);
    if (c.qkNorm) for (const key of ['qNorm', 'kNorm'] as const) check(`layers[${i}].${key}`, key, l[key]);
    if (c.sandwichNorms) for (const key of ['postAttnNorm', 'postFfnNorm'] as const) check(`layers[${i}].${key}`, key, l[key]);
  });
  check('finalNorm', 'finalNorm', w.finalNorm);
  check('output', 'output', w.output);
  if (c.tiedEmbeddings && w.output !== w.tokenEmbedding) {
    throw new WeightError('weight output must be the tokenEmbedding array when tiedEmbeddings is set');
  }
}
