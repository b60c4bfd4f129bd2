// Heads in the layouts serving engines load, both ways: exportHead writes a head as the
// config.json + safetensors an engine reads; readEngineHead turns such files (and FasterDecoding's
// training output) back into a head config and parameter values in this package's layout.
//
// What each engine reads (from its loader, cited at each layout):
//   vllm-medusa     Medusa heads for vLLM: config model_type "medusa", blocks.{i}.layers.{j}.{weight,bias}, lm_heads.{i}.weight
//   tgi-medusa      Medusa heads for TGI and TensorRT-LLM, as FasterDecoding trains them: medusa_lm_head.safetensors, {i}.{j}.linear.*, {i}.{L}.weight
//   mlp-speculator  IBM's MLPSpeculator for vLLM and TGI: model_type "mlp_speculator", speculator.{emb,proj,head,ln}.{i}.*
//   eagle, eagle3   EAGLE draft models (vLLM, SGLang): this package's eagle heads are not written in their layout yet
import type { SafetensorsInput, SafetensorsTensor } from '@hydra-ts/model';
import { serializeSafetensors } from '@hydra-ts/model';
import { formatShape } from '@hydra-ts/tensor';
import { HEAD_KINDS, type HeadConfig } from './config';
import type { HeadBase, TopKHeads } from './draft-head';
import { HeadCheckpointError, HeadExportError, HeadMismatchError } from './errors';

export type EngineFormat = 'vllm-medusa' | 'tgi-medusa' | 'eagle' | 'eagle3' | 'mlp-speculator';

export const ENGINE_FORMATS: readonly EngineFormat[] = ['vllm-medusa', 'tgi-medusa', 'eagle', 'eagle3', 'mlp-speculator'];

/** Which head kinds each format holds. */
const FORMAT_KINDS: Record<EngineFormat, readonly HeadConfig['kind'][]> = {
  'vllm-medusa': ['medusa'],
  'tgi-medusa': ['medusa'],
  'mlp-speculator': ['mlp-speculator'],
  eagle: [],
  eagle3: [],
};

export interface ExportOptions {
  /** base_model_name_or_path in config.json: TGI starts the base model from it (hub id or path). */
  baseModel?: string;
  /** Stored dtype of every tensor (default F32); engines cast to their own --dtype on load. */
  dtype?: 'F32' | 'F16' | 'BF16';
}

export interface ExportedHead {
  /** File name -> bytes: config.json and the safetensors file the engine reads. */
  files: Map<string, Uint8Array>;
}

const TORCH_DTYPE = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' } as const;

/**
 * The files an engine loads for `head` in `format` (tensors stored as `dtype`, metadata
 * {format: "pt"} as transformers writes it). Throws HeadExportError for an unknown format or dtype
 * and when the head's kind has no such format (saying why).
 */
export async function exportHead(head: TopKHeads, format: EngineFormat, options: ExportOptions = {}): Promise<ExportedHead> {
  const c = head.config;
  checkExportable(c, format);
  const dtype = options.dtype ?? 'F32';
  if (!(dtype in TORCH_DTYPE)) throw new HeadExportError(`exportHead: dtype = ${JSON.stringify(dtype)}, expected F32, F16 or BF16`);
  const values = await head.readParameters();
  // Shared-output Medusa heads project through the base output layer; formats that need it written get a copy.
  const baseOutput = c.sharedOutput ? ((await head.base.outputWeight.read()) as Float32Array) : null;
  const layout = format === 'mlp-speculator' ? speculatorLayout(c, values) : format === 'vllm-medusa' ? vllmMedusaLayout(c, values, baseOutput) : tgiMedusaLayout(c, values, baseOutput);
  const config: Record<string, unknown> = { ...layout.config, torch_dtype: TORCH_DTYPE[dtype] };
  if (options.baseModel !== undefined) config.base_model_name_or_path = options.baseModel;
  const tensors = new Map<string, SafetensorsInput>();
  for (const [name, t] of layout.tensors) tensors.set(name, { ...t, dtype });
  const files = new Map<string, Uint8Array>();
  files.set('config.json', new TextEncoder().encode(JSON.stringify(config, null, 2) + '\n'));
  files.set(layout.file, serializeSafetensors(tensors, { format: 'pt' }));
  return { files };
}

