// Where the bundled model and its trained heads live: the @hydra-ts/stories260k package.
import path from 'node:path';
import { modelDir } from '@hydra-ts/stories260k';

/** The bundled stories260K folder (checkpoint, tokenizer, heads/), without a trailing separator. */
export function bundledModelDir(): string {
  return modelDir.replace(/[\\/]+$/, '');
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
