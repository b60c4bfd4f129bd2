// Where the files are: stories260K/ inside the installed package, or, in a repository checkout that was
// not built, the repository's models/stories260K.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const packaged = fileURLToPath(new URL('./stories260K/', import.meta.url));
const checkout = fileURLToPath(new URL('../../models/stories260K/', import.meta.url));

export const modelDir = existsSync(packaged + 'stories260K.bin') ? packaged : checkout;
export const checkpoint = modelDir + 'stories260K.bin';
export const tokenizer = modelDir + 'tok512.bin';
export const headsDir = modelDir + 'heads/';
export const heads = {
  medusa: headsDir + 'medusa.safetensors',
  hydra: headsDir + 'hydra.safetensors',
  'hydra++': headsDir + 'hydra-pp.safetensors',
  eagle: headsDir + 'eagle.safetensors',
  eagle3: headsDir + 'eagle3.safetensors',
};