/** Throws HeadExportError saying why `c`'s heads have no `format` file. */
export function checkExportable(c: HeadConfig, format: EngineFormat): void {
  if (!ENGINE_FORMATS.includes(format)) throw new HeadExportError(`format = ${JSON.stringify(format)}, expected one of ${ENGINE_FORMATS.join(', ')}`);
  if (FORMAT_KINDS[format].includes(c.kind)) return;
  if (format === 'eagle' || format === 'eagle3') {
    if (c.kind === 'eagle' && format === 'eagle') {
      throw new HeadExportError(`eagle: writing eagle heads in the serving engines' EAGLE checkpoint layout (vLLM, SGLang) is not supported yet; save them with saveHead`);
    }
    throw new HeadExportError(
      `${format}: an EAGLE draft model is a transformer decoder layer over the base model's features and the token embeddings${format === 'eagle3' ? ' (EAGLE-3: features of three layers, a reduced draft vocabulary mapped by d2t)' : ''}; ` +
        `of this package's head kinds (${HEAD_KINDS.join(', ')}) only eagle heads are one${format === 'eagle3' ? ', and they are EAGLE-1/2 heads, not EAGLE-3' : ''}, so ${c.kind} heads cannot be exported as ${format}. ` +
        `Medusa heads go to vllm-medusa or tgi-medusa, MLPSpeculator heads to mlp-speculator`,
    );
  }
  const why: Record<HeadConfig['kind'], string> = {
    hydra: 'Hydra heads read the drafted path\'s token embeddings (sequential input, concat(h_t, e(x_1), ..., e(x_i))), which no serving engine\'s Medusa or MLPSpeculator loader feeds; no engine loads Hydra heads',
    'hydra++': 'Hydra++ heads read the drafted path\'s token embeddings and run on a PrefixMLP (a decoder layer with its own KV cache); no serving engine loads either',
    medusa: 'Medusa heads have no token input and no inner state; an MLPSpeculator stage needs both (use --format vllm-medusa or tgi-medusa)',
    'mlp-speculator': 'MLPSpeculator stages depend on the token drafted before them, which Medusa loaders do not feed (use --format mlp-speculator)',
    eagle: 'an EAGLE head is a decoder layer with its own KV cache over the base model\'s features, not Medusa heads or MLPSpeculator stages',
  };
  throw new HeadExportError(`${format}: cannot hold ${c.kind} heads: ${why[c.kind]}`);
}

interface Layout {
  file: string;
  config: Record<string, unknown>;
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
}

// ---------------------------------------------------------------------------------------------
// vLLM Medusa. vllm/transformers_utils/configs/medusa.py (MedusaConfig: hidden_size, vocab_size,
// num_heads, num_hidden_layers, truncated_vocab_size; architectures default ["MedusaModel"]) and
// vllm/model_executor/models/medusa.py: ResidualBlock has num_hidden_layers nn.Linear(hidden,
// hidden, bias=medusa_fc_bias) each applied as x + SiLU(W x + b); Medusa.load_weights strips
// "medusa_heads.", reads blocks.{i}.layers.{j}.{weight,bias} and lm_heads.{i}.weight, or with
// original_lm_head one lm_heads.0.weight for every head; token_map only with truncated_vocab_size.

