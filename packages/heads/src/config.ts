// What a head file describes: the kind of heads, their sizes, and the base model they fit.
import type { LayerConfig, LlamaConfig } from '@hydra-ts/model';
import { draftLayerShapes } from './draft-layer';
import { checkDraftIds } from './draft-vocabulary';
import { HeadOptionError } from './errors';

export type HeadKind = 'medusa' | 'hydra' | 'hydra++' | 'mlp-speculator' | 'eagle' | 'eagle3';

export const HEAD_KINDS: readonly HeadKind[] = ['medusa', 'hydra', 'hydra++', 'mlp-speculator', 'eagle', 'eagle3'];

/** Trees an EAGLE head drafts by default at most this deep (its numHeads when not given). */
export const EAGLE_DEFAULT_DEPTH = 6;

/** The sizes of an MLPSpeculator beyond the base model's (fms-extras' inner_dim and scale_input). */
export interface SpeculatorConfig {
  /** Width of the speculator's state (inner_dim); the base model's dim unless given. */
  innerDim: number;
  /** Normalise h_t (RMS, no gain) and scale it by 1/√2 before the first stage. */
  scaleInput: boolean;
}

/** The Llama layer shape of a PrefixMLP (the base model's own layer shape, without q/k/v biases). */
export type PrefixConfig = Omit<LayerConfig, 'dim' | 'qkvBias'>;

/** An EAGLE head's draft layer shape, and whether its fc has a bias (default true; false: no eagle.fc.bias, as vLLM's fc). */
export type EagleLayerConfig = PrefixConfig & { fcBias?: boolean };

/**
 * An EAGLE-3 head's shape (Li et al. 2025, "EAGLE-3: Scaling up Inference Acceleration of Large
 * Language Models via Training-Time Test"): one draft layer whose q/k/v read [rms(e)·input_norm;
 * rms(a)·hidden_norm] (2·dim wide), a = W_fc [F_low; F_mid; F_high] for committed rows, and its own
 * output layer over a draft vocabulary of draftVocabSize ids, mapped to base ids by eagle3.d2t.
 * RoPE and the RMSNorm eps are the base model's.
 */
export interface Eagle3Config {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  hiddenDim: number;
  /** The base model layers whose inputs are the features (model.forward's capture), low, mid, high. */
  featureLayers: [number, number, number];
  draftVocabSize: number;
}

/** featureLayers by default: vLLM's (2, floor(L/2), L-3) when distinct and in range, else [1, floor(L/2), L-1]. */
export function defaultFeatureLayers(nLayers: number): [number, number, number] {
  const mid = Math.floor(nLayers / 2);
  const vllm: [number, number, number] = [2, mid, nLayers - 3];
  if (vllm[0] < vllm[1] && vllm[1] < vllm[2] && vllm[2] < nLayers) return vllm;
  return [1, mid, nLayers - 1];
}

/** An EAGLE-3 head's tensor names and shapes (the spec's layout; linear weights [out, in]). */
export function eagle3Shapes(dim: number, e: Eagle3Config): Map<string, number[]> {
  const qDim = e.nHeads * e.headDim;
  const kvDim = e.nKvHeads * e.headDim;
  return new Map([
    ['eagle3.fc.weight', [dim, 3 * dim]],
    ['eagle3.input_norm', [dim]],
    ['eagle3.hidden_norm', [dim]],
    ['eagle3.wq', [qDim, 2 * dim]],
    ['eagle3.wk', [kvDim, 2 * dim]],
    ['eagle3.wv', [kvDim, 2 * dim]],
    ['eagle3.wo', [dim, qDim]],
    ['eagle3.ffn_norm', [dim]],
    ['eagle3.w1', [e.hiddenDim, dim]],
    ['eagle3.w3', [e.hiddenDim, dim]],
    ['eagle3.w2', [dim, e.hiddenDim]],
    ['eagle3.norm', [dim]],
    ['eagle3.lm_head', [e.draftVocabSize, dim]],
    ['eagle3.d2t', [e.draftVocabSize]],
  ]);
}

/** The tensors of a heads file that hold base token ids (a draft vocabulary's map), stored as I32. */
export function isTokenMap(name: string): boolean {
  return name === 'eagle3.d2t' || name === 'heads.d2t';
}

