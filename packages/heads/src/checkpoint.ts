// Creating heads for a base model, and saving / loading them as safetensors with their config in
// the metadata. Loading trusts nothing: format, config, sizes against the base model and every
// tensor's name and shape are checked before any GPU memory is used.
import { listLocalDirectory, localPathKind, nodeFileSource, parseSafetensors, serializeSafetensors, type SafetensorsInput } from '@hydra-ts/model';
import { formatShape, randomArray, type Tensor } from '@hydra-ts/tensor';
import {
  EAGLE_DEFAULT_DEPTH,
  HEAD_KINDS,
  HEADS_FORMAT,
  HEADS_VERSION,
  checkFeatureLayers,
  draftVocabularyOf,
  headConfigFor,
  isTokenMap,
  headParameterShapes,
  type CreateHeadOptions,
  type HeadConfig,
  type EagleLayerConfig,
  type PrefixConfig,
} from './config';
import type { HeadBase, TopKHeads } from './draft-head';
import { EagleHead } from './eagle';
import { detectLayout, readEngineHead } from './engine-formats';
import { checkDraftIds, hostRows } from './draft-vocabulary';
import { HeadCheckpointError, HeadMismatchError } from './errors';
import { Eagle3Head } from './eagle3';
import { HydraHeads } from './hydra';
import { MedusaHeads } from './medusa';
import { MLPSpeculatorHeads } from './mlp-speculator';
import { PrefixMLP } from './prefix';

export type Heads = MedusaHeads | HydraHeads | MLPSpeculatorHeads | EagleHead | Eagle3Head;

/**
 * Fresh heads for `model`. Residual weights and biases start at zero and Hydra's residual R
 * picks h_t, so before training every head predicts what the base model predicts from h_t
 * (exactly so for Medusa and Hydra); lm_heads start as copies of the base output layer; the
 * PrefixMLP's projections are random (seeded), with wo and w2 zero so it starts as the identity
 * on the residual stream. MLPSpeculator weights start as fms-extras' reset_parameters makes them
 * (embeddings, projections and heads with standard deviation 1/√inner, here uniform and seeded;
 * norm gains one, shifts zero). An EAGLE head's fc and layer projections are random (seeded,
 * PyTorch's default Linear range), norm gains one, fc bias zero. A head with a reduced draft
 * vocabulary (EAGLE-3's always; Medusa's and Hydra's given draftVocabSize) has it as its d2t
 * (default: the first ids), and its lm_heads are the base output rows of those ids.
 */
export async function createHead(model: HeadBase, opts: CreateHeadOptions): Promise<Heads> {
  const config = headConfigFor(model.config, opts);
  const output = config.sharedOutput || config.kind === 'mlp-speculator' ? null : await model.outputWeight.read(); // [vocab, dim]
  const seed = opts.seed ?? 0;
  const d2tSize = config.eagle3?.draftVocabSize ?? config.draftVocabSize;
  const vocabulary = opts.draftVocabulary ?? (d2tSize === undefined ? undefined : Array.from({ length: d2tSize }, (_, i) => i)); // base ids scored; the first ones by default
  const values = new Map<string, Float32Array>();
  let s = 0;
  for (const [name, shape] of headParameterShapes(config)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const leaf = name.slice(name.lastIndexOf('.') + 1);
    let v: Float32Array;
    if (name.startsWith('speculator.')) {
      const bound = Math.sqrt(3 / config.speculator!.innerDim); // uniform ±√3σ has standard deviation σ = 1/√inner
      if (name.startsWith('speculator.ln.')) v = new Float32Array(size).fill(leaf === 'weight' ? 1 : 0);
      else v = randomArray(size, seed * 1009 + ++s, -bound, bound);
    } else if (name.endsWith('lm_head.weight') || name === 'eagle3.lm_head') v = vocabulary ? hostRows(output as Float32Array, config.dim, vocabulary) : Float32Array.from(output!); // the base output rows of the ids scored
    else if (isTokenMap(name)) v = Float32Array.from(vocabulary!);
    else if (name.endsWith('input.residual')) v = pickFirstBlock(shape[0], shape[1]);
    else if ((name.startsWith('prefix.') || name.startsWith('eagle.') || name.startsWith('eagle3.')) && leaf.endsWith('norm')) v = new Float32Array(size).fill(1);
    else if ((name.startsWith('eagle.') || name.startsWith('eagle3.')) && shape.length === 2) {
      const bound = 1 / Math.sqrt(shape[1]);
      v = randomArray(size, seed * 1009 + ++s, -bound, bound);
    }
    else if (name.startsWith('prefix.') && leaf !== 'wo' && leaf !== 'w2') {
      const bound = 1 / Math.sqrt(shape[1]); // PyTorch's default Linear init range
      v = randomArray(size, seed * 1009 + ++s, -bound, bound);
    } else v = new Float32Array(size);
    values.set(name, v);
  }
  return buildHeads(model, config, values);
}