function vllmMedusaLayout(c: HeadConfig, v: Map<string, Float32Array>, baseOutput: Float32Array | null): Layout {
  const { dim, vocabSize, numHeads, layers } = c;
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (let i = 0; i < numHeads; i++) {
    for (let l = 0; l < layers; l++) {
      tensors.set(`blocks.${i}.layers.${l}.weight`, { shape: [dim, dim], data: v.get(`heads.${i}.blocks.${l}.weight`)! });
      tensors.set(`blocks.${i}.layers.${l}.bias`, { shape: [dim], data: v.get(`heads.${i}.blocks.${l}.bias`)! });
    }
  }
  // original_lm_head: vLLM uses one lm_head for all heads, here the base model's own.
  if (baseOutput) tensors.set('lm_heads.0.weight', { shape: [vocabSize, dim], data: baseOutput });
  else for (let i = 0; i < numHeads; i++) tensors.set(`lm_heads.${i}.weight`, { shape: [vocabSize, dim], data: v.get(`heads.${i}.lm_head.weight`)! });
  return {
    file: 'model.safetensors',
    config: {
      model_type: 'medusa',
      architectures: ['MedusaModel'],
      hidden_size: dim,
      vocab_size: vocabSize,
      num_heads: numHeads,
      num_hidden_layers: layers,
      truncated_vocab_size: vocabSize,
      medusa_fc_bias: true,
      original_lm_head: baseOutput !== null,
    },
    tensors,
  };
}

// ---------------------------------------------------------------------------------------------
// TGI Medusa = FasterDecoding's training output. server/text_generation_server/models/__init__.py
// (get_model): a config with medusa_num_heads is Medusa; base_model_name_or_path names the base
// model; the weights are medusa_lm_head.safetensors. layers/speculative.py (SpeculativeHead.load):
// a config with "architectures" is taken for an MLPSpeculator or nothing, so this config has none.
// layers/medusa.py: MedusaHeadV1 — head i = medusa_num_layers ResBlocks x + SiLU(linear(x))
// ({i}.{j}.linear.weight, .bias) then {i}.{L}.weight (no bias); MedusaHeadV2, used when V1 fails to
// load, needs medusa_num_layers == 1 and reuses the base lm_head ({i}.0.linear.* only).
// FasterDecoding medusa/model/medusa_model.py: MedusaConfig(medusa_num_heads, medusa_num_layers,
// base_model_name_or_path); medusa_head[i] = Sequential(*([ResBlock] * L), Linear(hidden, vocab,
// bias=False)), so the L blocks of a head are one module: its file repeats the same tensors.
// TensorRT-LLM tensorrt_llm/models/medusa/weight.py (load_medusa_hf): medusa_lm_head.pt or
// .safetensors in --medusa_model_dir, {h}.{l}.linear.weight / .bias and {h}.{L}.weight.

function tgiMedusaLayout(c: HeadConfig, v: Map<string, Float32Array>, baseOutput: Float32Array | null): Layout {
  const { dim, vocabSize, numHeads, layers } = c;
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  // Always V1, the base output layer written out for shared-output heads: TGI also reads V1 first,
  // and TensorRT-LLM's load_medusa_hf reads only V1 ({h}.{L}.weight for every head).
  for (let i = 0; i < numHeads; i++) {
    for (let l = 0; l < layers; l++) {
      tensors.set(`${i}.${l}.linear.weight`, { shape: [dim, dim], data: v.get(`heads.${i}.blocks.${l}.weight`)! });
      tensors.set(`${i}.${l}.linear.bias`, { shape: [dim], data: v.get(`heads.${i}.blocks.${l}.bias`)! });
    }
    tensors.set(`${i}.${layers}.weight`, { shape: [vocabSize, dim], data: baseOutput ?? v.get(`heads.${i}.lm_head.weight`)! });
  }
  return {
    file: 'medusa_lm_head.safetensors',
    config: { medusa_num_heads: numHeads, medusa_num_layers: layers, hidden_size: dim, vocab_size: vocabSize },
    tensors,
  };
}

