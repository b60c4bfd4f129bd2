// τ of the trained stories260K heads: greedy speculative decoding, 128 new tokens, on held-out
// prompts (models/stories260K/heads/eval-prompts.txt; training used only BOS-sampled text), for
// each tree. Checks on the way that every output equals the plain autoregressive one.
//   pnpm --filter @hydra-ts/train bench:acceptance [-- heads-dir]
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SpeculativeDecoder } from '@hydra-ts/decode';
import { loadHead } from '@hydra-ts/heads';
import { LlamaModel } from '@hydra-ts/model';
import { getTree } from '@hydra-ts/tree';
import { measureAcceptance } from '../src/acceptance';

const models = fileURLToPath(new URL('../../../models/stories260K/', import.meta.url));
const dir = process.argv[2] ?? path.join(models, 'heads');
const prompts = readFileSync(path.join(models, 'heads/eval-prompts.txt'), 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
const model = await LlamaModel.load(path.join(models, 'stories260K.bin'), { tokenizer: 'tok512.bin' });
const trees = (process.env.TREES ?? 'cpu-16,medusa-63').split(',').map(getTree);
const decoder = new SpeculativeDecoder(model);
const reference = new Map<string, number[]>();
for (const p of prompts) reference.set(p, (await decoder.generate({ prompt: p, maxNewTokens: 128 })).tokenIds);

console.log('| heads | tree | τ | τ per prompt |\n|---|---|---|---|');
for (const [kind, file] of [['medusa', 'medusa.safetensors'], ['hydra', 'hydra.safetensors'], ['hydra++', 'hydra-pp.safetensors'], ['eagle', 'eagle.safetensors']]) {
  const f = path.join(dir, file);
  if (!existsSync(f)) continue;
  const head = await loadHead(model, f);
  for (const tree of trees) {
    const r = await measureAcceptance(model, head, prompts, tree, 128);
    // lossless: greedy speculative decoding must reproduce the AR tokens
    r.outputs.forEach((ids, i) => {
      if (ids.join() !== reference.get(prompts[i])!.join()) throw new Error(`${kind} ${tree.name}: output differs from AR on "${prompts[i]}"`);
    });
    const line = `| ${kind} | ${tree.name} | ${r.meanAcceptedLength.toFixed(3)} | ${r.perPrompt.map((x) => x.toFixed(2)).join(' ')} |`;
    console.log(line);
  }
  head.dispose();
}
console.log(`\n${prompts.length} prompts, 128 new tokens, greedy; device ${model.device.name}`);
process.exit(0);