export interface CreateEagleHeadOptions {
  /** Deepest tree the head drafts (numHeads in its config); default EAGLE_DEFAULT_DEPTH. */
  depth?: number;
  /** Seeds the random initialisation; default 0. */
  seed?: number;
}

/** A fresh EAGLE head for `model` (createHead with kind 'eagle'): random, seeded; for tests and as training's start. */
export async function createEagleHead(model: HeadBase, opts: CreateEagleHeadOptions = {}): Promise<EagleHead> {
  return (await createHead(model, { kind: 'eagle', numHeads: opts.depth ?? EAGLE_DEFAULT_DEPTH, seed: opts.seed })) as EagleHead;
}

/** [out, in] = [I 0 ... 0]: y = x[0:out], i.e. h_t out of concat(h_t, embeddings). */
function pickFirstBlock(out: number, inDim: number): Float32Array {
  const r = new Float32Array(out * inDim);
  for (let o = 0; o < out; o++) r[o * inDim + o] = 1;
  return r;
}

/** Uploads checked parameter values and assembles the heads. */
export function buildHeads(model: HeadBase, config: HeadConfig, values: Map<string, Float32Array>): Heads {
  const params = new Map<string, Tensor>();
  let prefix: PrefixMLP | null = null;
  try {
    for (const [name, shape] of headParameterShapes(config)) {
      if (name.startsWith('prefix.') || (name.startsWith('eagle.') && !name.startsWith('eagle.fc.'))) continue; // layer weights: the layer uploads them
      if (/^eagle3\.w[qkvo123]$/.test(name) || isTokenMap(name)) continue; // the eagle3 layer's projections and the d2t maps: the heads upload them
      const t = model.device.tensor(values.get(name)!, shape); // shape as in the layout
      t.label = name;
      params.set(name, t);
    }
    if (config.prefix) prefix = new PrefixMLP(model, config.prefix, values);
    if (config.kind === 'mlp-speculator') return new MLPSpeculatorHeads(model, config, params);
    if (config.kind === 'eagle') return new EagleHead(model, config, params, values);
    if (config.kind === 'eagle3') return new Eagle3Head(model, config, params, values);
    const d2t = draftVocabularyOf(config, values);
    return config.kind === 'medusa' ? new MedusaHeads(model, config, params, prefix, d2t) : new HydraHeads(model, config, params, prefix, d2t);
  } catch (e) {
    prefix?.dispose();
    for (const t of params.values()) t.dispose();
    throw e;
  }
}

/** The heads file: config in the metadata, parameters by their layout names (F32; d2t maps I32). */
export async function saveHead(head: TopKHeads): Promise<Uint8Array> {
  return serializeHead(head.config, await head.readParameters());
}

/** The heads file of `config` with parameter `values` under their layout names, and optional extra metadata. */
export function serializeHead(config: HeadConfig, values: ReadonlyMap<string, Float32Array>, metadata: Record<string, string> = {}): Uint8Array {
  const tensors = new Map<string, SafetensorsInput>();
  for (const [name, shape] of headParameterShapes(config)) {
    const v = values.get(name);
    if (!v) throw new HeadCheckpointError(`serializeHead: parameter ${name} is missing`);
    // a d2t holds base token ids: stored as I32
    tensors.set(name, isTokenMap(name) ? { shape, data: Int32Array.from(v), dtype: 'I32' } : { shape, data: v });
  }
  return serializeSafetensors(tensors, { ...metadata, format: HEADS_FORMAT, version: HEADS_VERSION, config: JSON.stringify(config) });
}