/** Where a head's draft vocabulary map (d2t) is in its heads file. */
export function tokenMapName(c: HeadConfig): string {
  return c.kind === 'eagle3' ? 'eagle3.d2t' : 'heads.d2t';
}

/** The base ids a head's logits score, in order (its d2t), or null for the whole vocabulary. Values by heads-file name. */
export function draftVocabularyOf(c: HeadConfig, values: ReadonlyMap<string, Float32Array>): Int32Array | null {
  const d2t = values.get(tokenMapName(c));
  return d2t ? Int32Array.from(d2t) : null;
}

/** Stored as JSON in the safetensors metadata under `config`. */
export interface HeadConfig {
  kind: HeadKind;
  /** Draft heads, i.e. the deepest tree level the heads can fill. */
  numHeads: number;
  /** Residual blocks per head (for Hydra the input block counts as the first). */
  layers: number;
  dim: number;
  vocabSize: number;
  /** Heads project through the frozen base output layer instead of their own lm_head. */
  sharedOutput: boolean;
  prefix: PrefixConfig | null;
  /** MLPSpeculator heads only. */
  speculator?: SpeculatorConfig;
  /**
   * EAGLE heads only: the shape of the draft decoder layer (by default the base model's own
   * layer shape). numHeads is then the deepest tree the head drafts (one layer, run again per
   * depth), layers is 1 and sharedOutput true (tokens are scored with the base output layer).
   */
  eagle?: EagleLayerConfig;
  /** EAGLE-3 heads only (numHeads: the deepest tree drafted, layers 1, sharedOutput false). */
  eagle3?: Eagle3Config;
  /**
   * Medusa, Hydra and Hydra++ heads with a reduced draft vocabulary (FR-Spec, as EAGLE-3's): every
   * head scores only these many tokens, the base ids in heads.d2t (strictly increasing); their
   * lm_heads are [draftVocabSize, dim], and a shared output uses the base output rows of those
   * ids. Absent: the whole vocabulary.
   */
  draftVocabSize?: number;
}

export interface CreateHeadOptions {
  kind: HeadKind;
  numHeads: number;
  /** Default 1 for 'medusa' and 'hydra', 4 for 'hydra++'. */
  layers?: number;
  sharedOutput?: boolean;
  /** Seeds the random parts of the initialisation (PrefixMLP projections, MLPSpeculator weights). Default 0. */
  seed?: number;
  /** MLPSpeculator: width of its state (default: the base model's dim). */
  innerDim?: number;
  /** MLPSpeculator: normalise h_t before the first stage (default false). */
  scaleInput?: boolean;
  /**
   * EAGLE: RMSNorm the layer's input g before attention (default true). false is EAGLE's own
   * draft layer, whose first layer has no input norm, the layout vLLM and SGLang load
   * (exportHead 'eagle').
   */
  inputNorm?: boolean;
  /** EAGLE: fc [e; f] has a bias (default true). false: none, as vLLM's EAGLE fc (exportHead 'eagle', engine 'vllm'). */
  fcBias?: boolean;
  /** EAGLE-3: the base layers whose inputs are the features (default defaultFeatureLayers). */
  featureLayers?: [number, number, number];
  /**
   * EAGLE-3, Medusa, Hydra, Hydra++: the draft vocabulary's size (EAGLE-3's default min(vocab,
   * 32000); the others' default the whole vocabulary), or draftVocabulary's length; without
   * draftVocabulary, createHead's d2t is the first ids.
   */
  draftVocabSize?: number;
  /** The draft vocabulary as strictly increasing base ids (e.g. a corpus's most frequent tokens): createHead's d2t, and its lm_heads' rows (copies of the base output rows). */
  draftVocabulary?: ArrayLike<number>;
}

export const HEADS_FORMAT = 'hydra-ts-heads';
export const HEADS_VERSION = '1';

/** Upper bounds that keep a corrupt or mistyped config from asking for absurd allocations. */
const MAX_HEADS = 64;
const MAX_LAYERS = 64;

function checkCount(field: string, value: unknown, max: number, where: string): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new HeadOptionError(`${where}: ${field} = ${String(value)}, expected an integer in [1, ${max}]`);
  }
}

export function prefixConfigOf(c: LlamaConfig): PrefixConfig {
  return { hiddenDim: c.hiddenDim, nHeads: c.nHeads, nKvHeads: c.nKvHeads, headDim: c.headDim, ropeTheta: c.ropeTheta, ropeLayout: c.ropeLayout, normEps: c.normEps };
}