// ---------------------------------------------------------------------------------------------
// MLPSpeculator. fms-extras fms_extras/models/hf/modeling_mlp_speculator.py (MLPSpeculatorConfig:
// vocab_size, emb_dim, inner_dim (0 = emb_dim), n_predict, top_k_tokens_per_head (length
// n_predict), n_candidates, tie_weights, scale_input; the model's weights under "speculator.").
// vllm/model_executor/models/mlp_speculator.py (MLPSpeculator.load_weights strips "speculator.":
// emb.{i}.weight [vocab, inner], proj.{i}.weight [inner, emb_dim or inner], head.{i}.weight
// [vocab, inner], ln.{i}.weight / .bias [inner]; with tie_weights one emb, head and ln and
// proj.0 / proj.1). TGI layers/mlp.py (MLPSpeculatorHead.load: architectures[0] ==
// "MLPSpeculatorPreTrainedModel", prefix "speculator", every *.safetensors in the directory).

function speculatorLayout(c: HeadConfig, v: Map<string, Float32Array>): Layout {
  const sc = c.speculator!;
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, shape] of speculatorShapes(c)) tensors.set(name, { shape, data: v.get(name)! });
  return {
    file: 'model.safetensors',
    config: {
      model_type: 'mlp_speculator',
      architectures: ['MLPSpeculatorPreTrainedModel'],
      vocab_size: c.vocabSize,
      emb_dim: c.dim,
      inner_dim: sc.innerDim,
      n_predict: c.numHeads,
      // vLLM and TGI draft one token per stage; fms' own generate_suffixes reads these
      top_k_tokens_per_head: new Array(c.numHeads).fill(1),
      n_candidates: 1,
      tie_weights: false,
      scale_input: sc.scaleInput,
    },
    tensors,
  };
}

function speculatorShapes(c: HeadConfig): Map<string, number[]> {
  const inner = c.speculator!.innerDim;
  const shapes = new Map<string, number[]>();
  for (let i = 0; i < c.numHeads; i++) {
    shapes.set(`speculator.emb.${i}.weight`, [c.vocabSize, inner]);
    shapes.set(`speculator.proj.${i}.weight`, [inner, i === 0 ? c.dim : inner]);
    shapes.set(`speculator.head.${i}.weight`, [c.vocabSize, inner]);
    shapes.set(`speculator.ln.${i}.weight`, [inner]);
    shapes.set(`speculator.ln.${i}.bias`, [inner]);
  }
  return shapes;
}

// ---------------------------------------------------------------------------------------------
// Import: files in those layouts back to this package's config and parameter names.

/** The layouts readEngineHead recognises. */
export type EngineLayout = 'vllm-medusa' | 'tgi-medusa' | 'mlp-speculator';

export interface EngineHead {
  layout: EngineLayout;
  config: HeadConfig;
  /** Parameter values by this package's names, shaped as headParameterShapes(config) says. */
  values: Map<string, Float32Array>;
}

/** Which engine layout a set of tensor names is in, or null. */
export function detectLayout(names: Iterable<string>): EngineLayout | null {
  for (const n of names) {
    if (/^(speculator\.)?(emb|proj|head|ln)\.\d+\.(weight|bias)$/.test(n)) return 'mlp-speculator';
    if (/^(medusa_heads\.)?(blocks\.\d+\.layers\.\d+|lm_heads\.\d+)\.(weight|bias)$/.test(n)) return 'vllm-medusa';
    if (/^\d+\.\d+\.(linear\.)?(weight|bias)$/.test(n)) return 'tgi-medusa';
  }
  return null;
}

/**
 * Heads from an engine's files: `tensors` of the weights file, `config` its config.json (or
 * null when there is none; counts are then read off the tensor names). `baseOutput`, the base
 * model's output layer [vocab, dim] when known: Medusa lm_heads equal to it become a shared
 * output rather than copies. Checked against `base`:
 * HeadMismatchError for another dim or vocabulary, HeadCheckpointError for a missing or
 * mis-shaped tensor or a config that contradicts the file.
 */