export interface LoadHeadOptions {
  /**
   * The config.json of a serving engine's heads given as bytes (JSON text or parsed). For a path,
   * the config.json beside the file (or in the directory) is read instead.
   */
  engineConfig?: Record<string, unknown> | string;
  /** Load parameters holding NaN or infinities (by default a HeadCheckpointError naming the tensor). */
  allowNonfinite?: boolean;
}

/**
 * Heads from a file written by saveHead, or from a serving engine's heads (vLLM Medusa, TGI /
 * FasterDecoding Medusa, MLPSpeculator; see engine-formats.ts), told apart by the tensor names:
 * bytes, a path (read with node:fs), or a directory holding config.json and the weights. Throws
 * HeadCheckpointError for anything but a well-formed heads file, HeadMismatchError when it was
 * made for a base model of another dim or vocabulary.
 */
export async function loadHead(model: HeadBase, source: Uint8Array | string, options: LoadHeadOptions = {}): Promise<Heads> {
  if (typeof source !== 'string' && !(source instanceof Uint8Array)) throw new HeadCheckpointError(`loadHead: expected the file's bytes (Uint8Array) or a path, got ${typeof source}`);
  const { bytes, file, engineConfig } = await readHeadSource(source, options);
  const parsed = parseSafetensorsOf(bytes, file);
  if (parsed.metadata.format !== HEADS_FORMAT && detectLayout(parsed.tensors.keys())) {
    // Medusa lm_heads equal to the base output layer load as a shared output, as they were exported
    const layout = detectLayout(parsed.tensors.keys());
    const baseOutput = layout === 'mlp-speculator' || layout === 'eagle3' ? null : ((await model.outputWeight.read()) as Float32Array);
    const { config, values } = readEngineHead(model, parsed.tensors, await engineConfig(), file, baseOutput);
    if (!options.allowNonfinite) for (const [name, data] of values) checkFinite(data, name, file);
    return buildHeads(model, config, values);
  }
  const { config, values } = headOfFile(parsed, file, model.config, options);
  if (config.eagle3) checkFeatureLayers(config.eagle3.featureLayers, model.config.nLayers, `${file}: config.eagle3 (a base model of ${model.config.nLayers} layers)`, (m) => new HeadMismatchError(m));
  return buildHeads(model, config, values);
}

/**
 * The config and parameter values of a heads file written by saveHead, every tensor checked
 * against the config and the base model, without touching a device. `file` names the file in errors.
 */
export function parseHeadFile(
  bytes: Uint8Array,
  file: string,
  base: { dim: number; vocabSize: number },
  opts: LoadHeadOptions = {},
): { config: HeadConfig; values: Map<string, Float32Array> } {
  if (!(bytes instanceof Uint8Array)) throw new HeadCheckpointError(`loadHead: expected the file's bytes (Uint8Array) or a path, got ${typeof bytes}`);
  return headOfFile(parseSafetensorsOf(bytes, file), file, base, opts);
}

function parseSafetensorsOf(bytes: Uint8Array, file: string): ReturnType<typeof parseSafetensors> {
  try {
    return parseSafetensors(bytes, file);
  } catch (e) {
    throw new HeadCheckpointError(`${file}: not a safetensors file: ${(e as Error).message}`, { cause: e });
  }
}

function checkFinite(data: Float32Array, name: string, file: string): void {
  for (let i = 0; i < data.length; i++) {
    const x = data[i];
    // x - x is 0 for every finite x, NaN for NaN and ±Infinity.
    if (x - x !== 0) throw new HeadCheckpointError(`${file}: tensor ${name}[${i}] = ${x}, expected finite values (pass allowNonfinite / --allow-nonfinite to load it anyway)`);
  }
}

