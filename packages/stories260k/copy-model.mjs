// Copies the repository's models/stories260K (checkpoint, tokenizer, trained heads, licence and
// notes) into stories260K/, the folder this package publishes. The copy is not committed: the files
// live in git once, under models/.
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const from = path.resolve(here, '../../models/stories260K');
const to = path.join(here, 'stories260K');
const FILES = ['stories260K.bin', 'tok512.bin', 'LICENSE', 'README.md', 'heads/README.md', 'heads/medusa.safetensors', 'heads/hydra.safetensors', 'heads/hydra-pp.safetensors', 'heads/eagle.safetensors', 'heads/eagle-vllm.safetensors', 'heads/eagle3.safetensors'];

mkdirSync(path.join(to, 'heads'), { recursive: true });
for (const name of FILES) {
  const src = path.join(from, name);
  if (!existsSync(src)) throw new Error(`${src}: missing; the package cannot be built without it`);
  copyFileSync(src, path.join(to, name));
}
