// Speculative decoding with the fused head kernel (mlpTopK: a head's blocks, output projection
// and top-k in one dispatch) against the same heads run op by op, interleaved prompt by prompt in
// one process so both see the same machine load. Prints tokens/s and head ms per step of each
// and checks that both produce the AR output.
//
//   node --conditions=source --import tsx bench/fused-heads-ab.ts [--heads hydra-pp] [--tree <name|file>] [--rounds 3] [--tokens 128]
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { flags, getDevice } from '@hydra-ts/tensor';
import { LlamaModel } from '@hydra-ts/model';
import { loadHead } from '@hydra-ts/heads';
import { CandidateTree, getTree } from '@hydra-ts/tree';
import { SpeculativeDecoder } from '../src/index';

const args = process.argv.slice(2);
const value = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const root = fileURLToPath(new URL('../../../', import.meta.url));
const modelDir = `${root}models/stories260K`;
const headsName = value('heads', 'hydra-pp');
const treeArg = value('tree', `${root}bench-results/tuned-hydra-pp.json`);
const tree = treeArg.endsWith('.json') ? CandidateTree.fromJSON(JSON.parse(readFileSync(treeArg, 'utf8'))) : getTree(treeArg);
const ROUNDS = Number(value('rounds', '3'));
const TOKENS = Number(value('tokens', '128'));
const prompts = readFileSync(`${root}packages/cli/prompts/stories.txt`, 'utf8').split('\n').filter((l) => l.trim()).slice(0, 5);

const device = await getDevice();
const model = await LlamaModel.load(modelDir, { device });
const head = await loadHead(model, `${modelDir}/heads/${headsName}.safetensors`);
const dec = new SpeculativeDecoder(model);
const run = (h: typeof head | null, prompt: string) => dec.generate({ prompt, maxNewTokens: TOKENS, head: h, tree });

// warm-up: every pipeline compiled before timing
for (const fused of [true, false]) {
  flags.fusedHeads = fused;
  await run(head, prompts[0]);
}
await run(null, prompts[0]);

const sum = { fused: { tokens: 0, ms: 0, headMs: 0, baseMs: 0, steps: 0 }, separate: { tokens: 0, ms: 0, headMs: 0, baseMs: 0, steps: 0 }, ar: { tokens: 0, ms: 0, headMs: 0, baseMs: 0, steps: 0 } };
let lossless = true;
for (let r = 0; r < ROUNDS; r++) {
  for (const prompt of prompts) {
    const ar = await run(null, prompt);
    sum.ar.tokens += ar.tokenIds.length;
    sum.ar.ms += ar.elapsedMs;
    for (const fused of [true, false]) {
      flags.fusedHeads = fused;
      const res = await run(head, prompt);
      const s = sum[fused ? 'fused' : 'separate'];
      s.tokens += res.tokenIds.length;
      s.ms += res.elapsedMs;
      s.headMs += res.timing.headMs;
      s.baseMs += res.timing.baseMs;
      s.steps += res.steps;
      if (res.tokenIds.join() !== ar.tokenIds.join()) lossless = false;
    }
  }
}
console.log(`device: ${device.name}; heads ${headsName}, tree ${tree.name} (${tree.size} nodes), ${prompts.length} prompts × ${TOKENS} tokens × ${ROUNDS} rounds`);
console.log('decoder      tokens/s      τ   base ms/step   head ms/step');
for (const [name, s] of Object.entries(sum)) {
  const per = (v: number) => (s.steps ? (v / s.steps).toFixed(3) : '-').padStart(12);
  const tau = s.steps ? (s.tokens / s.steps).toFixed(2) : '1.00';
  console.log(`${name.padEnd(10)} ${((1000 * s.tokens) / s.ms).toFixed(1).padStart(10)} ${tau.padStart(6)}   ${per(s.baseMs)}   ${per(s.headMs)}`);
}
console.log(`every output equal to AR: ${lossless ? 'yes' : 'NO'}`);
head.dispose();
model.dispose();
