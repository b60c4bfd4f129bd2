// Heads in the layouts serving engines load, both ways: exportHead writes a head as the
// config.json + safetensors an engine reads; readEngineHead turns such files (and FasterDecoding's
// training output) back into a head config and parameter values in this package's layout.
//
// What each engine reads (from its loader, cited at each layout):
//   vllm-medusa     Medusa heads for vLLM: config model_type "medusa", blocks.{i}.layers.{j}.{weight,bias}, lm_heads.{i}.weight
//   tgi-medusa      Medusa heads for TGI and TensorRT-LLM, as FasterDecoding trains them: medusa_lm_head.safetensors, {i}.{j}.linear.*, {i}.{L}.weight
//   mlp-speculator  IBM's MLPSpeculator for vLLM and TGI: model_type "mlp_speculator", speculator.{emb,proj,head,ln}.{i}.*
//   eagle           EAGLE-1/2 draft models for vLLM and SGLang: a Llama config.json, fc.weight (+ fc.bias for SGLang), layers.0.*
//   eagle3          EAGLE-3 draft models for vLLM and SGLang: a Llama config.json (LlamaForCausalLMEagle3), fc.weight, midlayer.*, norm, lm_head, d2t, t2d
import type { LlamaConfig, RopeScaling, SafetensorsInput, SafetensorsTensor } from '@hydra-ts/model';
import { layerAttention, permuteHalfToInterleaved, permuteInterleavedToHalf, serializeSafetensors } from '@hydra-ts/model';
import { formatShape } from '@hydra-ts/tensor';
import { checkFeatureLayers, EAGLE_DEFAULT_DEPTH, eagle3Shapes, HEAD_KINDS, type Eagle3Config, type EagleLayerConfig, type HeadConfig, type PrefixConfig } from './config';
import type { HeadBase, TopKHeads } from './draft-head';
import { checkDraftIds, hostRows } from './draft-vocabulary';
import { HeadCheckpointError, HeadExportError, HeadMismatchError } from './errors';

export type EngineFormat = 'vllm-medusa' | 'tgi-medusa' | 'eagle' | 'eagle3' | 'mlp-speculator';

export const ENGINE_FORMATS: readonly EngineFormat[] = ['vllm-medusa', 'tgi-medusa', 'eagle', 'eagle3', 'mlp-speculator'];

/** Which head kinds each format holds. */
const FORMAT_KINDS: Record<EngineFormat, readonly HeadConfig['kind'][]> = {
  'vllm-medusa': ['medusa'],
  'tgi-medusa': ['medusa'],
  'mlp-speculator': ['mlp-speculator'],
  eagle: ['eagle'],
  eagle3: ['eagle3'],
};

/**
 * The engine an 'eagle' export is for. The two differ in fc alone: vLLM's EagleLlamaForCausalLM
 * builds it without a bias and rejects a file that has one, SGLang's LlamaForCausalLMEagle builds
 * it with one (and the architecture name in config.json picks the class in each).
 */
export type EagleEngine = 'vllm' | 'sglang';

export const EAGLE_ENGINES: readonly EagleEngine[] = ['vllm', 'sglang'];

export interface ExportOptions {
  /** base_model_name_or_path in config.json: TGI starts the base model from it (hub id or path). */
  baseModel?: string;
  /** Stored dtype of every tensor (default F32); engines cast to their own --dtype on load. */
  dtype?: 'F32' | 'F16' | 'BF16';
  /** 'eagle' only: the engine the draft model is for (default 'vllm'); see EagleEngine. */
  engine?: EagleEngine;
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
  const baseOutput = c.sharedOutput && c.kind !== 'eagle' ? ((await head.base.outputWeight.read()) as Float32Array) : null;
  const engine = options.engine ?? 'vllm';
  if (options.engine !== undefined && format !== 'eagle') throw new HeadExportError(`exportHead: engine is an option of the eagle format, not of ${format}`);
  if (!EAGLE_ENGINES.includes(engine)) throw new HeadExportError(`exportHead: engine = ${JSON.stringify(engine)}, expected one of ${EAGLE_ENGINES.join(', ')}`);
  const layout =
    format === 'eagle' ? eagleLayout(c, values, engine, head.base.config.maxSeqLen)
    : format === 'eagle3' ? eagle3Layout(c, values, head.base.config)
    : format === 'mlp-speculator' ? speculatorLayout(c, values)
    : format === 'vllm-medusa' ? vllmMedusaLayout(c, values, baseOutput)
    : tgiMedusaLayout(c, values, baseOutput);
  const config: Record<string, unknown> = { ...layout.config, torch_dtype: TORCH_DTYPE[dtype] };
  if (options.baseModel !== undefined) config.base_model_name_or_path = options.baseModel;
  const tensors = new Map<string, SafetensorsInput>();
  // integer tables (an EAGLE-3 draft model's d2t, t2d) keep their own dtype
  for (const [name, t] of layout.tensors) tensors.set(name, 'dtype' in t ? t : { ...t, dtype });
  const files = new Map<string, Uint8Array>();
  files.set('config.json', new TextEncoder().encode(JSON.stringify(config, null, 2) + '\n'));
  files.set(layout.file, serializeSafetensors(tensors, { format: 'pt' }));
  return { files };
}

