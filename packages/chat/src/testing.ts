// A chat model for tests and examples with no download: stories260K written as a Hugging Face
// directory (config.json, model.safetensors, tokenizer.json from tok512) whose
// tokenizer_config.json carries a chat template. The weights are the real trained ones, so the
// bundled draft heads fit it.
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { convertLlama2cToHf, Llama2cTokenizer, parseLlama2cCheckpoint } from '@hydra-ts/model';

/** A "role:" line before each message, then "assistant:" and a newline to open the reply. */
export const STORIES_CHAT_TEMPLATE =
  "{{ bos_token }}{% for m in messages %}{{ m.role }}:\n{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}assistant:\n{% endif %}";

/**
 * The files of the chat fixture, from the llama2.c checkpoint in `storiesDir`
 * (models/stories260K). `generationConfig`: a generation_config.json to include.
 */
export function storiesChatFiles(storiesDir: string, opts: { generationConfig?: Record<string, unknown> } = {}): Map<string, Uint8Array> {
  const ckpt = parseLlama2cCheckpoint(readFileSync(path.join(storiesDir, 'stories260K.bin')), 'stories260K.bin');
  const tok = Llama2cTokenizer.fromBytes(readFileSync(path.join(storiesDir, 'tok512.bin')), 'tok512.bin', ckpt.config.vocabSize);
  const files = convertLlama2cToHf(ckpt.config, ckpt.weights, tok);
  const config = JSON.parse(new TextDecoder().decode(files.get('tokenizer_config.json')!));
  files.set('tokenizer_config.json', new TextEncoder().encode(JSON.stringify({ ...config, chat_template: STORIES_CHAT_TEMPLATE }, null, 2)));
  files.delete('tokenizer.bin');
  if (opts.generationConfig) files.set('generation_config.json', new TextEncoder().encode(JSON.stringify(opts.generationConfig, null, 2)));
  return files;
}

/** Writes the chat fixture into `dir` (created if missing); returns `dir`. */
export function writeStoriesChatModel(storiesDir: string, dir: string, opts: { generationConfig?: Record<string, unknown> } = {}): string {
  mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of storiesChatFiles(storiesDir, opts)) writeFileSync(path.join(dir, name), bytes);
  return dir;
}