function headOfFile(
  parsed: ReturnType<typeof parseSafetensors>,
  file: string,
  base: { dim: number; vocabSize: number },
  opts: LoadHeadOptions,
): { config: HeadConfig; values: Map<string, Float32Array> } {
  const meta = parsed.metadata;
  if (meta.format !== HEADS_FORMAT) {
    throw new HeadCheckpointError(`${file}: metadata format = ${JSON.stringify(meta.format)}, expected "${HEADS_FORMAT}" (or the tensors of a serving engine's heads)`);
  }
  if (meta.version !== HEADS_VERSION) {
    throw new HeadCheckpointError(`${file}: metadata version = ${JSON.stringify(meta.version)}, expected "${HEADS_VERSION}"`);
  }
  const config = parseHeadConfig(meta.config, file);
  if (config.dim !== base.dim) throw new HeadMismatchError(`${file}: heads have dim ${config.dim}, the base model has dim ${base.dim}`);
  if (config.vocabSize !== base.vocabSize) {
    throw new HeadMismatchError(`${file}: heads have vocabSize ${config.vocabSize}, the base model has vocabSize ${base.vocabSize}`);
  }
  const shapes = headParameterShapes(config);
  const values = new Map<string, Float32Array>();
  for (const [name, shape] of shapes) {
    const t = parsed.tensors.get(name);
    if (!t) throw new HeadCheckpointError(`${file}: tensor ${name} ${formatShape(shape)} is missing`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new HeadCheckpointError(`${file}: tensor ${name} has shape ${formatShape(t.shape)}, expected ${formatShape(shape)}`);
    }
    if (!opts.allowNonfinite) checkFinite(t.data, name, file);
    values.set(name, t.data);
  }
  // a d2t (eagle3.d2t, heads.d2t): the draft vocabulary sorted by base id
  for (const name of shapes.keys()) if (isTokenMap(name)) checkDraftIds(values.get(name)!, base.vocabSize, `${file}: ${name}`, (m) => new HeadCheckpointError(m));
  const extra = [...parsed.tensors.keys()].filter((n) => !shapes.has(n));
  if (extra.length > 0) {
    throw new HeadCheckpointError(`${file}: unexpected tensor${extra.length > 1 ? 's' : ''} ${extra.slice(0, 8).join(', ')}${extra.length > 8 ? `, … (${extra.length} in all)` : ''} for ${config.kind} heads (numHeads ${config.numHeads}, layers ${config.layers}, sharedOutput ${config.sharedOutput})`);
  }
  return { config, values };
}

/** A value for a message: short, and safe on nesting too deep for JSON.stringify. */
function shown(v: unknown): string {
  try {
    const t = JSON.stringify(v) ?? String(v);
    return t.length > 60 ? `${t.slice(0, 60)}…` : t;
  } catch {
    return '(nested too deeply)';
  }
}

/** An engine's config.json is a few KiB; refuse anything far larger unread. */
const MAX_ENGINE_CONFIG_BYTES = 16 * 2 ** 20;

/** The weights file names engines use, in the order a directory is searched. */
const ENGINE_WEIGHT_FILES = ['medusa_lm_head.safetensors', 'model.safetensors'];

/** The bytes of a heads source, its name for messages, and how to get an engine config.json for it. */
async function readHeadSource(source: Uint8Array | string, options: LoadHeadOptions) {
  const given = options.engineConfig;
  if (typeof source !== 'string') {
    return { bytes: source, file: 'heads file', engineConfig: async () => (given === undefined ? null : parseEngineConfig(given, 'engineConfig')) };
  }
  let file = source;
  if ((await localPathKind(source)) === 'directory') {
    const names = await listLocalDirectory(source);
    const weights = ENGINE_WEIGHT_FILES.find((n) => names.includes(n)) ?? (names.filter((n) => n.endsWith('.safetensors')).length === 1 ? names.find((n) => n.endsWith('.safetensors')) : undefined);
    if (!weights) throw new HeadCheckpointError(`${source}: a heads directory needs ${ENGINE_WEIGHT_FILES.join(' or ')} (or exactly one .safetensors file); it holds ${names.join(', ') || 'nothing'}`);
    file = `${source.replace(/\/+$/, '')}/${weights}`;
  }
  // A FileSourceError names the file and what is wrong with it (missing, a device, too large).
  const bytes = await nodeFileSource('').read(file, { expected: 'a heads file (.safetensors)' });
  const slash = file.lastIndexOf('/');
  const configPath = (slash >= 0 ? file.slice(0, slash + 1) : '') + 'config.json';
  const engineConfig = async () => {
    if (given !== undefined) return parseEngineConfig(given, 'engineConfig');
    const files = nodeFileSource('');
    if (!(await files.exists(configPath))) return null;
    const bytes = await files.read(configPath, { maxBytes: MAX_ENGINE_CONFIG_BYTES, expected: "an engine's config.json" });
    return parseEngineConfig(new TextDecoder().decode(bytes), configPath);
  };
  return { bytes, file, engineConfig };
}

