// Random-weight checkpoints of real model shapes, for speed work at realistic sizes where no
// pretrained model of that size can be downloaded. Weights are seeded scaled normals (std 0.02,
// output projections of the residual branches shrunk by 1/sqrt(2·nLayers) as GPT-2 does), norms 1.
import { createRng } from '@hydra-ts/verify';
import { validateConfig, type LlamaCheckpoint, type LlamaConfig, type LlamaLayerWeights } from './config';
import { ConfigError } from './errors';

/** karpathy/tinyllamas stories15M: dim 288, 6 layers, 6 heads, vocab 32000, context 256. */
export const STORIES15M_CONFIG: LlamaConfig = {
  architecture: 'llama',
  dim: 288,
  hiddenDim: 768,
  nLayers: 6,
  nHeads: 6,
  nKvHeads: 6,
  headDim: 48,
  vocabSize: 32000,
  maxSeqLen: 256,
  ropeTheta: 10000,
  ropeLayout: 'interleaved',
  normEps: 1e-5,
  tiedEmbeddings: true,
  qkvBias: false,
  bosId: 1,
  eosId: 2,
};

/** HuggingFaceTB/SmolLM2-135M: dim 576, 30 layers, 9 heads / 3 KV heads, vocab 49152 (context cut to 2048). */
export const SMOLLM2_135M_CONFIG: LlamaConfig = {
  architecture: 'llama',
  dim: 576,
  hiddenDim: 1536,
  nLayers: 30,
  nHeads: 9,
  nKvHeads: 3,
  headDim: 64,
  vocabSize: 49152,
  maxSeqLen: 2048,
  ropeTheta: 100000,
  ropeLayout: 'half',
  normEps: 1e-5,
  tiedEmbeddings: true,
  qkvBias: false,
  bosId: 0,
  eosId: 0,
};

/** Qwen/Qwen3-0.6B: dim 1024, 28 layers, 16 heads / 8 KV heads of 128 (≠ 1024/16), q/k norms, vocab 151936 (context cut to 2048). */
export const QWEN3_0_6B_CONFIG: LlamaConfig = {
  architecture: 'qwen3',
  dim: 1024,
  hiddenDim: 3072,
  nLayers: 28,
  nHeads: 16,
  nKvHeads: 8,
  headDim: 128,
  vocabSize: 151936,
  maxSeqLen: 2048,
  ropeTheta: 1000000,
  ropeLayout: 'half',
  normEps: 1e-6,
  tiedEmbeddings: true,
  qkvBias: false,
  qkNorm: true,
  bosId: 151643,
  eosId: 151645,
};

/** meta-llama/Llama-3.2-1B: dim 2048, 16 layers, 32 heads / 8 KV heads, Llama 3.1 RoPE scaling, vocab 128256 (context cut to 2048). */
export const LLAMA32_1B_CONFIG: LlamaConfig = {
  architecture: 'llama',
  dim: 2048,
  hiddenDim: 8192,
  nLayers: 16,
  nHeads: 32,
  nKvHeads: 8,
  headDim: 64,
  vocabSize: 128256,
  maxSeqLen: 2048,
  ropeTheta: 500000,
  ropeLayout: 'half',
  ropeScaling: { type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 },
  normEps: 1e-5,
  tiedEmbeddings: true,
  qkvBias: false,
  bosId: 128000,
  eosId: 128001,
};

export const RANDOM_SHAPES = { stories15M: STORIES15M_CONFIG, 'smollm2-135m': SMOLLM2_135M_CONFIG, 'qwen3-0.6b': QWEN3_0_6B_CONFIG, 'llama3.2-1b': LLAMA32_1B_CONFIG } as const;
export type RandomShapeName = keyof typeof RANDOM_SHAPES;

/** N(0, std²) samples from a seeded generator (Box–Muller). */
function normals(n: number, std: number, rng: { next(): number }): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = 1 - rng.next(); // (0, 1]
    const r = std * Math.sqrt(-2 * Math.log(u));
    const a = 2 * Math.PI * rng.next();
    out[i] = r * Math.cos(a);
    if (i + 1 < n) out[i + 1] = r * Math.sin(a);
  }
  return out;
}

/**
 * A checkpoint with `config`'s shapes (a config or the name of a built-in shape) and random
 * weights; the same seed gives the same weights.
 */
export function randomCheckpoint(shape: LlamaConfig | RandomShapeName, seed = 1, std = 0.02): LlamaCheckpoint {
  const config = typeof shape === 'string' ? RANDOM_SHAPES[shape] : shape;
  if (!config) throw new ConfigError(`randomCheckpoint: unknown shape '${String(shape)}', expected one of ${Object.keys(RANDOM_SHAPES).join(', ')} or a LlamaConfig`);
  validateConfig(config, 'randomCheckpoint');
  if (!(std > 0 && Number.isFinite(std))) throw new ConfigError(`randomCheckpoint: std = ${std}, expected a positive number`);
  const c = config;
  const rng = createRng(seed);
  const qDim = c.nHeads * c.headDim;
  const kvDim = c.nKvHeads * c.headDim;
  const residualStd = std / Math.sqrt(2 * c.nLayers);
  const ones = (n: number) => new Float32Array(n).fill(1);
  const tokenEmbedding = normals(c.vocabSize * c.dim, std, rng);
  const layers: LlamaLayerWeights[] = [];
  for (let l = 0; l < c.nLayers; l++) {
    const layer: LlamaLayerWeights = {
      attnNorm: ones(c.dim),
      wq: normals(qDim * c.dim, std, rng),
      wk: normals(kvDim * c.dim, std, rng),
      wv: normals(kvDim * c.dim, std, rng),
      wo: normals(c.dim * qDim, residualStd, rng),
      ffnNorm: ones(c.dim),
      w1: normals(c.hiddenDim * c.dim, std, rng),
      w2: normals(c.dim * c.hiddenDim, residualStd, rng),
      w3: normals(c.hiddenDim * c.dim, std, rng),
    };
    if (c.qkvBias) {
      layer.bq = normals(qDim, std, rng);
      layer.bk = normals(kvDim, std, rng);
      layer.bv = normals(kvDim, std, rng);
    }
    if (c.oBias) layer.bo = normals(c.dim, std, rng);
    if (c.qkNorm) {
      layer.qNorm = ones(c.headDim);
      layer.kNorm = ones(c.headDim);
    }
    if (c.sandwichNorms) {
      layer.postAttnNorm = ones(c.dim);
      layer.postFfnNorm = ones(c.dim);
    }
    layers.push(layer);
  }
  const output = c.tiedEmbeddings ? tokenEmbedding : normals(c.vocabSize * c.dim, std, rng);
  return { config: { ...c }, weights: { tokenEmbedding, layers, finalNorm: ones(c.dim), output } };
}