/** Throws HeadExportError saying why `c`'s heads have no `format` file. */
export function checkExportable(c: HeadConfig, format: EngineFormat): void {
  if (!ENGINE_FORMATS.includes(format)) throw new HeadExportError(`format = ${JSON.stringify(format)}, expected one of ${ENGINE_FORMATS.join(', ')}`);
  if (format === 'eagle' && c.kind === 'eagle') {
    if (c.eagle?.inputNorm !== false) {
      throw new HeadExportError(
        `eagle: this head's draft layer RMS-normalises its input g before attention (eagle.attn_norm); the engines' EAGLE layer 0 has no input norm ` +
          `(vLLM llama_eagle.py and SGLang llama_eagle.py replace input_layernorm by the identity, as SafeAILab/EAGLE cnets1.py builds it), and no weights make the one compute the other. ` +
          `Create or train the head with inputNorm false (EAGLE's own layer; hydra train --eagle-engine vllm|sglang) to serve it in vLLM or SGLang`,
      );
    }
    return;
  }
  if (format === 'tgi-medusa' && c.draftVocabSize !== undefined) {
    throw new HeadExportError(
      `tgi-medusa: these Medusa heads score a draft vocabulary of ${c.draftVocabSize} of ${c.vocabSize} tokens; TGI's and TensorRT-LLM's Medusa loaders read full-vocabulary output layers and no token map. ` +
        `Use --format vllm-medusa (truncated_vocab_size and token_map), or heads trained over the whole vocabulary`,
    );
  }
  if (FORMAT_KINDS[format].includes(c.kind)) return;
  if (c.kind === 'eagle3' && format === 'eagle') {
    throw new HeadExportError(
      `eagle: an eagle3 head is an EAGLE-3 draft model (fc over three base layers' features, its own lm_head over a draft vocabulary of ${c.eagle3!.draftVocabSize} mapped by d2t); ` +
        `the EAGLE-1/2 loaders (vLLM and SGLang llama_eagle.py) read one feature and score with the base lm_head. Use --format eagle3`,
    );
  }
  if (format === 'eagle' || format === 'eagle3') {
    throw new HeadExportError(
      `${format}: an EAGLE draft model is a transformer decoder layer over the base model's features and the token embeddings${format === 'eagle3' ? ' (EAGLE-3: features of three layers, a reduced draft vocabulary mapped by d2t)' : ''}; ` +
        `of this package's head kinds (${HEAD_KINDS.join(', ')}) only ${format} heads are one${format === 'eagle3' ? ' (eagle heads are EAGLE-1/2 heads, not EAGLE-3: --format eagle)' : ''}, so ${c.kind} heads cannot be exported as ${format}. ` +
        `Medusa heads go to vllm-medusa or tgi-medusa, MLPSpeculator heads to mlp-speculator`,
    );
  }
  const why: Record<HeadConfig['kind'], string> = {
    hydra: 'Hydra heads read the drafted path\'s token embeddings (sequential input, concat(h_t, e(x_1), ..., e(x_i))), which no serving engine\'s Medusa or MLPSpeculator loader feeds; no engine loads Hydra heads',
    'hydra++': 'Hydra++ heads read the drafted path\'s token embeddings and run on a PrefixMLP (a decoder layer with its own KV cache); no serving engine loads either',
    medusa: 'Medusa heads have no token input and no inner state; an MLPSpeculator stage needs both (use --format vllm-medusa or tgi-medusa)',
    'mlp-speculator': 'MLPSpeculator stages depend on the token drafted before them, which Medusa loaders do not feed (use --format mlp-speculator)',
    eagle: 'an EAGLE head is a decoder layer with its own KV cache over the base model\'s features, not Medusa heads or MLPSpeculator stages',
    eagle3: 'an EAGLE-3 head is a decoder layer over three base layers\' features with its own draft vocabulary, not Medusa heads or MLPSpeculator stages',
  };
  throw new HeadExportError(`${format}: cannot hold ${c.kind} heads: ${why[c.kind]}`);
}