function parseEngineConfig(c: Record<string, unknown> | string, where: string): Record<string, unknown> {
  let v: unknown = c;
  if (typeof c === 'string') {
    try {
      v = JSON.parse(c);
    } catch (e) {
      throw new HeadCheckpointError(`${where}: not JSON: ${(e as Error).message}`, { cause: e });
    }
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new HeadCheckpointError(`${where}: expected a JSON object (an engine's config.json)`);
  return v as Record<string, unknown>;
}

function parseHeadConfig(text: string | undefined, file: string): HeadConfig {
  if (text === undefined) throw new HeadCheckpointError(`${file}: metadata has no config`);
  let c: Record<string, unknown>;
  try {
    c = JSON.parse(text);
  } catch (e) {
    throw new HeadCheckpointError(`${file}: metadata config is not JSON: ${(e as Error).message}`, { cause: e });
  }
  if (c === null || typeof c !== 'object' || Array.isArray(c)) throw new HeadCheckpointError(`${file}: metadata config must be a JSON object`);
  const bad = (field: string, expected: string) => new HeadCheckpointError(`${file}: config.${field} = ${shown(c[field])}, expected ${expected}`);
  const int = (field: string, obj: Record<string, unknown> = c, max = 1 << 24) => {
    const v = obj[field];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) throw bad(field, `an integer in [1, ${max}]`);
    return v;
  };
  if (!HEAD_KINDS.includes(c.kind as never)) throw bad('kind', HEAD_KINDS.map((k) => `"${k}"`).join(', '));
  const kind = c.kind as HeadConfig['kind'];
  const numHeads = int('numHeads', c, 64);
  const layers = int('layers', c, 64);
  const dim = int('dim');
  const vocabSize = int('vocabSize');
  if (typeof c.sharedOutput !== 'boolean') throw bad('sharedOutput', 'true or false');
  let prefix: PrefixConfig | null = null;
  if (kind === 'mlp-speculator') {
    const sp = c.speculator as Record<string, unknown> | null | undefined;
    if (sp === null || typeof sp !== 'object') throw bad('speculator', 'an object { innerDim, scaleInput } (mlp-speculator heads)');
    const innerDim = sp.innerDim;
    if (typeof innerDim !== 'number' || !Number.isInteger(innerDim) || innerDim < 1 || innerDim > 1 << 16) {
      throw new HeadCheckpointError(`${file}: config.speculator.innerDim = ${JSON.stringify(innerDim)}, expected an integer in [1, 65536]`);
    }
    if (typeof sp.scaleInput !== 'boolean') throw new HeadCheckpointError(`${file}: config.speculator.scaleInput = ${JSON.stringify(sp.scaleInput)}, expected true or false`);
    if (layers !== 1) throw bad('layers', '1 (mlp-speculator stages have one layer each)');
    if (c.sharedOutput) throw bad('sharedOutput', 'false (mlp-speculator stages have their own heads)');
    if (c.prefix !== null && c.prefix !== undefined) throw bad('prefix', 'null (mlp-speculator heads have no PrefixMLP)');
    return { kind, numHeads, layers, dim, vocabSize, sharedOutput: false, prefix: null, speculator: { innerDim, scaleInput: sp.scaleInput } };
  }
  if (kind === 'eagle') {
    if (layers !== 1) throw bad('layers', '1 (an eagle head is one decoder layer)');
    if (c.sharedOutput !== true) throw bad('sharedOutput', 'true (an eagle head scores with the base output layer)');
    if (c.prefix !== null && c.prefix !== undefined) throw bad('prefix', 'null (eagle heads have no PrefixMLP)');
    const eagle = parseLayerShape(c.eagle, 'eagle', file, 'an object (the eagle draft layer\'s shape)');
    const inputNorm = (c.eagle as Record<string, unknown>).inputNorm;
    if (inputNorm !== undefined && typeof inputNorm !== 'boolean') throw new HeadCheckpointError(`${file}: config.eagle.inputNorm = ${shown(inputNorm)}, expected true or false`);
    if (inputNorm === false) eagle.inputNorm = false;
    const fcBias = (c.eagle as Record<string, unknown>).fcBias;
    if (fcBias !== undefined && typeof fcBias !== 'boolean') throw new HeadCheckpointError(`${file}: config.eagle.fcBias = ${shown(fcBias)}, expected true or false`);
    if (fcBias === false) (eagle as EagleLayerConfig).fcBias = false;
    return { kind, numHeads, layers, dim, vocabSize, sharedOutput: true, prefix: null, eagle };
  }
  if (kind === 'eagle3') {
    if (layers !== 1) throw bad('layers', '1 (an eagle3 head is one decoder layer)');
    if (c.prefix !== null && c.prefix !== undefined) throw bad('prefix', 'null (eagle3 heads have no PrefixMLP)');
    const e = c.eagle3 as Record<string, unknown> | null | undefined;
    if (e === null || typeof e !== 'object' || Array.isArray(e)) throw bad('eagle3', 'an object { nHeads, nKvHeads, headDim, hiddenDim, featureLayers, draftVocabSize }');
    const eint = (f: string, max = 1 << 20) => {
      const v = e[f];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) throw new HeadCheckpointError(`${file}: config.eagle3.${f} = ${shown(v)}, expected an integer in [1, ${max}]`);
      return v;
    };
    const eagle3 = {
      nHeads: eint('nHeads'), nKvHeads: eint('nKvHeads'), headDim: eint('headDim'), hiddenDim: eint('hiddenDim'),
      featureLayers: checkFeatureLayers(e.featureLayers, 1 << 16, `${file}: config.eagle3`, (m) => new HeadCheckpointError(m)),
      draftVocabSize: eint('draftVocabSize', vocabSize),
    };
    if (eagle3.nHeads % eagle3.nKvHeads !== 0) throw new HeadCheckpointError(`${file}: config.eagle3.nHeads ${eagle3.nHeads} is not a multiple of nKvHeads ${eagle3.nKvHeads}`);
    return { kind, numHeads, layers, dim, vocabSize, sharedOutput: false, prefix: null, eagle3 };
  }
  if (kind === 'hydra++') {
    prefix = parseLayerShape(c.prefix, 'prefix', file, 'an object (hydra++ heads have a PrefixMLP)');
  } else if (c.prefix !== null && c.prefix !== undefined) {
    throw bad('prefix', `null (${kind} heads have no PrefixMLP)`);
  }
  const config: HeadConfig = { kind, numHeads, layers, dim, vocabSize, sharedOutput: c.sharedOutput, prefix };
  if (c.draftVocabSize !== undefined) config.draftVocabSize = int('draftVocabSize', c, vocabSize);
  return config;
}

