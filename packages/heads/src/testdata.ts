// Test fixtures: small random base models (only what heads use) and random heads files.
import { serializeSafetensors, type LlamaConfig, type SafetensorsInput } from '@hydra-ts/model';
import { randomArray, type Device, type Tensor } from '@hydra-ts/tensor';
import { CandidateTree } from '@hydra-ts/tree';
import { HEADS_FORMAT, HEADS_VERSION, headParameterShapes, isTokenMap, prefixConfigOf, type EagleLayerConfig, type HeadConfig, type HeadKind } from './config';
import type { HeadBase } from './draft-head';

export interface FakeBase extends HeadBase {
  embeddings: Float32Array; // [vocab, dim]
  output: Float32Array; // [vocab, dim]
  dispose(): void;
}

export function baseConfig(over: Partial<LlamaConfig> = {}): LlamaConfig {
  return {
    architecture: 'llama', dim: 24, hiddenDim: 40, nLayers: 1, nHeads: 3, nKvHeads: 1, headDim: 8, vocabSize: 37,
    maxSeqLen: 64, ropeTheta: 10000, ropeLayout: 'interleaved', normEps: 1e-5, tiedEmbeddings: false, qkvBias: false,
    bosId: 1, eosId: 2, ...over,
  };
}

/** A base model's embedding and output layer, random: all heads read of it. */
export function fakeBase(device: Device, config: LlamaConfig, seed = 1): FakeBase {
  const { vocabSize: v, dim: d } = config;
  const embeddings = randomArray(v * d, seed);
  const output = randomArray(v * d, seed + 1);
  const tokenEmbedding = device.tensor(embeddings, [v, d]);
  const outputWeight = device.tensor(output, [v, d]);
  return {
    config, device, tokenEmbedding, outputWeight, embeddings, output,
    dispose() {
      tokenEmbedding.dispose();
      outputWeight.dispose();
    },
  };
}

/** A Medusa / Hydra / Hydra++ config for `base`; with draftVocabSize its heads score that many tokens (heads.d2t). */
export function headConfig(base: LlamaConfig, kind: HeadKind, numHeads: number, layers: number, sharedOutput = false, draftVocabSize?: number): HeadConfig {
  const c: HeadConfig = { kind, numHeads, layers, dim: base.dim, vocabSize: base.vocabSize, sharedOutput, prefix: kind === 'hydra++' ? prefixConfigOf(base) : null };
  if (draftVocabSize !== undefined) c.draftVocabSize = draftVocabSize;
  return c;
}

/** An MLPSpeculator config for `base`. */
export function speculatorConfig(base: LlamaConfig, numHeads: number, innerDim = base.dim, scaleInput = false): HeadConfig {
  return { kind: 'mlp-speculator', numHeads, layers: 1, dim: base.dim, vocabSize: base.vocabSize, sharedOutput: false, prefix: null, speculator: { innerDim, scaleInput } };
}

/** An EAGLE head config for `base` (the draft layer of the base model's shape, unless `layer` overrides it). */
export function eagleConfig(base: LlamaConfig, depth: number, layer: Partial<EagleLayerConfig> = {}): HeadConfig {
  return { kind: 'eagle', numHeads: depth, layers: 1, dim: base.dim, vocabSize: base.vocabSize, sharedOutput: true, prefix: null, eagle: { ...prefixConfigOf(base), ...layer } };
}

/**
 * Random values for every parameter (norm weights near 1), large enough that top-k has clear gaps;
 * a heads.d2t spreads its draft ids evenly over the vocabulary (floor(j·vocab/size), increasing).
 */
export function randomValues(c: HeadConfig, seed: number): Map<string, Float32Array> {
  const values = new Map<string, Float32Array>();
  let s = seed * 7919;
  for (const [name, shape] of headParameterShapes(c)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const gain = name.endsWith('norm') || /^speculator\.ln\.\d+\.weight$/.test(name); // norm gains
    const bound = gain ? 0.2 : shape.length === 2 ? 1.5 / Math.sqrt(shape[1]) : 0.5;
    const v = randomArray(size, ++s, -bound, bound);
    if (gain) for (let i = 0; i < size; i++) v[i] += 1;
    if (name === 'heads.d2t') for (let j = 0; j < size; j++) v[j] = Math.floor((j * c.vocabSize) / size);
    values.set(name, v);
  }
  return values;
}

/** A heads file holding `values` (same layout and metadata as saveHead writes). */
export function headsFile(c: HeadConfig, values: Map<string, Float32Array>, meta: Record<string, string> = {}): Uint8Array {
  const tensors = new Map<string, SafetensorsInput>();
  for (const [name, shape] of headParameterShapes(c)) {
    const data = values.get(name)!;
    tensors.set(name, isTokenMap(name) ? { shape, data: Int32Array.from(data), dtype: 'I32' } : { shape, data }); // d2t as the trainer writes it
  }
  return serializeSafetensors(tensors, { format: HEADS_FORMAT, version: HEADS_VERSION, config: JSON.stringify(c), ...meta });
}

/** Index of the largest value, first on ties. */
export function argmaxCpu(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

/** Depth 3, ranks up to 3, parents with 0, 1 and 3 children. */
export const SMALL_TREE = CandidateTree.fromPaths([[0], [1], [2], [3], [0, 0], [0, 1], [0, 2], [1, 0], [0, 0, 0], [0, 1, 0], [1, 0, 0], [1, 0, 1]], { name: 'small' });

/** Random committed hidden states [n, dim] on `device` and their last row, h_t. */
export function hiddenRows(device: Device, n: number, dim: number, seed: number): { hidden: Tensor; last: Float32Array } {
  const data = randomArray(n * dim, seed);
  return { hidden: device.tensor(data, [n, dim]), last: data.slice((n - 1) * dim) };
}
