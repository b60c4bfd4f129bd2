// Where the bundled model and its trained heads live: the @hydra-ts/stories260k package.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { modelDir } from '@hydra-ts/stories260k';

/** The bundled stories260K folder (checkpoint, tokenizer, heads/), without a trailing separator. */
export function bundledModelDir(): string {
  return modelDir.replace(/[\\/]+$/, '');
}

export const HEAD_FILES: Record<string, string> = {
  medusa: 'medusa.safetensors',
  hydra: 'hydra.safetensors',
  'hydra++': 'hydra-pp.safetensors',
  eagle: 'eagle.safetensors',
  eagle3: 'eagle3.safetensors',
};

/** The trained head file for a decoder kind, beside the model (models/<name>/heads/). */
export function defaultHeadFile(modelPath: string, decoder: string): string {
  const dir = modelPath.endsWith('.bin') ? path.dirname(modelPath) : modelPath;
  return path.join(dir, 'heads', HEAD_FILES[decoder] ?? `${decoder}.safetensors`);
}

/** The held-out story openings (or another prompt file) shipped with the package. */
export function bundledPromptFile(name = 'stories.txt'): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // src/ in development, dist/ when built.
  for (const up of ['../prompts', '../../prompts']) {
    const file = path.resolve(here, up, name);
    if (existsSync(file)) return file;
  }
  return path.resolve(here, '../prompts', name);
}