export function readEngineHead(base: HeadBase, tensors: Map<string, SafetensorsTensor>, config: Record<string, unknown> | null, file: string, baseOutput: Float32Array | null = null): EngineHead {
  const layout = detectLayout(tensors.keys());
  if (!layout) {
    throw new HeadCheckpointError(
      `${file}: neither a hydra-ts heads file nor a layout of a serving engine (vLLM blocks.{i}.layers.{j}.weight, TGI/FasterDecoding {i}.{j}.linear.weight, MLPSpeculator speculator.emb.{i}.weight); its tensors: ${[...tensors.keys()].slice(0, 6).join(', ')}`,
    );
  }
  const reader = new TensorReader(tensors, file, base);
  const cfg = config ?? {};
  if (layout === 'mlp-speculator') return { layout, ...readSpeculator(reader, cfg, base, file) };
  const medusa = layout === 'vllm-medusa' ? readVllmMedusa(reader, cfg, base, file) : readTgiMedusa(reader, cfg, base, file);
  return { layout, ...medusaOutputs(medusa, base, baseOutput, file) };
}

/** Tensor look-ups that name the file and say what was expected. */
class TensorReader {
  private readonly tensors = new Map<string, SafetensorsTensor>();

  constructor(
    tensors: Map<string, SafetensorsTensor>,
    readonly file: string,
    readonly base: HeadBase,
  ) {
    // vLLM strips "medusa_heads." and "speculator." before matching; accept either spelling
    for (const [k, t] of tensors) this.tensors.set(k.replace(/^(medusa_heads\.|speculator\.)/, ''), t);
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  /** Highest index n such that `pattern(0..n-1)` are all present. */
  count(pattern: (i: number) => string): number {
    let n = 0;
    while (this.tensors.has(pattern(n))) n++;
    return n;
  }

  /**
   * The tensor's values, after its shape is checked: `shape` gives each dimension ('dim' and
   * 'vocab' stand for the base model's; a mismatch there is a HeadMismatchError).
   */
  get(name: string, shape: Array<number | 'dim' | 'vocab'>): Float32Array {
    const t = this.tensors.get(name);
    const want = shape.map((d) => (d === 'dim' ? this.base.config.dim : d === 'vocab' ? this.base.config.vocabSize : d));
    if (!t) throw new HeadCheckpointError(`${this.file}: tensor ${name} ${formatShape(want)} is missing`);
    if (t.shape.length === want.length) {
      shape.forEach((d, i) => {
        if ((d === 'dim' || d === 'vocab') && t.shape[i] !== want[i]) {
          const what = d === 'dim' ? 'dim' : 'vocabSize';
          throw new HeadMismatchError(`${this.file}: tensor ${name} has shape ${formatShape(t.shape)}: heads of ${what} ${t.shape[i]}, the base model has ${what} ${want[i]}`);
        }
      });
    }
    if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
      throw new HeadCheckpointError(`${this.file}: tensor ${name} has shape ${formatShape(t.shape)}, expected ${formatShape(want)}`);
    }
    return t.data;
  }
}

function configInt(cfg: Record<string, unknown>, field: string, file: string, fallback: number): number {
  const v = cfg[field];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new HeadCheckpointError(`${file}: config.json ${field} = ${JSON.stringify(v)}, expected a positive integer`);
  return v;
}

/** The base model's dim / vocabulary against a config.json field that states it (when present). */
function checkBaseField(cfg: Record<string, unknown>, field: string, want: number, what: string, file: string): void {
  const v = cfg[field];
  if (typeof v === 'number' && v !== want) throw new HeadMismatchError(`${file}: config.json ${field} = ${v}: heads of ${what} ${v}, the base model has ${what} ${want}`);
}

