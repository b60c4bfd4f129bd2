// Training at real vocabularies: tokens/s and peak GPU tensor memory of an EAGLE-3 head (draft
// vocabulary of the data's most frequent tokens, restricted teacher) and of Hydra heads (the base
// vocabulary with a top-k teacher, or a draft vocabulary as EAGLE-3's), on random-weight models of real shapes, with a Zipf-like token corpus
// (random weights: the figures are cost, not accuracy).
//   pnpm --filter @hydra-ts/train bench:real-vocab [-- --shapes smollm2,qwen3] [--runs eagle3,hydra] [--steps 6] [--windows 16] [--length 128]
// --runs keeps the runs whose label starts with one of the given words (default: all).
import { getDevice } from '@hydra-ts/tensor';
import { LlamaModel, RANDOM_SHAPES, randomCheckpoint, type RandomShapeName } from '@hydra-ts/model';
import type { HeadKind } from '@hydra-ts/heads';
import { createRng } from '@hydra-ts/verify';
import { draftCoverage, draftVocabulary } from '../src/draft-vocab';
import { TeacherCache } from '../src/teacher';
import { TrainableHeads } from '../src/trainable-heads';
import { HeadTrainer, trainConfig } from '../src/trainer';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const shapes = arg('shapes', 'smollm2,qwen3').split(',');
const only = arg('runs', '').split(',').filter(Boolean);
const steps = Number(arg('steps', '6'));
const nWindows = Number(arg('windows', '16'));
const length = Number(arg('length', '128'));
const batch = 4;

const SHAPES: Array<[string, RandomShapeName]> = [['smollm2', 'smollm2-135m'], ['qwen3', 'qwen3-0.6b']];
const RUNS: Array<{ label: string; kind: HeadKind; draftVocab?: number; numHeads: number }> = [
  { label: 'eagle3, draft vocabulary 8192', kind: 'eagle3', draftVocab: 8192, numHeads: 4 },
  { label: 'eagle3, draft vocabulary 32000', kind: 'eagle3', draftVocab: 32000, numHeads: 4 },
  { label: 'hydra, base vocabulary (shared output)', kind: 'hydra', numHeads: 4 },
  { label: 'hydra, draft vocabulary 8192 (shared output)', kind: 'hydra', draftVocab: 8192, numHeads: 4 },
];

/** Windows of Zipf-distributed ids (rank r with probability ∝ 1/r), a stand-in for text's token frequencies. */
function zipfWindows(vocab: number, count: number, len: number, seed: number): Int32Array[] {
  const rng = createRng(seed);
  const H = Math.log(vocab) + 0.5772;
  return Array.from({ length: count }, () => Int32Array.from({ length: len }, () => Math.min(vocab - 1, Math.floor(Math.exp(rng.next() * H)) - 1)));
}

const device = await getDevice();
console.log(`adapter: ${device.name}; ${nWindows} windows × ${length} tokens, batch ${batch}, ${steps} timed steps after one warm-up`);
console.log('| shape | head | trained parameters | teacher | teacher MiB | tokens/s | s/step | peak GPU MiB (model included) |');
console.log('|---|---|---:|---|---:|---:|---:|---:|');
for (const [key, name] of SHAPES) {
  if (!shapes.includes(key)) continue;
  const c = RANDOM_SHAPES[name];
  const model = LlamaModel.fromWeights(device, c, randomCheckpoint(name, 1).weights);
  const wins = zipfWindows(c.vocabSize, nWindows, length, 7);
  const unseen = Int32Array.from(zipfWindows(c.vocabSize, nWindows, length, 8).flatMap((w) => Array.from(w))); // other windows of the same law
  const all = Int32Array.from(wins.flatMap((w) => Array.from(w)));
  for (const run of RUNS) {
    if (only.length > 0 && !only.some((w) => run.label.startsWith(w))) continue;
    device.resetPeak();
    const vocabulary = run.draftVocab ? draftVocabulary(all, c.vocabSize, Math.min(run.draftVocab, c.vocabSize)) : undefined;
    let line: string;
    try {
      const heads = await TrainableHeads.create(model, { kind: run.kind, numHeads: run.numHeads, ...(run.kind === 'eagle3' ? {} : { sharedOutput: true }), ...(vocabulary ? { draftVocabulary: vocabulary } : {}) });
      const teacher = await TeacherCache.build(model, wins, { ...(run.kind === 'eagle3' ? { capture: heads.config.eagle3!.featureLayers } : {}), ...(vocabulary ? { vocabulary } : {}) });
      const trainer = new HeadTrainer(heads, teacher, trainConfig({ kind: run.kind, numHeads: run.numHeads, sharedOutput: run.kind !== 'eagle3', steps: steps + 1, batch, length, warmup: 0, holdout: 0, evalEvery: 0 }));
      await trainer.trainStep();
      const t0 = performance.now();
      let tokens = 0;
      while (!trainer.done) tokens += (await trainer.trainStep()).tokens;
      const s = (performance.now() - t0) / 1000;
      const params = [...heads.params.values()].reduce((a, p) => a + p.value.size, 0);
      const cover = vocabulary ? `, covering ${(100 * draftCoverage(unseen, vocabulary)).toFixed(1)} % of unseen windows` : '';
      line = `| ${name} | ${run.label}${cover} | ${(params / 1e6).toFixed(1)}M | ${teacher.mode.topK === 'full' ? 'full' : `top-${teacher.mode.topK}`} | ${(teacher.mode.bytes / 2 ** 20).toFixed(1)} | ${(tokens / s).toFixed(0)} | ${(s / steps).toFixed(2)} | ${(device.peakBytes / 2 ** 20).toFixed(0)} |`;
      trainer.dispose();
      teacher.dispose();
      heads.dispose();
    } catch (e) {
      line = `| ${name} | ${run.label} | - | - | - | - | - | failed: ${(e as Error).name}: ${(e as Error).message.split('\n')[0].slice(0, 160)} |`;
    }
    console.log(line);
  }
  model.dispose();
}
process.exit(0);
