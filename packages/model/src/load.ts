// One entry point for "a model on disk or on a server": a llama2.c checkpoint with its tokenizer,
// or a Hugging Face directory.
import type { LlamaConfig, LlamaWeights } from './config';
import { ConfigError, FileSourceError } from './errors';
import { parseGenerationConfig, type GenerationConfig } from './generation-config';
import { loadHfCheckpoint, MAX_CONFIG_BYTES } from './hf';
import { HfTokenizer } from './hf-tokenizer';
import { parseLlama2cCheckpoint } from './llama2c';
import { Llama2cTokenizer } from './llama2c-tokenizer';
import { checkContextLength, checkFiniteWeights } from './plausible';
import { nodeFileSource, type FileSource } from './source';
import type { Tokenizer } from './tokenizer';

export interface LoadedModel {
  format: 'llama2c' | 'hf';
  config: LlamaConfig;
  weights: LlamaWeights;
  tokenizer: Tokenizer;
  /** generation_config.json of a Hugging Face directory ({} when there is none, and for llama2.c). */
  generationConfig: GenerationConfig;
}

export interface LoadModelOptions {
  /** File name of a llama2.c checkpoint within the source; when absent the source must be an HF directory. */
  checkpoint?: string;
  /** Tokenizer file name within the source (default: tokenizer.json, else tokenizer.bin), or a ready tokenizer. */
  tokenizer?: string | Tokenizer;
  /**
   * Cap on the context (KV cache rows). Without it, a context whose KV cache would be out of
   * proportion to the weights (config.json's max_position_embeddings, llama2.c's seq_len) is a ConfigError.
   */
  maxContext?: number;
  /** Load weights holding NaN or infinities (by default a WeightError naming the tensor). */
  allowNonfinite?: boolean;
}

/** A llama2.c tokenizer file is a few MiB at most (32k pieces); refuse anything far larger unread. */
const MAX_TOKENIZER_BIN_BYTES = 64 * 2 ** 20;

/** The loaded checkpoint, once its weights are finite and its context plausible. */
function checked(
  ck: { config: LlamaConfig; weights: LlamaWeights },
  weightsAt: string,
  configAt: string,
  field: string,
  opts: LoadModelOptions,
): { config: LlamaConfig; weights: LlamaWeights } {
  if (!opts.allowNonfinite) checkFiniteWeights(ck.weights, weightsAt);
  return { config: checkContextLength(ck.config, ck.weights, configAt, field, opts.maxContext), weights: ck.weights };
}

function parseJson(bytes: Uint8Array, where: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw new ConfigError(`${where}: not valid UTF-8 JSON: ${(e as Error).message}`, { cause: e });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError(`${where}: expected a JSON object`);
  return v as Record<string, unknown>;
}

async function llama2cTokenizer(source: FileSource, file: string, vocabSize: number): Promise<Llama2cTokenizer> {
  const bytes = await source.read(file, { maxBytes: MAX_TOKENIZER_BIN_BYTES, expected: 'a llama2.c tokenizer file' });
  return Llama2cTokenizer.fromBytes(bytes, source.describe(file), vocabSize);
}

/**
 * Loads weights and tokenizer. `source` may be a FileSource or, in Node, a path: a directory
 * (Hugging Face layout) or a llama2.c `.bin` file (its tokenizer is looked for beside it).
 */