/** A draft decoder layer's shape at config.<field> (the PrefixMLP's, the EAGLE layer's), every field checked. */
function parseLayerShape(value: unknown, field: string, file: string, expected: string): PrefixConfig {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new HeadCheckpointError(`${file}: config.${field} = ${shown(value)}, expected ${expected}`);
  const p = value as Record<string, unknown>;
  const pint = (f: string) => {
    const v = p[f];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 1 << 20) {
      throw new HeadCheckpointError(`${file}: config.${field}.${f} = ${shown(v)}, expected a positive integer`);
    }
    return v;
  };
  const pnum = (f: string) => {
    const v = p[f];
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) throw new HeadCheckpointError(`${file}: config.${field}.${f} = ${shown(v)}, expected a positive number`);
    return v;
  };
  if (p.ropeLayout !== 'interleaved' && p.ropeLayout !== 'half') {
    throw new HeadCheckpointError(`${file}: config.${field}.ropeLayout = ${shown(p.ropeLayout)}, expected "interleaved" or "half"`);
  }
  const shape: PrefixConfig = {
    hiddenDim: pint('hiddenDim'),
    nHeads: pint('nHeads'),
    nKvHeads: pint('nKvHeads'),
    headDim: pint('headDim'),
    ropeTheta: pnum('ropeTheta'),
    ropeLayout: p.ropeLayout,
    normEps: pnum('normEps'),
  };
  if (shape.nHeads % shape.nKvHeads !== 0) throw new HeadCheckpointError(`${file}: config.${field}.nHeads ${shape.nHeads} is not a multiple of nKvHeads ${shape.nKvHeads}`);
  return shape;
}