interface Layout {
  file: string;
  config: Record<string, unknown>;
  /** Float tensors are stored as the export's dtype; integer tables carry their own. */
  tensors: Map<string, { shape: number[]; data: Float32Array } | { shape: number[]; data: BigInt64Array | Int32Array; dtype: 'I64' } | { shape: number[]; data: Uint8Array; dtype: 'BOOL' }>;
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
  const d2t = v.get('heads.d2t'); // a draft vocabulary: vLLM's truncated_vocab_size and token_map (the base id of each draft id)
  const scored = d2t?.length ?? vocabSize;
  const tensors: Layout['tensors'] = new Map();
  for (let i = 0; i < numHeads; i++) {
    for (let l = 0; l < layers; l++) {
      tensors.set(`blocks.${i}.layers.${l}.weight`, { shape: [dim, dim], data: v.get(`heads.${i}.blocks.${l}.weight`)! });
      tensors.set(`blocks.${i}.layers.${l}.bias`, { shape: [dim], data: v.get(`heads.${i}.blocks.${l}.bias`)! });
    }
  }
  // original_lm_head: vLLM uses one lm_head for all heads, here the base model's own (its rows of the draft vocabulary).
  if (baseOutput) tensors.set('lm_heads.0.weight', { shape: [scored, dim], data: d2t ? hostRows(baseOutput, dim, d2t) : baseOutput });
  else for (let i = 0; i < numHeads; i++) tensors.set(`lm_heads.${i}.weight`, { shape: [scored, dim], data: v.get(`heads.${i}.lm_head.weight`)! });
  if (d2t) tensors.set('token_map', { shape: [scored], data: BigInt64Array.from(d2t, (id) => BigInt(id)), dtype: 'I64' });
  return {
    file: 'model.safetensors',
    config: {
      model_type: 'medusa',
      architectures: ['MedusaModel'],
      hidden_size: dim,
      vocab_size: vocabSize,
      num_heads: numHeads,
      num_hidden_layers: layers,
      truncated_vocab_size: scored,
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
// EAGLE-1/2 draft model: g = fc [e(x_{t+1}); f_t] (+ b), one Llama decoder layer without an input
// norm, scored by the target's own lm_head (no final norm), embeddings the target's.
// SafeAILab/EAGLE eagle/model/cnets1.py (Model, which ea_model.py builds for EAGLE-1/2 heads):
//   fc = nn.Linear(2·hidden_size, hidden_size, bias=config.json "bias", default true) over
//   torch.cat((inputs_embeds, hidden_states)) (embedding first); layers.{i} = LlamaDecoderLayer(config,
//   index i), input_layernorm only for index != 0, then self_attn.{q,k,v,o}_proj (no bias),
//   post_attention_layernorm, mlp.{gate,up,down}_proj (no bias); its output goes to the base
//   lm_head unnormed. ea_model.py: config.json and pytorch_model.bin or model.safetensors,
//   load_state_dict(strict=False), embed_tokens read from the base model.
// vLLM vllm/model_executor/models/llama_eagle.py (EagleLlamaForCausalLM): fc Linear(2·hidden,
//   hidden, bias=False), torch.cat((input_embeds, hidden_states)); layer 0's input_layernorm is
//   nn.Identity; load_weights prefixes "model.", stacks q/k/v_proj into qkv_proj and gate/up_proj
//   into gate_up_proj, skips embed_tokens (shared with the target) and fails on a name it has no
//   parameter for (fc.bias, layers.0.input_layernorm.weight). vllm/transformers_utils/configs/eagle.py
//   (EAGLEConfig, method "eagle"): architectures X become EagleX, so LlamaForCausalLM loads
//   EagleLlamaForCausalLM. vllm/v1/spec_decode/eagle.py asserts one draft attention layer.
// SGLang python/sglang/srt/models/llama_eagle.py (EntryClass LlamaForCausalLMEagle, picked by
//   config.json architectures): fc nn.Linear(2·hidden, hidden) with its bias, torch.cat((embeds,
//   spec_info.hidden_states)), layer 0's input_layernorm the identity, load_weights prefixes
//   "model." and skips lm_head (the target's is used).
// Both engines run the layer with rotate-half RoPE (Hugging Face Llama): interleaved-RoPE layers
// have their q/k rows permuted on the way out and back.

/** Our eagle.* layer names -> the draft model's (besides fc), in file order. */
const EAGLE_LAYER_NAMES: ReadonlyArray<[string, string]> = [
  ['wq', 'layers.0.self_attn.q_proj.weight'],
  ['wk', 'layers.0.self_attn.k_proj.weight'],
  ['wv', 'layers.0.self_attn.v_proj.weight'],
  ['wo', 'layers.0.self_attn.o_proj.weight'],
  ['ffn_norm', 'layers.0.post_attention_layernorm.weight'],
  ['w1', 'layers.0.mlp.gate_proj.weight'],
  ['w3', 'layers.0.mlp.up_proj.weight'],
  ['w2', 'layers.0.mlp.down_proj.weight'],
];

/** The draft model's tensors and their shapes for a layer of shape `s` (fc.bias only when `bias`). */
export function eagleShapes(dim: number, s: Pick<PrefixConfig, 'hiddenDim' | 'nHeads' | 'nKvHeads' | 'headDim'>, bias: boolean): Map<string, number[]> {
  const qDim = s.nHeads * s.headDim;
  const kvDim = s.nKvHeads * s.headDim;
  const shapes = new Map<string, number[]>([['fc.weight', [dim, 2 * dim]]]);
  if (bias) shapes.set('fc.bias', [dim]);
  const layer: Record<string, number[]> = {
    wq: [qDim, dim], wk: [kvDim, dim], wv: [kvDim, dim], wo: [dim, qDim], ffn_norm: [dim], w1: [s.hiddenDim, dim], w3: [s.hiddenDim, dim], w2: [dim, s.hiddenDim],
  };
  for (const [ours, theirs] of EAGLE_LAYER_NAMES) shapes.set(theirs, layer[ours]);
  return shapes;
}

function eagleLayout(c: HeadConfig, v: Map<string, Float32Array>, engine: EagleEngine, maxSeqLen: number): Layout {
  const s = c.eagle!;
  const bias = v.get('eagle.fc.bias') ?? new Float32Array(c.dim); // fcBias false: no bias, i.e. zero
  if (engine === 'vllm' && bias.some((b) => b !== 0)) {
    throw new HeadExportError(
      `eagle: this head's fc has a bias (eagle.fc.bias, largest |b| ${Math.max(...bias.map(Math.abs)).toPrecision(3)}); vLLM's EagleLlamaForCausalLM builds fc without one (vllm/model_executor/models/llama_eagle.py) and no weights of its own can add it. ` +
        `Export for SGLang (engine sglang), whose fc keeps its bias, or use a head without one (fcBias false, hydra train --eagle-engine vllm)`,
    );
  }
  const shapes = eagleShapes(c.dim, s, engine === 'sglang');
  const half = (w: Float32Array, heads: number) => (s.ropeLayout === 'interleaved' ? permuteInterleavedToHalf(w, heads, s.headDim, c.dim) : w);
  const data = new Map<string, Float32Array>([['fc.weight', v.get('eagle.fc.weight')!], ['fc.bias', bias]]);
  for (const [ours, theirs] of EAGLE_LAYER_NAMES) {
    const w = v.get(`eagle.${ours}`)!;
    data.set(theirs, ours === 'wq' ? half(w, s.nHeads) : ours === 'wk' ? half(w, s.nKvHeads) : w);
  }
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, shape] of shapes) tensors.set(name, { shape, data: data.get(name)! });
  return {
    file: 'model.safetensors',
    config: {
      // vLLM turns LlamaForCausalLM into EagleLlamaForCausalLM; SGLang loads the class named here
      architectures: [engine === 'sglang' ? 'LlamaForCausalLMEagle' : 'LlamaForCausalLM'],
      model_type: 'llama',
      hidden_size: c.dim,
      intermediate_size: s.hiddenDim,
      num_hidden_layers: 1,
      num_attention_heads: s.nHeads,
      num_key_value_heads: s.nKvHeads,
      head_dim: s.headDim,
      hidden_act: 'silu',
      rms_norm_eps: s.normEps,
      rope_theta: s.ropeTheta,
      max_position_embeddings: maxSeqLen,
      vocab_size: c.vocabSize,
      tie_word_embeddings: false,
      attention_bias: false,
      // SafeAILab/EAGLE ea_model.py builds fc with this bias flag
      bias: engine === 'sglang',
    },
    tensors,
  };
}

// ---------------------------------------------------------------------------------------------
// EAGLE-3 draft model (eagle3.ts): a = fc [F_low; F_mid; F_high], one Llama decoder layer whose
// q/k/v read u = [input_layernorm(e); hidden_norm(a)] (2·hidden wide) with residual a, a final
// norm and its own lm_head over draft_vocab_size ids; draft id j scores base id j + d2t[j].
// vLLM vllm/model_executor/models/llama_eagle3.py (Eagle3LlamaForCausalLM; "LlamaForCausalLMEagle3"
//   maps to it in vllm/model_executor/models/registry.py, and vllm/transformers_utils/configs/eagle.py
//   keeps an architecture ending in "Eagle3" for method eagle3): LlamaModel.fc = ReplicatedLinear(
//   3·target_hidden_size, hidden_size, bias=False); its LlamaDecoderLayer 0 builds qkv_proj over
//   2·hidden_size (bias only with attention_bias) and runs embeds = input_layernorm(embeds),
//   residual = hidden_states, hidden_states = hidden_norm(hidden_states) (the norm first only with
//   config norm_before_residual), torch.cat([embeds, hidden_states]), attention,
//   post_attention_layernorm, the Llama MLP, then LlamaModel.norm. Eagle3LlamaForCausalLM
//   .load_weights skips t2d, renames d2t to draft_id_to_target_id ([draft_vocab_size] torch.long),
//   prefixes every name but lm_head with "model."; LlamaModel.load_weights renames "midlayer." to
//   "layers.0." and stacks q/k/v_proj into qkv_proj, gate/up_proj into gate_up_proj; embed_tokens
//   is read only if the file has one (else the target's). compute_logits: targets =
//   arange(draft_vocab_size) + draft_id_to_target_id, logits_new[:, targets] = logits over
//   vocab_size, -inf elsewhere: d2t holds offsets (base id − draft id), not base ids.
// SGLang python/sglang/srt/models/llama_eagle3.py (EntryClass LlamaForCausalLMEagle3): fc =
//   nn.Linear(3·target_hidden_size, hidden_size, bias=config "bias", default false); midlayer
//   qkv_proj over 2·hidden_size without bias; forward residual = hidden_states, embeds =
//   input_layernorm(embeds), hidden_states = hidden_norm(hidden_states), torch.cat([embeds,
//   hidden_states]); norm; lm_head ParallelLMHead(draft_vocab_size, hidden_size) unless
//   tie_word_embeddings; load_weights: d2t -> hot_token_id = d2t + arange (offsets again), t2d
//   skipped, q/k/v and gate/up stacked, other names taken as given or under "model.".
// Both put the token embedding first, as eagle3.ts's u = [rms(e)·input_norm ; rms(a)·hidden_norm].
//
// Which base layers feed fc. This package's featureLayers l name the INPUT of base layer l
// (model.ts forward's capture: the hidden state after layer l−1; l = 0 is the embeddings).
//   vLLM vllm/v1/worker/gpu_model_runner.py (_get_eagle3_aux_layers_from_config) reads the draft
//   config.json's top-level eagle_aux_hidden_state_layer_ids (forks also eagle_config's) into
//   set_aux_hidden_state_layers; vllm/model_executor/models/llama.py LlamaModel.forward appends
//   hidden_states + residual before running layer idx when idx is listed: the input of layer idx,
//   so vLLM's ids are ours unchanged. Its default get_eagle3_aux_hidden_state_layers is
//   (2, L // 2, L − 3), that of config.ts defaultFeatureLayers when L ≥ 7.
//   SGLang python/sglang/srt/model_executor/model_runner.py reads eagle_config
//   .eagle_aux_hidden_state_layer_ids only, and llama.py set_eagle3_layers_to_capture sets
//   layers_to_capture = [id + 1 for id] ("for the ith layer, it takes the output of the (i-1)th
//   layer"): its ids name the OUTPUT of layer id, ours minus one (−1 for the embeddings, which
//   it then captures as the input of layer 0); its default [2, L // 2, L − 3] is taken as inputs,
//   as vLLM's.
// config.json holds both, each in its engine's numbering.

/** Our eagle3.* names -> the draft model's, in file order (d2t and t2d besides). */
const EAGLE3_NAMES: ReadonlyArray<[string, string]> = [
  ['fc.weight', 'fc.weight'],
  ['input_norm', 'midlayer.input_layernorm.weight'],
  ['hidden_norm', 'midlayer.hidden_norm.weight'],
  ['wq', 'midlayer.self_attn.q_proj.weight'],
  ['wk', 'midlayer.self_attn.k_proj.weight'],
  ['wv', 'midlayer.self_attn.v_proj.weight'],
  ['wo', 'midlayer.self_attn.o_proj.weight'],
  ['ffn_norm', 'midlayer.post_attention_layernorm.weight'],
  ['w1', 'midlayer.mlp.gate_proj.weight'],
  ['w3', 'midlayer.mlp.up_proj.weight'],
  ['w2', 'midlayer.mlp.down_proj.weight'],
  ['norm', 'norm.weight'],
  ['lm_head', 'lm_head.weight'],
];

/** The EAGLE-3 draft model's tensors and their shapes (d2t [draftVocabSize] int64, t2d [vocab] bool). */
export function eagle3EngineShapes(dim: number, vocabSize: number, e: Eagle3Config): Map<string, number[]> {
  const ours = eagle3Shapes(dim, e);
  const shapes = new Map<string, number[]>();
  for (const [o, theirs] of EAGLE3_NAMES) shapes.set(theirs, ours.get(`eagle3.${o}`)!);
  shapes.set('d2t', [e.draftVocabSize]);
  shapes.set('t2d', [vocabSize]);
  return shapes;
}

/** config.json rope_scaling (transformers' keys) for the base model's layer 0, or null for plain rope_theta. */
function hfRopeScaling(s: RopeScaling | null): Record<string, unknown> | null {
  if (!s) return null;
  if (s.type === 'linear') return { rope_type: 'linear', factor: s.factor };
  if (s.type === 'dynamic') return { rope_type: 'dynamic', factor: s.factor, original_max_position_embeddings: s.originalMaxPositions };
  return { rope_type: 'llama3', factor: s.factor, low_freq_factor: s.lowFreqFactor, high_freq_factor: s.highFreqFactor, original_max_position_embeddings: s.originalMaxPositions };
}

function eagle3Layout(c: HeadConfig, v: Map<string, Float32Array>, base: LlamaConfig): Layout {
  const e = c.eagle3!;
  const dim = c.dim;
  // q/k read u [2·dim]: their rows turn by the base model's RoPE layout, the engines' by rotate-half
  const half = (w: Float32Array, heads: number) => (base.ropeLayout === 'interleaved' ? permuteInterleavedToHalf(w, heads, e.headDim, 2 * dim) : w);
  const tensors: Layout['tensors'] = new Map();
  const shapes = eagle3EngineShapes(dim, c.vocabSize, e);
  for (const [ours, theirs] of EAGLE3_NAMES) {
    const w = v.get(`eagle3.${ours}`)!;
    tensors.set(theirs, { shape: shapes.get(theirs)!, data: ours === 'wq' ? half(w, e.nHeads) : ours === 'wk' ? half(w, e.nKvHeads) : w });
  }
  // d2t: our base ids -> the engines' offsets, base id − draft id; t2d marks the base ids drafted
  const ids = v.get('eagle3.d2t')!;
  const t2d = new Uint8Array(c.vocabSize);
  ids.forEach((id) => (t2d[id] = 1));
  tensors.set('d2t', { shape: [e.draftVocabSize], data: BigInt64Array.from(ids, (id, j) => BigInt(id - j)), dtype: 'I64' });
  tensors.set('t2d', { shape: [c.vocabSize], data: t2d, dtype: 'BOOL' });
  const a = layerAttention(base, 0); // the head turns by layer 0's RoPE (eagle3.ts)
  const config: Record<string, unknown> = {
    architectures: ['LlamaForCausalLMEagle3'],
    model_type: 'llama',
    hidden_size: dim,
    intermediate_size: e.hiddenDim,
    num_hidden_layers: 1,
    num_attention_heads: e.nHeads,
    num_key_value_heads: e.nKvHeads,
    head_dim: e.headDim,
    hidden_act: 'silu',
    rms_norm_eps: base.normEps,
    rope_theta: a.ropeTheta,
    max_position_embeddings: base.maxSeqLen,
    vocab_size: c.vocabSize,
    draft_vocab_size: e.draftVocabSize,
    target_hidden_size: dim,
    tie_word_embeddings: false,
    attention_bias: false,
    norm_before_residual: false,
    // vLLM: inputs of these base layers (ours); SGLang: outputs of these, i.e. ours minus one
    eagle_aux_hidden_state_layer_ids: [...e.featureLayers],
    eagle_config: { eagle_aux_hidden_state_layer_ids: e.featureLayers.map((l) => l - 1), use_aux_hidden_state: true },
  };
  const scaling = hfRopeScaling(a.ropeScaling);
  if (scaling) config.rope_scaling = scaling;
  return { file: 'model.safetensors', config, tensors };
}

// ---------------------------------------------------------------------------------------------
// Import: files in those layouts back to this package's config and parameter names.

/** The layouts readEngineHead recognises. */
export type EngineLayout = 'vllm-medusa' | 'tgi-medusa' | 'mlp-speculator' | 'eagle' | 'eagle3';

export interface EngineHead {
  layout: EngineLayout;
  config: HeadConfig;
  /** Parameter values by this package's names, shaped as headParameterShapes(config) says. */
  values: Map<string, Float32Array>;
}

/** Which engine layout a set of tensor names is in, or null. */
export function detectLayout(names: Iterable<string>): EngineLayout | null {
  const list = [...names];
  // EAGLE-3 files also hold fc.weight: their d2t / t2d vocabulary maps and midlayer tell them apart
  if (list.some((n) => /^(model\.)?(d2t|t2d|midlayer\..*)$/.test(n))) return 'eagle3';
  for (const n of list) {
    if (/^(model\.)?(fc\.(weight|bias)|layers\.\d+\.(self_attn|mlp)\..*)$/.test(n)) return 'eagle';
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
      `${file}: neither a hydra-ts heads file nor a layout of a serving engine (vLLM blocks.{i}.layers.{j}.weight, TGI/FasterDecoding {i}.{j}.linear.weight, MLPSpeculator speculator.emb.{i}.weight, EAGLE fc.weight + layers.0.*, EAGLE-3 fc.weight + midlayer.* + d2t); its tensors: ${[...tensors.keys()].slice(0, 6).join(', ')}`,
    );
  }
  const reader = new TensorReader(tensors, file, base);
  const cfg = config ?? {};
  if (layout === 'mlp-speculator') return { layout, ...readSpeculator(reader, cfg, base, file) };
  if (layout === 'eagle') return { layout, ...readEagle(reader, cfg, base, file) };
  if (layout === 'eagle3') return { layout, ...readEagle3(reader, cfg, base, file) };
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
    // vLLM strips "medusa_heads." and "speculator." before matching and prefixes EAGLE names with "model."; accept either spelling
    for (const [k, t] of tensors) this.tensors.set(k.replace(/^(medusa_heads\.|speculator\.|model\.)/, ''), t);
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  shape(name: string): readonly number[] | undefined {
    return this.tensors.get(name)?.shape;
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
  const vocab = base.config.vocabSize;
  const truncated = configInt(cfg, 'truncated_vocab_size', file, vocab);
  if (truncated > vocab) throw new HeadCheckpointError(`${file}: config.json truncated_vocab_size = ${truncated}, expected at most vocab_size ${vocab}`);
  // vLLM reads token_map only when truncated_vocab_size < vocab_size: draft id j scores base id token_map[j]
  let d2t: Float32Array | null = null;
  if (truncated < vocab) {
    if (!r.has('token_map')) throw new HeadCheckpointError(`${file}: truncated_vocab_size ${truncated} < vocab_size ${vocab} but there is no token_map [${truncated}] (the base id of each draft id)`);
    d2t = r.get('token_map', [truncated]);
    checkDraftIds(d2t, vocab, `${file}: token_map`, (m) => new HeadCheckpointError(m)); // ours keeps a draft vocabulary sorted by base id
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
  // original_lm_head: one lm_heads.0.weight serves every head; over a draft vocabulary vLLM also takes a whole-vocabulary one and keeps its token_map rows
  const outputs = Array.from({ length: numHeads }, (_, i) => {
    const name = `lm_heads.${cfg.original_lm_head === true ? 0 : i}.weight`;
    if (d2t && r.shape(name)?.[0] === vocab && vocab !== truncated) return hostRows(r.get(name, ['vocab', 'dim']), base.config.dim, d2t);
    return r.get(name, [d2t ? truncated : 'vocab', 'dim']);
  });
  return { numHeads, layers, blocks, outputs, d2t };
}

/** What a Medusa file gives: blocks by this package's names and each head's output layer (null: the base model's). */
interface MedusaRead {
  numHeads: number;
  layers: number;
  blocks: Map<string, Float32Array>;
  outputs: Array<Float32Array | null>;
  /** The base id of each draft id (vLLM's token_map), or null for the whole vocabulary. */
  d2t?: Float32Array | null;
}

/** Heads whose output layers are all the base model's share it (sharedOutput) instead of holding copies. */
function medusaOutputs(m: MedusaRead, base: HeadBase, baseOutput: Float32Array | null, file: string) {
  const values = new Map(m.blocks);
  const d2t = m.d2t ?? null;
  const reference = baseOutput && d2t ? hostRows(baseOutput, base.config.dim, d2t) : baseOutput; // what a shared output scores
  const shared = m.outputs.every((o) => o === null || (reference !== null && sameValues(o, reference)));
  if (!shared) {
    m.outputs.forEach((o, i) => {
      if (!o) throw new HeadCheckpointError(`${file}: head ${i} has no output layer while others have their own`);
      values.set(`heads.${i}.lm_head.weight`, o);
    });
  }
  const config = medusaConfig(base, m.numHeads, m.layers, shared);
  if (d2t) {
    config.draftVocabSize = d2t.length;
    values.set('heads.d2t', d2t);
  }
  return { config, values };
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


/** A config.json number field: `fallback` when absent, else a finite number > 0. */
function configNumber(cfg: Record<string, unknown>, field: string, file: string, fallback: number): number {
  const v = cfg[field];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || !(v > 0)) throw new HeadCheckpointError(`${file}: config.json ${field} = ${JSON.stringify(v)}, expected a positive number`);
  return v;
}

/** An EAGLE-1/2 draft model (see eagleLayout) as an eagle head over `base`, its layer in the base model's RoPE layout. */
function readEagle(r: TensorReader, cfg: Record<string, unknown>, base: HeadBase, file: string): { config: HeadConfig; values: Map<string, Float32Array> } {
  const b = base.config;
  checkBaseField(cfg, 'hidden_size', b.dim, 'dim', file);
  checkBaseField(cfg, 'vocab_size', b.vocabSize, 'vocabSize', file);
  // this package's eagle layers take the base model's attention shape (createHead), as EAGLE's do
  const nHeads = configInt(cfg, 'num_attention_heads', file, b.nHeads);
  const nKvHeads = configInt(cfg, 'num_key_value_heads', file, nHeads);
  if (nHeads !== b.nHeads) throw new HeadMismatchError(`${file}: config.json num_attention_heads = ${nHeads}: a draft layer of ${nHeads} attention heads, the base model has ${b.nHeads}`);
  if (nKvHeads !== b.nKvHeads) throw new HeadMismatchError(`${file}: config.json num_key_value_heads = ${nKvHeads}: a draft layer of ${nKvHeads} key/value heads, the base model has ${b.nKvHeads}`);
  const headDim = configInt(cfg, 'head_dim', file, b.dim / nHeads);
  if (headDim !== b.headDim) throw new HeadMismatchError(`${file}: config.json head_dim = ${headDim}: a draft layer of head_dim ${headDim}, the base model has ${b.headDim}`);
  const layers = configInt(cfg, 'num_hidden_layers', file, r.count((i) => `layers.${i}.self_attn.q_proj.weight`));
  if (layers !== 1) throw new HeadCheckpointError(`${file}: ${layers} draft layers (config.json num_hidden_layers, or layers.{i} in the file), expected 1: vLLM's EAGLE proposer runs one draft layer, and an eagle head is one`);
  if (cfg.attention_bias === true || r.has('layers.0.self_attn.q_proj.bias')) throw new HeadCheckpointError(`${file}: q/k/v projections with biases (attention_bias) are not supported: an eagle head's layer has none, as EAGLE's`);
  const scaling = cfg.rope_scaling;
  if (scaling !== undefined && scaling !== null) throw new HeadCheckpointError(`${file}: config.json rope_scaling = ${JSON.stringify(scaling)} is not supported: an eagle head's layer turns by plain rope_theta`);
  if (r.has('layers.0.input_layernorm.weight')) {
    throw new HeadCheckpointError(`${file}: tensor layers.0.input_layernorm.weight: EAGLE's draft layer 0 has no input norm (vLLM and SGLang run it as the identity, and vLLM refuses the tensor), so what the engines run is not what this file says`);
  }
  const hasBias = r.has('fc.bias');
  if (cfg.bias === false && hasBias) throw new HeadCheckpointError(`${file}: config.json bias = false, yet the file holds fc.bias`);
  const hiddenDim = configInt(cfg, 'intermediate_size', file, r.shape('layers.0.mlp.gate_proj.weight')?.[0] ?? b.hiddenDim);
  const eagle: EagleLayerConfig = {
    hiddenDim, nHeads, nKvHeads, headDim,
    ropeTheta: configNumber(cfg, 'rope_theta', file, 10000), // transformers' LlamaConfig defaults
    ropeLayout: b.ropeLayout,
    normEps: configNumber(cfg, 'rms_norm_eps', file, 1e-6),
    inputNorm: false,
  };
  if (!hasBias) eagle.fcBias = false; // vLLM's fc: no bias
  const expected = eagleShapes(b.dim, eagle, hasBias);
  // the engines embed with the target's embed_tokens and score with its lm_head: copies here are not read
  const ignored = new Set(['embed_tokens.weight', 'lm_head.weight']);
  for (const n of r.names()) {
    if (!expected.has(n) && !ignored.has(n)) throw new HeadCheckpointError(`${file}: unexpected tensor ${n}: not part of an EAGLE-1/2 Llama draft model (fc.weight, fc.bias, layers.0.self_attn.{q,k,v,o}_proj, layers.0.post_attention_layernorm, layers.0.mlp.{gate,up,down}_proj)`);
  }
  const got = new Map<string, Float32Array>();
  // fc's rows are the base model's dim: another there is a HeadMismatchError
  for (const [name, shape] of expected) got.set(name, r.get(name, name === 'fc.weight' ? ['dim', 2 * b.dim] : shape));
  const interleaved = (w: Float32Array, heads: number) => (b.ropeLayout === 'interleaved' ? permuteHalfToInterleaved(w, heads, headDim, b.dim) : w);
  const values = new Map<string, Float32Array>();
  values.set('eagle.fc.weight', got.get('fc.weight')!);
  if (hasBias) values.set('eagle.fc.bias', got.get('fc.bias')!);
  for (const [ours, theirs] of EAGLE_LAYER_NAMES) {
    const w = got.get(theirs)!;
    values.set(`eagle.${ours}`, ours === 'wq' ? interleaved(w, nHeads) : ours === 'wk' ? interleaved(w, nKvHeads) : w);
  }
  const config: HeadConfig = { kind: 'eagle', numHeads: EAGLE_DEFAULT_DEPTH, layers: 1, dim: b.dim, vocabSize: b.vocabSize, sharedOutput: true, prefix: null, eagle };
  return { config, values };
}

/** The aux layer ids of an EAGLE-3 config.json as this package's featureLayers (see eagle3Layout), or null when it names none. */
function eagle3FeatureLayers(cfg: Record<string, unknown>, file: string): unknown[] | null {
  const ids = (v: unknown, field: string): unknown[] | null => {
    if (v === undefined || v === null) return null;
    if (!Array.isArray(v)) throw new HeadCheckpointError(`${file}: config.json ${field} = ${JSON.stringify(v)}, expected an array of base layer ids`);
    return v;
  };
  const vllm = ids(cfg.eagle_aux_hidden_state_layer_ids, 'eagle_aux_hidden_state_layer_ids'); // inputs of these layers: ours
  const nested = cfg.eagle_config !== null && typeof cfg.eagle_config === 'object' ? (cfg.eagle_config as Record<string, unknown>) : {};
  if (nested.use_aux_hidden_state === false) throw new HeadCheckpointError(`${file}: config.json eagle_config.use_aux_hidden_state = false: a draft model over the last hidden state alone, not over three base layers' features as an eagle3 head`);
  const sglang = ids(nested.eagle_aux_hidden_state_layer_ids, 'eagle_config.eagle_aux_hidden_state_layer_ids'); // outputs of these layers: ours minus one
  const fromSglang = sglang?.map((l) => (typeof l === 'number' ? l + 1 : l)) ?? null;
  if (vllm && fromSglang && JSON.stringify(vllm) !== JSON.stringify(fromSglang)) {
    throw new HeadCheckpointError(
      `${file}: config.json eagle_aux_hidden_state_layer_ids = ${JSON.stringify(vllm)} (vLLM: inputs of these base layers) and eagle_config.eagle_aux_hidden_state_layer_ids = ${JSON.stringify(sglang)} (SGLang: outputs of these, i.e. inputs of ${JSON.stringify(fromSglang)}) name different layers, expected the same layers in the two numberings`,
    );
  }
  return vllm ?? fromSglang;
}

/** The aux layers both engines capture when config.json names none: inputs of (2, L // 2, L − 3). */
function defaultAuxLayers(nLayers: number): number[] {
  return [2, Math.floor(nLayers / 2), nLayers - 3];
}

/** An EAGLE-3 draft model (see eagle3Layout) as an eagle3 head over `base`, its layer in the base model's RoPE layout. */
function readEagle3(r: TensorReader, cfg: Record<string, unknown>, base: HeadBase, file: string): { config: HeadConfig; values: Map<string, Float32Array> } {
  const b = base.config;
  checkBaseField(cfg, 'hidden_size', b.dim, 'dim', file);
  checkBaseField(cfg, 'target_hidden_size', b.dim, 'dim', file); // fc reads three base features of this width
  checkBaseField(cfg, 'vocab_size', b.vocabSize, 'vocabSize', file);
  const layers = configInt(cfg, 'num_hidden_layers', file, 1);
  if (layers !== 1) throw new HeadCheckpointError(`${file}: config.json num_hidden_layers = ${layers}, expected 1: an eagle3 head is one draft layer (midlayer)`);
  if (cfg.norm_before_residual === true) {
    throw new HeadCheckpointError(`${file}: config.json norm_before_residual = true: the layer's residual would be hidden_norm(a), an eagle3 head's (eagle3.ts, and SGLang's) is a itself; expected false or absent`);
  }
  if (cfg.tie_word_embeddings === true) throw new HeadCheckpointError(`${file}: config.json tie_word_embeddings = true: lm_head would be embed_tokens (SGLang), expected false: an eagle3 head scores with its own lm_head over the draft vocabulary`);
  if (cfg.attention_bias === true || r.has('midlayer.self_attn.q_proj.bias')) throw new HeadCheckpointError(`${file}: q/k/v projections with biases (attention_bias) are not supported: an eagle3 head's layer has none`);
  if (cfg.bias === true || r.has('fc.bias')) throw new HeadCheckpointError(`${file}: fc with a bias (config.json bias, fc.bias) is not supported: an eagle3 head's fc has none, as vLLM's`);
  // the engines embed with the target's embed_tokens when the file has none; a copy here is not read
  const known = new Set([...EAGLE3_NAMES.map(([, theirs]) => theirs), 'd2t', 't2d', 'embed_tokens.weight']);
  for (const n of r.names()) {
    if (!known.has(n)) {
      throw new HeadCheckpointError(`${file}: unexpected tensor ${n}: not part of an EAGLE-3 Llama draft model (fc.weight, midlayer.{input_layernorm,hidden_norm,post_attention_layernorm}.weight, midlayer.self_attn.{q,k,v,o}_proj.weight, midlayer.mlp.{gate,up,down}_proj.weight, norm.weight, lm_head.weight, d2t, t2d)`);
    }
  }
  // RoPE and the norms' eps are the base model's (eagle3.ts): another in the file is another head
  const a = layerAttention(b, 0);
  const theta = configNumber(cfg, 'rope_theta', file, 10000); // transformers' LlamaConfig default
  if (theta !== a.ropeTheta) throw new HeadMismatchError(`${file}: config.json rope_theta = ${theta}: a draft layer turning by rope_theta ${theta}, the base model's layer 0 turns by ${a.ropeTheta}`);
  const given = cfg.rope_scaling ?? null;
  const scaling = given !== null && typeof given === 'object' && (given as { rope_type?: unknown }).rope_type === 'default' ? null : given;
  const want = hfRopeScaling(a.ropeScaling);
  if (JSON.stringify(scaling) !== JSON.stringify(want)) {
    throw new HeadMismatchError(`${file}: config.json rope_scaling = ${JSON.stringify(scaling)}, the base model's layer 0 has ${JSON.stringify(want)}: an eagle3 head turns by the base model's RoPE`);
  }
  const eps = configNumber(cfg, 'rms_norm_eps', file, 1e-6); // transformers' LlamaConfig default
  if (eps !== b.normEps) throw new HeadMismatchError(`${file}: config.json rms_norm_eps = ${eps}: a draft layer of eps ${eps}, the base model has normEps ${b.normEps}`);
  // the draft layer's attention shape is its own (Eagle3Config), as long as RoPE and grouped attention can run it
  const nHeads = configInt(cfg, 'num_attention_heads', file, b.nHeads);
  const nKvHeads = configInt(cfg, 'num_key_value_heads', file, nHeads);
  const headDim = configInt(cfg, 'head_dim', file, Math.floor(b.dim / nHeads));
  if (nHeads % nKvHeads !== 0) throw new HeadCheckpointError(`${file}: config.json num_attention_heads = ${nHeads}, num_key_value_heads = ${nKvHeads}, expected a multiple of the key/value heads`);
  if (headDim % 2 !== 0) throw new HeadCheckpointError(`${file}: config.json head_dim = ${headDim}, expected an even number (RoPE turns pairs)`);
  const draftVocabSize = configInt(cfg, 'draft_vocab_size', file, r.shape('lm_head.weight')?.[0] ?? b.vocabSize); // vLLM: vocab_size when absent
  if (draftVocabSize > b.vocabSize) throw new HeadMismatchError(`${file}: config.json draft_vocab_size = ${draftVocabSize}: a draft vocabulary larger than the base model's vocabSize ${b.vocabSize}`);
  const featureLayers = checkFeatureLayers(
    eagle3FeatureLayers(cfg, file) ?? defaultAuxLayers(b.nLayers),
    b.nLayers,
    `${file}: config.json eagle_aux_hidden_state_layer_ids (in this package's numbering, a base model of ${b.nLayers} layers)`,
    (m) => new HeadMismatchError(m),
  );
  const hiddenDim = configInt(cfg, 'intermediate_size', file, r.shape('midlayer.mlp.gate_proj.weight')?.[0] ?? b.hiddenDim);
  const eagle3: Eagle3Config = { nHeads, nKvHeads, headDim, hiddenDim, featureLayers, draftVocabSize };
  const expected = eagle3EngineShapes(b.dim, b.vocabSize, eagle3);
  const values = new Map<string, Float32Array>();
  const interleaved = (w: Float32Array, heads: number) => (b.ropeLayout === 'interleaved' ? permuteHalfToInterleaved(w, heads, headDim, 2 * b.dim) : w);
  for (const [ours, theirs] of EAGLE3_NAMES) {
    // fc reads three base features and writes the layer's width, lm_head reads that width: the base model's dim, else a HeadMismatchError
    const shape: Array<number | 'dim'> = ours === 'fc.weight' ? ['dim', 3 * b.dim] : ours === 'lm_head' ? [draftVocabSize, 'dim'] : expected.get(theirs)!;
    const w = r.get(theirs, shape);
    values.set(`eagle3.${ours}`, ours === 'wq' ? interleaved(w, nHeads) : ours === 'wk' ? interleaved(w, nKvHeads) : w);
  }
  // d2t: offsets (draft id j scores base id j + d2t[j]) back to our base ids; without one, the identity (vLLM's zeros)
  const offsets = r.has('d2t') ? r.get('d2t', [draftVocabSize]) : new Float32Array(draftVocabSize);
  const ids = Float32Array.from(offsets, (o, j) => o + j);
  ids.forEach((id, j) => {
    if (!Number.isInteger(offsets[j]) || id < 0 || id >= b.vocabSize) {
      throw new HeadCheckpointError(`${file}: d2t[${j}] = ${offsets[j]}: draft id ${j} would score base id ${id}, expected an integer offset to a base id in [0, ${b.vocabSize})`);
    }
    if (j > 0 && !(id > ids[j - 1])) throw new HeadCheckpointError(`${file}: d2t[${j}] = ${offsets[j]}: draft id ${j} scores base id ${id} after ${ids[j - 1]}, expected strictly increasing base ids`);
  });
  if (r.has('t2d')) {
    const t2d = r.get('t2d', ['vocab']);
    const drafted = new Set(ids);
    t2d.forEach((x, v) => {
      if ((x !== 0) !== drafted.has(v)) throw new HeadCheckpointError(`${file}: t2d[${v}] = ${x !== 0}, yet d2t maps ${drafted.has(v) ? 'a draft id' : 'no draft id'} to base id ${v}, expected t2d to mark exactly d2t's base ids`);
    });
  }
  values.set('eagle3.d2t', ids);
  const config: HeadConfig = { kind: 'eagle3', numHeads: EAGLE_DEFAULT_DEPTH, layers: 1, dim: b.dim, vocabSize: b.vocabSize, sharedOutput: false, prefix: null, eagle3 };
  return { config, values };
}