/** The HeadConfig createHead builds for `base`; throws HeadOptionError naming the bad option. */
export function headConfigFor(base: LlamaConfig, opts: CreateHeadOptions): HeadConfig {
  const where = 'createHead';
  if (opts === null || typeof opts !== 'object') throw new HeadOptionError(`${where}: options must be an object with kind and numHeads`);
  if (!HEAD_KINDS.includes(opts.kind)) {
    throw new HeadOptionError(`${where}: kind = ${JSON.stringify(opts.kind)}, expected one of ${HEAD_KINDS.join(', ')}`);
  }
  checkCount('numHeads', opts.numHeads, MAX_HEADS, where);
  const layers = opts.layers ?? (opts.kind === 'hydra++' ? 4 : 1);
  checkCount('layers', layers, MAX_LAYERS, where);
  if (opts.kind === 'mlp-speculator') return speculatorConfigFor(base, opts, layers);
  if (opts.kind === 'eagle') return eagleConfigFor(base, opts, layers);
  if (opts.kind === 'eagle3') return eagle3ConfigFor(base, opts, layers);
  if (opts.featureLayers !== undefined) throw new HeadOptionError(`${where}: featureLayers is an option of eagle3 heads, not of ${opts.kind} heads`);
  if (opts.innerDim !== undefined || opts.scaleInput !== undefined) {
    throw new HeadOptionError(`${where}: innerDim and scaleInput are options of mlp-speculator heads, not of ${opts.kind} heads`);
  }
  if (opts.inputNorm !== undefined || opts.fcBias !== undefined) throw new HeadOptionError(`${where}: inputNorm and fcBias are options of eagle heads, not of ${opts.kind} heads`);
  if (opts.sharedOutput !== undefined && typeof opts.sharedOutput !== 'boolean') {
    throw new HeadOptionError(`${where}: sharedOutput = ${String(opts.sharedOutput)}, expected a boolean`);
  }
  if (opts.seed !== undefined && !Number.isInteger(opts.seed)) {
    throw new HeadOptionError(`${where}: seed = ${String(opts.seed)}, expected an integer`);
  }
  const config: HeadConfig = {
    kind: opts.kind,
    numHeads: opts.numHeads,
    layers,
    dim: base.dim,
    vocabSize: base.vocabSize,
    sharedOutput: opts.sharedOutput ?? false,
    prefix: opts.kind === 'hydra++' ? prefixConfigOf(base) : null,
  };
  const draftVocabSize = draftVocabSizeOf(opts, base.vocabSize, where);
  if (draftVocabSize !== undefined) config.draftVocabSize = draftVocabSize; // written only when set, so files without one read as before
  return config;
}

function eagleConfigFor(base: LlamaConfig, opts: CreateHeadOptions, layers: number): HeadConfig {
  const where = 'createHead';
  noDraftVocabulary(opts, where);
  if (layers !== 1) throw new HeadOptionError(`${where}: layers = ${layers}, an eagle head is exactly one decoder layer`);
  if (opts.sharedOutput === false) throw new HeadOptionError(`${where}: sharedOutput = false, an eagle head scores its tokens with the base model's output layer`);
  if (opts.innerDim !== undefined || opts.scaleInput !== undefined) {
    throw new HeadOptionError(`${where}: innerDim and scaleInput are options of mlp-speculator heads, not of eagle heads`);
  }
  if (opts.seed !== undefined && !Number.isInteger(opts.seed)) throw new HeadOptionError(`${where}: seed = ${String(opts.seed)}, expected an integer`);
  if (opts.inputNorm !== undefined && typeof opts.inputNorm !== 'boolean') throw new HeadOptionError(`${where}: inputNorm = ${String(opts.inputNorm)}, expected a boolean`);
  if (opts.fcBias !== undefined && typeof opts.fcBias !== 'boolean') throw new HeadOptionError(`${where}: fcBias = ${String(opts.fcBias)}, expected a boolean`);
  // inputNorm and fcBias are written only when off, so heads files from before them read the same
  const eagle: EagleLayerConfig = prefixConfigOf(base);
  if (opts.inputNorm === false) eagle.inputNorm = false;
  if (opts.fcBias === false) eagle.fcBias = false;
  return { kind: 'eagle', numHeads: opts.numHeads, layers: 1, dim: base.dim, vocabSize: base.vocabSize, sharedOutput: true, prefix: null, eagle };
}