export async function loadModelFiles(source: FileSource | string, opts: LoadModelOptions = {}): Promise<LoadedModel> {
  if (typeof source === 'string') {
    if (source.endsWith('.bin')) {
      const slash = source.lastIndexOf('/');
      const dir = slash < 0 ? '.' : source.slice(0, slash) || '/';
      return loadModelFiles(nodeFileSource(dir), { ...opts, checkpoint: source.slice(slash + 1) });
    }
    // A directory: Hugging Face layout, or a llama2.c checkpoint named model.bin or <dir>.bin.
    const dir = nodeFileSource(source);
    if (opts.checkpoint === undefined && !(await dir.exists('config.json'))) {
      const base = source.replace(/\/+$/, '').split('/').pop() ?? '';
      for (const name of ['model.bin', `${base}.bin`]) {
        if (await dir.exists(name)) return loadModelFiles(dir, { ...opts, checkpoint: name });
      }
    }
    return loadModelFiles(dir, opts);
  }
  if (opts.checkpoint !== undefined) {
    const file = source.describe(opts.checkpoint);
    const bytes = await source.read(opts.checkpoint, { expected: 'a llama2.c checkpoint' });
    const { config, weights } = checked(parseLlama2cCheckpoint(bytes, file), file, file, 'seq_len', opts);
    let tokenizer: Tokenizer;
    if (typeof opts.tokenizer === 'object') tokenizer = opts.tokenizer;
    else if (typeof opts.tokenizer === 'string') tokenizer = await llama2cTokenizer(source, opts.tokenizer, config.vocabSize);
    else if (await source.exists('tokenizer.bin')) tokenizer = await llama2cTokenizer(source, 'tokenizer.bin', config.vocabSize);
    // llama2.c names tokenizers of custom vocabularies tok<vocab>.bin.
    else if (await source.exists(`tok${config.vocabSize}.bin`)) tokenizer = await llama2cTokenizer(source, `tok${config.vocabSize}.bin`, config.vocabSize);
    else throw new FileSourceError(`${source.describe('tokenizer.bin')}: not found (nor tok${config.vocabSize}.bin); pass the tokenizer of ${source.describe(opts.checkpoint)} as opts.tokenizer`);
    return { format: 'llama2c', config, weights, tokenizer, generationConfig: {} };
  }
  if (!(await source.exists('config.json'))) {
    throw new FileSourceError(`${source.describe('config.json')}: not found; expected a Hugging Face model directory, or opts.checkpoint naming a llama2.c .bin file`);
  }
  const { config, weights } = checked(await loadHfCheckpoint(source), source.describe(''), source.describe('config.json'), 'max_position_embeddings', opts);
  const generationConfig = (await source.exists('generation_config.json'))
    ? parseGenerationConfig(parseJson(await source.read('generation_config.json', { maxBytes: MAX_CONFIG_BYTES, expected: 'a JSON generation config' }), source.describe('generation_config.json')), source.describe('generation_config.json'))
    : {};
  for (const id of generationConfig.eosIds ?? []) {
    if (id >= config.vocabSize) throw new ConfigError(`${source.describe('generation_config.json')}: eos_token_id ${id} is outside the vocabulary [0, ${config.vocabSize})`);
  }
  // Stop ids: config.json's, then generation_config.json's, then (below) the tokenizer's eos_token.
  const eosIds = [...new Set([...(config.eosIds ?? [config.eosId]), ...(generationConfig.eosIds ?? [])])];
  let tokenizer: Tokenizer;
  const name = typeof opts.tokenizer === 'string' ? opts.tokenizer : undefined;
  if (typeof opts.tokenizer === 'object') tokenizer = opts.tokenizer;
  else if (name === 'tokenizer.json' || (name === undefined && (await source.exists('tokenizer.json')))) {
    // BOS comes from the tokenizer alone: config.json's bos_token_id (Qwen: <|endoftext|>) is not
    // what the tokenizer prepends.
    tokenizer = await HfTokenizer.fromSource(source, { eosIds });
  } else if (name !== undefined || (await source.exists('tokenizer.bin'))) {
    tokenizer = await llama2cTokenizer(source, name ?? 'tokenizer.bin', config.vocabSize);
  } else {
    throw new FileSourceError(`${source.describe('tokenizer.json')}: not found, nor tokenizer.bin; expected a tokenizer beside config.json`);
  }
  if (tokenizer.vocabSize > config.vocabSize) {
    throw new ConfigError(`${source.describe('config.json')}: vocab_size = ${config.vocabSize}, fewer than the tokenizer's ${tokenizer.vocabSize} tokens`);
  }
  for (const id of tokenizer.eosIds) if (id < config.vocabSize && !eosIds.includes(id)) eosIds.push(id);
  config.eosIds = eosIds;
  return { format: 'hf', config, weights, tokenizer, generationConfig };
}
