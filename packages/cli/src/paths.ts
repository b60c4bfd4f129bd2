// Where the bundled model and its trained heads live, relative to this package.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The repository's models/stories260K, found from src/ or dist/. */
export function bundledModelDir(): string {
  for (const up of ['../../../models/stories260K', '../../models/stories260K']) {
    const dir = path.resolve(here, up);
    if (existsSync(dir)) return dir;
  }
  return path.resolve(here, '../../../models/stories260K');
}

export const HEAD_FILES: Record<string, string> = {
  medusa: 'medusa.safetensors',
  hydra: 'hydra.safetensors',
  'hydra++': 'hydra-pp.safetensors',
};

/** The trained head file for a decoder kind, beside the model (models/<name>/heads/). */
export function defaultHeadFile(modelPath: string, decoder: string): string {
  const dir = modelPath.endsWith('.bin') ? path.dirname(modelPath) : modelPath;
  return path.join(dir, 'heads', HEAD_FILES[decoder] ?? `${decoder}.safetensors`);
}

/** The held-out story openings (or another prompt file) shipped with the package. */
export function bundledPromptFile(name = 'stories.txt'): string {
  // src/ in development, dist/ when built.
  for (const up of ['../prompts', '../../prompts']) {
    const file = path.resolve(here, up, name);
    if (existsSync(file)) return file;
  }
  return path.resolve(here, '../prompts', name);
}
