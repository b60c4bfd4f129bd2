// hydra convert: llama2.c checkpoint -> Hugging Face directory.
import { mkdirSync, writeFileSync, renameSync, existsSync } from 'node:fs';
import path from 'node:path';
import { convertLlama2cToHf, Llama2cTokenizer, loadModelFiles } from '@hydra-ts/model';
import { UsageError } from '../errors';
import { outputDirOption } from '../options';

export interface ConvertFlags {
  model?: string;
  tokenizer?: string;
  out?: string;
  /** Overwrite a directory that already holds a model. */
  force?: boolean;
  /** Convert weights holding NaN or infinities. */
  allowNonfinite?: boolean;
}

/** What convert writes; a directory holding any of them already holds a model. */
const MODEL_FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];

export async function runConvert(flags: ConvertFlags): Promise<void> {
  if (!flags.model) throw new UsageError('--model <checkpoint.bin> is required');
  if (!flags.out) throw new UsageError('--out <dir> is required');
  if (!existsSync(flags.model)) throw new UsageError(`--model ${flags.model}: no such file`);
  outputDirOption('out', flags.out, MODEL_FILES, flags.force === true);
  const loaded = await loadModelFiles(flags.model, { ...(flags.tokenizer ? { tokenizer: path.resolve(flags.tokenizer) } : {}), allowNonfinite: flags.allowNonfinite === true });
  if (loaded.format !== 'llama2c') throw new UsageError(`--model ${flags.model}: expected a llama2.c checkpoint, got a ${loaded.format} model`);
  const tok = loaded.tokenizer instanceof Llama2cTokenizer ? loaded.tokenizer : undefined;
  const files = convertLlama2cToHf(loaded.config, loaded.weights, tok);
  mkdirSync(flags.out, { recursive: true });
  for (const [name, bytes] of files) {
    const dest = path.join(flags.out, name);
    writeFileSync(dest + '.tmp', bytes);
    renameSync(dest + '.tmp', dest);
  }
  process.stderr.write(`wrote ${[...files.keys()].join(', ')} to ${flags.out}\n`);
}