/** Throws HeadOptionError unless `layers` are three increasing base layers in [0, nLayers). */
export function checkFeatureLayers(layers: unknown, nLayers: number, where: string, make: (m: string) => Error = (m) => new HeadOptionError(m)): [number, number, number] {
  const ok = Array.isArray(layers) && layers.length === 3 && layers.every((l, i) => Number.isInteger(l) && l >= 0 && l < nLayers && (i === 0 || l > layers[i - 1]));
  if (!ok) throw make(`${where}: featureLayers = ${JSON.stringify(layers)}, expected three increasing base layers in [0, nLayers = ${nLayers})`);
  return [...(layers as number[])] as [number, number, number];
}

/** EAGLE and MLPSpeculator heads score the whole vocabulary (the base output layer, fms-extras' heads). */
function noDraftVocabulary(opts: CreateHeadOptions, where: string): void {
  if (opts.featureLayers !== undefined || opts.draftVocabSize !== undefined || opts.draftVocabulary !== undefined) {
    throw new HeadOptionError(`${where}: featureLayers, draftVocabSize and draftVocabulary are not options of ${opts.kind} heads (draftVocabSize: eagle3, medusa, hydra and hydra++ heads)`);
  }
}

/**
 * The draft vocabulary's size the options ask for (draftVocabSize, else draftVocabulary's length,
 * else `fallback`), checked with draftVocabulary against a `vocab`-token base; undefined for none.
 */
function draftVocabSizeOf(opts: CreateHeadOptions, vocab: number, where: string, fallback?: number): number | undefined {
  const ids = opts.draftVocabulary;
  if (ids !== undefined && (ids === null || typeof ids !== 'object' || typeof ids.length !== 'number')) throw new HeadOptionError(`${where}: draftVocabulary must be an array of base token ids`);
  const size = opts.draftVocabSize ?? ids?.length ?? fallback;
  if (size === undefined) return undefined;
  checkCount('draftVocabSize', size, vocab, where);
  if (opts.draftVocabulary !== undefined) checkDraftVocabulary(opts.draftVocabulary, size, vocab, where);
  return size;
}

/** A draft vocabulary: `size` strictly increasing base ids in [0, vocab). */
function checkDraftVocabulary(ids: ArrayLike<number>, size: number, vocab: number, where: string): void {
  if (ids.length !== size) throw new HeadOptionError(`${where}: draftVocabulary has ${ids.length} ids, expected draftVocabSize = ${size}`);
  checkDraftIds(ids, vocab, `${where}: draftVocabulary`, (m) => new HeadOptionError(m));
}

function eagle3ConfigFor(base: LlamaConfig, opts: CreateHeadOptions, layers: number): HeadConfig {
  const where = 'createHead';
  if (layers !== 1) throw new HeadOptionError(`${where}: layers = ${layers}, an eagle3 head is exactly one decoder layer`);
  if (opts.sharedOutput === true) throw new HeadOptionError(`${where}: sharedOutput = true, an eagle3 head scores its tokens with its own lm_head over the draft vocabulary`);
  if (opts.innerDim !== undefined || opts.scaleInput !== undefined || opts.inputNorm !== undefined || opts.fcBias !== undefined) {
    throw new HeadOptionError(`${where}: innerDim, scaleInput, inputNorm and fcBias are not options of eagle3 heads`);
  }
  if (opts.seed !== undefined && !Number.isInteger(opts.seed)) throw new HeadOptionError(`${where}: seed = ${String(opts.seed)}, expected an integer`);
  const featureLayers = checkFeatureLayers(opts.featureLayers ?? defaultFeatureLayers(base.nLayers), base.nLayers, where);
  const draftVocabSize = draftVocabSizeOf(opts, base.vocabSize, where, Math.min(base.vocabSize, 32000))!;
  const eagle3: Eagle3Config = { nHeads: base.nHeads, nKvHeads: base.nKvHeads, headDim: base.headDim, hiddenDim: base.hiddenDim, featureLayers, draftVocabSize };
  return { kind: 'eagle3', numHeads: opts.numHeads, layers: 1, dim: base.dim, vocabSize: base.vocabSize, sharedOutput: false, prefix: null, eagle3 };
}