/** A head or layer count read off a file: at least one, at most the 64 a heads file holds. */
function checkCount(what: string, n: number, file: string): number {
  if (n < 1 || n > 64) throw new HeadCheckpointError(`${file}: ${n} ${what}, expected 1 to 64 (from config.json, or counted from the tensor names without one)`);
  return n;
}

function medusaConfig(base: HeadBase, numHeads: number, layers: number, sharedOutput: boolean): HeadConfig {
  return { kind: 'medusa', numHeads, layers, dim: base.config.dim, vocabSize: base.config.vocabSize, sharedOutput, prefix: null };
}

function sameValues(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function readVllmMedusa(r: TensorReader, cfg: Record<string, unknown>, base: HeadBase, file: string): MedusaRead {
  checkBaseField(cfg, 'hidden_size', base.config.dim, 'dim', file);
  checkBaseField(cfg, 'vocab_size', base.config.vocabSize, 'vocabSize', file);
  const numHeads = checkCount('heads', configInt(cfg, 'num_heads', file, r.count((i) => `blocks.${i}.layers.0.weight`)), file);
  const layers = checkCount('layers', configInt(cfg, 'num_hidden_layers', file, r.count((j) => `blocks.0.layers.${j}.weight`)), file);
  const truncated = cfg.truncated_vocab_size;
  if ((typeof truncated === 'number' && truncated !== base.config.vocabSize) || r.has('token_map')) {
    throw new HeadCheckpointError(`${file}: a truncated draft vocabulary (truncated_vocab_size ${String(truncated)}, token_map) is not supported: these heads draft over the base model's whole vocabulary`);
  }
  const blocks = new Map<string, Float32Array>();
  for (let i = 0; i < numHeads; i++) {
    for (let l = 0; l < layers; l++) {
      blocks.set(`heads.${i}.blocks.${l}.weight`, r.get(`blocks.${i}.layers.${l}.weight`, ['dim', 'dim']));
      // vLLM builds the block linears without bias unless medusa_fc_bias: zero bias is the same block
      const bias = `blocks.${i}.layers.${l}.bias`;
      blocks.set(`heads.${i}.blocks.${l}.bias`, cfg.medusa_fc_bias === true || r.has(bias) ? r.get(bias, ['dim']) : new Float32Array(base.config.dim));
    }
  }
  // original_lm_head: one lm_heads.0.weight serves every head
  const outputs = Array.from({ length: numHeads }, (_, i) => r.get(`lm_heads.${cfg.original_lm_head === true ? 0 : i}.weight`, ['vocab', 'dim']));
  return { numHeads, layers, blocks, outputs };
}

/** What a Medusa file gives: blocks by this package's names and each head's output layer (null: the base model's). */
interface MedusaRead {
  numHeads: number;
  layers: number;
  blocks: Map<string, Float32Array>;
  outputs: Array<Float32Array | null>;
}

/** Heads whose output layers are all the base model's share it (sharedOutput) instead of holding copies. */
function medusaOutputs(m: MedusaRead, base: HeadBase, baseOutput: Float32Array | null, file: string) {
  const values = new Map(m.blocks);
  const shared = m.outputs.every((o) => o === null || (baseOutput !== null && sameValues(o, baseOutput)));
  if (!shared) {
    m.outputs.forEach((o, i) => {
      if (!o) throw new HeadCheckpointError(`${file}: head ${i} has no output layer while others have their own`);
      values.set(`heads.${i}.lm_head.weight`, o);
    });
  }
  return { config: medusaConfig(base, m.numHeads, m.layers, shared), values };
}

function readTgiMedusa(r: TensorReader, cfg: Record<string, unknown>, base: HeadBase, file: string): MedusaRead {
  checkBaseField(cfg, 'hidden_size', base.config.dim, 'dim', file);
  checkBaseField(cfg, 'vocab_size', base.config.vocabSize, 'vocabSize', file);
  const numHeads = checkCount('heads', configInt(cfg, 'medusa_num_heads', file, r.count((i) => `${i}.0.linear.weight`)), file);
  let layers = configInt(cfg, 'medusa_num_layers', file, 0);
  if (layers === 0) {
    // no config: the output layer {i}.{L}.weight is the first index without .linear
    layers = r.count((j) => `0.${j}.linear.weight`);
  }
  checkCount('layers', layers, file);
  const blocks = new Map<string, Float32Array>();
  for (let i = 0; i < numHeads; i++) {
    for (let l = 0; l < layers; l++) {
      // FasterDecoding's [ResBlock] * L is one block used L times: a file may repeat it or keep only block 0
      const at = r.has(`${i}.${l}.linear.weight`) ? l : 0;
      blocks.set(`heads.${i}.blocks.${l}.weight`, r.get(`${i}.${at}.linear.weight`, ['dim', 'dim']));
      blocks.set(`heads.${i}.blocks.${l}.bias`, r.get(`${i}.${at}.linear.bias`, ['dim']));
    }
  }
  // V2 (no {i}.{L}.weight): every head projects through the base model's output layer
  const v2 = !r.has(`0.${layers}.weight`);
  if (v2 && layers !== 1) throw new HeadCheckpointError(`${file}: tensor 0.${layers}.weight (head 0's output layer) is missing; only one-block heads may use the base output layer (TGI MedusaHeadV2)`);
  const outputs = Array.from({ length: numHeads }, (_, i) => (v2 ? null : r.get(`${i}.${layers}.weight`, ['vocab', 'dim'])));
  return { numHeads, layers, blocks, outputs };
}

function readSpeculator(r: TensorReader, cfg: Record<string, unknown>, base: HeadBase, file: string) {
  checkBaseField(cfg, 'emb_dim', base.config.dim, 'dim', file);
  checkBaseField(cfg, 'vocab_size', base.config.vocabSize, 'vocabSize', file);
  const tied = cfg.tie_weights === true;
  const numHeads = checkCount('stages', configInt(cfg, 'n_predict', file, r.count((i) => `proj.${i}.weight`)), file);
  if (tied && numHeads < 2) throw new HeadCheckpointError(`${file}: config.json tie_weights with n_predict ${numHeads}: tied stages need at least 2`);
  const inner = configInt(cfg, 'inner_dim', file, 0) || base.config.dim; // inner_dim 0 means emb_dim
  if (cfg.scale_input !== undefined && typeof cfg.scale_input !== 'boolean') throw new HeadCheckpointError(`${file}: config.json scale_input = ${JSON.stringify(cfg.scale_input)}, expected true or false`);
  const config: HeadConfig = {
    kind: 'mlp-speculator', numHeads, layers: 1, dim: base.config.dim, vocabSize: base.config.vocabSize, sharedOutput: false, prefix: null,
    speculator: { innerDim: inner, scaleInput: cfg.scale_input === true },
  };
  // tie_weights: one emb, head and ln for every stage, proj.1 for stages 2.. (a file may still list every copy)
  const source = (kind: string, i: number) => (tied && !r.has(`${kind}.${i}.weight`) ? (kind === 'proj' ? Math.min(i, 1) : 0) : i);
  const values = new Map<string, Float32Array>();
  for (let i = 0; i < numHeads; i++) {
    values.set(`speculator.emb.${i}.weight`, r.get(`emb.${source('emb', i)}.weight`, ['vocab', inner]));
    values.set(`speculator.proj.${i}.weight`, r.get(`proj.${source('proj', i)}.weight`, [inner, i === 0 ? 'dim' : inner]));
    values.set(`speculator.head.${i}.weight`, r.get(`head.${source('head', i)}.weight`, ['vocab', inner]));
    values.set(`speculator.ln.${i}.weight`, r.get(`ln.${source('ln', i)}.weight`, [inner]));
    values.set(`speculator.ln.${i}.bias`, r.get(`ln.${source('ln', i)}.bias`, [inner]));
  }
  return { config, values };
}

