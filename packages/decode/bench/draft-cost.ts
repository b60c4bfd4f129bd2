// What drafting costs at a real vocabulary, and what a reduced draft vocabulary saves: the time of
// one propose() (every depth of a tree, its read-back included) for Medusa and Hydra heads scoring
// the whole vocabulary or a draft vocabulary of n ids (here the first n: with random weights which
// ids does not matter for cost; trained heads take the data's most frequent), against one AR step of the same model
// (the decoder's own, measured interleaved in the same run). Random-weight checkpoints of real
// shapes; the figures are cost, not acceptance.
//
//   pnpm --filter @hydra-ts/decode bench:draft-cost [-- --shapes smollm2,qwen3] [--tree cpu-16] [--reps 5]
import { getDevice } from '@hydra-ts/tensor';
import { LlamaModel, RANDOM_SHAPES, randomCheckpoint, type RandomShapeName } from '@hydra-ts/model';
import { createHead, type Heads } from '@hydra-ts/heads';
import { getTree } from '@hydra-ts/tree';
import { SpeculativeDecoder } from '../src/index';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const shapes = arg('shapes', 'smollm2').split(',');
const tree = getTree(arg('tree', 'cpu-16'));
const REPS = Number(arg('reps', '5'));
const SHAPES: Array<[string, RandomShapeName]> = [['smollm2', 'smollm2-135m'], ['qwen3', 'qwen3-0.6b'], ['llama3', 'llama3.2-1b']];

interface Run {
  kind: 'medusa' | 'hydra';
  sharedOutput: boolean;
  draftVocab: number | null;
}

const device = await getDevice();
console.log(`adapter: ${device.name}; tree ${tree.name} (${tree.size} nodes, depth ${tree.depth}); median of ${REPS} proposals after one warm-up`);
console.log('| shape | head | scored vocabulary | propose ms | ms per depth | AR step ms | propose / AR step |');
console.log('|---|---|---:|---:|---:|---:|---:|');
for (const [key, name] of SHAPES) {
  if (!shapes.includes(key)) continue;
  const c = RANDOM_SHAPES[name];
  const model = LlamaModel.fromWeights(device, c, randomCheckpoint(name, 1).weights);
  const decoder = new SpeculativeDecoder(model);
  const vocabs = [null, 32000, 8192].filter((v) => v === null || v < c.vocabSize);
  // own lm_heads only where four of them fit comfortably (4 × vocab × dim f32)
  const runs: Run[] = [];
  for (const draftVocab of vocabs) {
    for (const sharedOutput of [true, false]) {
      if (!sharedOutput && 4 * 4 * (draftVocab ?? c.vocabSize) * c.dim > 512 * 2 ** 20) continue;
      runs.push({ kind: 'medusa', sharedOutput, draftVocab });
    }
    runs.push({ kind: 'hydra', sharedOutput: true, draftVocab });
  }
  const arStep = async () => {
    const r = await decoder.generate({ prompt: [1, 2, 3, 4], maxNewTokens: 5, head: null });
    return (r.elapsedMs - r.prefillMs) / Math.max(1, r.steps);
  };
  await arStep(); // pipelines compiled
  for (const run of runs) {
    let head: Heads | null = null;
    try {
      head = await createHead(model, { kind: run.kind, numHeads: tree.depth, sharedOutput: run.sharedOutput, ...(run.draftVocab ? { draftVocabSize: run.draftVocab } : {}) });
      const h = device.tensor(new Float32Array(c.dim).map((_, i) => Math.sin(i)), [1, c.dim]);
      head.observe(h, 0);
      h.dispose();
      await head.propose({ tree, root: 5, context: [] }); // warm-up
      const propose: number[] = [];
      const ar: number[] = [];
      for (let r = 0; r < REPS; r++) {
        const t0 = performance.now();
        await head.propose({ tree, root: 5 + r, context: [] });
        propose.push(performance.now() - t0);
        ar.push(await arStep()); // interleaved
      }
      const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
      const p = med(propose);
      const a = med(ar);
      const label = `${run.kind}, ${tree.depth} heads, ${run.sharedOutput ? 'shared output' : 'own lm_heads'}`;
      console.log(`| ${name} | ${label} | ${run.draftVocab ?? `${c.vocabSize} (whole)`} | ${p.toFixed(1)} | ${(p / tree.depth).toFixed(1)} | ${a.toFixed(1)} | ${(p / a).toFixed(2)} |`);
    } catch (e) {
      console.log(`| ${name} | ${run.kind} | ${run.draftVocab ?? 'whole'} | failed: ${(e as Error).name}: ${(e as Error).message.split('\n')[0].slice(0, 160)} | | | |`);
    } finally {
      head?.dispose();
    }
  }
  model.dispose();
}
process.exit(0);
