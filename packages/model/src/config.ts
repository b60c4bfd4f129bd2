// The model's configuration and weights as plain CPU structs, like llama2.c's Config and
// TransformerWeights. Loaders (llama2.c, Hugging Face) produce them; the CPU reference and the
// GPU model consume them.
import { ConfigError, WeightError } from './errors';

export type Architecture = 'llama' | 'mistral' | 'qwen2';

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
  ffnNorm: Float32Array; // [dim]
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
  const archs: Architecture[] = ['llama', 'mistral', 'qwen2'];
  if (!archs.includes(c.architecture)) {
    throw new ConfigError(`${where}: architecture = ${String(c.architecture)}, expected one of ${archs.join(', ')}`);
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
    ffnNorm: [c.dim],
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
  });
  check('finalNorm', 'finalNorm', w.finalNorm);
  check('output', 'output', w.output);
  if (c.tiedEmbeddings && w.output !== w.tokenEmbedding) {
    throw new WeightError('weight output must be the tokenEmbedding array when tiedEmbeddings is set');
  }
}
