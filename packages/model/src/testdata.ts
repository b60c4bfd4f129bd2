// Paths of the model files the tests use (Node only).
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';

/** The repository's models/ folder. */
export const MODELS_DIR = fileURLToPath(new URL('../../../models/', import.meta.url));
export const STORIES_DIR = `${MODELS_DIR}stories260K`;
/** The 32000-token Llama 2 tokenizer from the shared reference folder beside the repository; may be absent. */
export const LLAMA2_TOKENIZER_DIR = fileURLToPath(new URL('../../../../shared/models/llama2-tokenizer/', import.meta.url));
export const HAVE_LLAMA2_TOKENIZER = existsSync(`${LLAMA2_TOKENIZER_DIR}tokenizer.bin`);