function speculatorConfigFor(base: LlamaConfig, opts: CreateHeadOptions, layers: number): HeadConfig {
  const where = 'createHead';
  noDraftVocabulary(opts, where);
  // Each stage is one projection, norm and activation; there is no block count to choose.
  if (layers !== 1) throw new HeadOptionError(`${where}: layers = ${layers}, mlp-speculator stages have exactly one layer each`);
  if (opts.sharedOutput) throw new HeadOptionError(`${where}: sharedOutput = true, mlp-speculator stages project their own inner_dim state through their own heads`);
  if (opts.inputNorm !== undefined || opts.fcBias !== undefined) throw new HeadOptionError(`${where}: inputNorm and fcBias are options of eagle heads, not of mlp-speculator heads`);
  const innerDim = opts.innerDim ?? base.dim;
  checkCount('innerDim', innerDim, 1 << 16, where);
  if (opts.scaleInput !== undefined && typeof opts.scaleInput !== 'boolean') throw new HeadOptionError(`${where}: scaleInput = ${String(opts.scaleInput)}, expected a boolean`);
  if (opts.seed !== undefined && !Number.isInteger(opts.seed)) throw new HeadOptionError(`${where}: seed = ${String(opts.seed)}, expected an integer`);
  return {
    kind: 'mlp-speculator',
    numHeads: opts.numHeads,
    layers: 1,
    dim: base.dim,
    vocabSize: base.vocabSize,
    sharedOutput: false,
    prefix: null,
    speculator: { innerDim, scaleInput: opts.scaleInput ?? false },
  };
}

/**
 * Every parameter of a head with its shape, in file order (linear weights are [out, in]).
 * This is the parameter layout of the heads file.
 */
export function headParameterShapes(c: HeadConfig): Map<string, number[]> {
  const { dim, vocabSize } = c;
  const shapes = new Map<string, number[]>();
  if (c.kind === 'mlp-speculator') {
    // fms-extras' own names (MLPSpeculatorPreTrainedModel.speculator), so the file is what engines load
    const inner = c.speculator!.innerDim;
    for (let i = 0; i < c.numHeads; i++) {
      shapes.set(`speculator.emb.${i}.weight`, [vocabSize, inner]);
      shapes.set(`speculator.proj.${i}.weight`, [inner, i === 0 ? dim : inner]);
      shapes.set(`speculator.head.${i}.weight`, [vocabSize, inner]);
      shapes.set(`speculator.ln.${i}.weight`, [inner]);
      shapes.set(`speculator.ln.${i}.bias`, [inner]);
    }
    return shapes;
  }
  if (c.kind === 'eagle') {
    // g = fc [e(x_{t+1}); f_t] + b, then one decoder layer (eagle.ts); no eagle.attn_norm without inputNorm
    shapes.set('eagle.fc.weight', [dim, 2 * dim]);
    if (c.eagle!.fcBias !== false) shapes.set('eagle.fc.bias', [dim]);
    for (const [name, shape] of draftLayerShapes('eagle', { dim, ...c.eagle!, qkvBias: false })) shapes.set(name, shape);
    return shapes;
  }
  if (c.kind === 'eagle3') return eagle3Shapes(dim, c.eagle3!);
  if (c.prefix) {
    for (const [name, shape] of draftLayerShapes('prefix', { dim, ...c.prefix, qkvBias: false })) shapes.set(name, shape);
    shapes.set('prefix.norm', [dim]);
  }
  const sequential = c.kind !== 'medusa';
  for (let i = 0; i < c.numHeads; i++) {
    let first = 0;
    if (sequential) {
      const width = (i + 2) * dim;
      shapes.set(`heads.${i}.input.weight`, [dim, width]);
      shapes.set(`heads.${i}.input.bias`, [dim]);
      shapes.set(`heads.${i}.input.residual`, [dim, width]);
      first = 1;
    }
    for (let l = first; l < c.layers; l++) {
      shapes.set(`heads.${i}.blocks.${l}.weight`, [dim, dim]);
      shapes.set(`heads.${i}.blocks.${l}.bias`, [dim]);
    }
    if (!c.sharedOutput) shapes.set(`heads.${i}.lm_head.weight`, [c.draftVocabSize ?? vocabSize, dim]);
  }
  if (c.draftVocabSize !== undefined) shapes.set('heads.d2t', [c.draftVocabSize]);
  return shapes;
}
