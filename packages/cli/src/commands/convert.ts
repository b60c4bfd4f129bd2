// hydra convert: llama2.c checkpoint -> Hugging Face directory; or, with --random, a checkpoint of a
// real model's shapes with random weights (for speed work at sizes no bundled model has).
import { mkdirSync, writeFileSync, renameSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { convertLlama2cToHf, Llama2cTokenizer, loadModelFiles, randomCheckpoint, RANDOM_SHAPES, type RandomShapeName } from '@hydra-ts/model';
import { UsageError } from '../errors';
import { intOption, outputDirOption } from '../options';

export interface ConvertFlags {
  model?: string;
  tokenizer?: string;
  out?: string;
  random?: string;
  seed?: number | string;
  /** Overwrite a directory that already holds a model. */
  force?: boolean;
  /** Convert weights holding NaN or infinities. */
  allowNonfinite?: boolean;
}

/** What convert writes; a directory holding any of them already holds a model. */
const MODEL_FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];

export async function runConvert(flags: ConvertFlags): Promise<void> {
  if (!flags.out) throw new UsageError('--out <dir> is required');
  outputDirOption('out', flags.out, MODEL_FILES, flags.force === true);
  let files: Map<string, Uint8Array>;
  if (flags.random !== undefined) {
    if (flags.model) throw new UsageError('--random and --model: give one of them');
    const shape = String(flags.random);
    if (!Object.prototype.hasOwnProperty.call(RANDOM_SHAPES, shape)) {
      throw new UsageError(`--random ${shape}: expected one of ${Object.keys(RANDOM_SHAPES).join(', ')}`);
    }
    const seed = intOption('seed', flags.seed ?? 1, 0);
    if (flags.tokenizer && !existsSync(flags.tokenizer)) throw new UsageError(`--tokenizer ${flags.tokenizer}: no such file`);
    const tok = flags.tokenizer ? Llama2cTokenizer.fromBytes(readFileSync(flags.tokenizer), flags.tokenizer) : undefined;
    const { config, weights } = randomCheckpoint(shape as RandomShapeName, seed);
    if (tok && tok.vocabSize > config.vocabSize) {
      throw new UsageError(`--tokenizer ${flags.tokenizer}: ${tok.vocabSize} tokens, more than the ${shape} shape's vocabulary of ${config.vocabSize}`);
    }
    files = convertLlama2cToHf(config, weights, tok && padTokenizer(tok, config.vocabSize));
  } else {
    if (!flags.model) throw new UsageError('--model <checkpoint.bin> (or --random <shape>) is required');
    if (!existsSync(flags.model)) throw new UsageError(`--model ${flags.model}: no such file`);
    const loaded = await loadModelFiles(flags.model, { ...(flags.tokenizer ? { tokenizer: path.resolve(flags.tokenizer) } : {}), allowNonfinite: flags.allowNonfinite === true });
    if (loaded.format !== 'llama2c') throw new UsageError(`--model ${flags.model}: expected a llama2.c checkpoint, got a ${loaded.format} model`);
    const tok = loaded.tokenizer instanceof Llama2cTokenizer ? loaded.tokenizer : undefined;
    files = convertLlama2cToHf(loaded.config, loaded.weights, tok);
  }
  mkdirSync(flags.out, { recursive: true });
  for (const [name, bytes] of files) {
    const dest = path.join(flags.out, name);
    writeFileSync(dest + '.tmp', bytes);
    renameSync(dest + '.tmp', dest);
  }
  process.stderr.write(`wrote ${[...files.keys()].join(', ')} to ${flags.out}${flags.random ? ` (random weights of the ${flags.random} shape, seed ${flags.seed ?? 1})` : ''}\n`);
}

/**
 * The tokenizer with `<unused_i>` pieces appended up to `vocabSize`, so every id a random-weight
 * model of the real shape can emit decodes (the pieces never merge: their score is the lowest).
 */
function padTokenizer(tok: Llama2cTokenizer, vocabSize: number): Llama2cTokenizer {
  if (tok.vocabSize === vocabSize) return tok;
  const extra = Array.from({ length: vocabSize - tok.vocabSize }, (_, i) => new TextEncoder().encode(`<unused_${tok.vocabSize + i}>`));
  const scores = new Float32Array(vocabSize).fill(-1e9);
  scores.set(tok.scores);
  return new Llama2cTokenizer([...tok.pieces, ...extra], scores, Math.max(tok.maxTokenLength, ...extra.map((p) => p.length)));
}
