// pnpm bench:profile — GPU time per kernel of a decode step (1 row) and of a tree step (--rows N),
// from timestamp queries, next to the wall time of the same steps run without profiling.
//
//   node --conditions=source --import tsx bench/profile.ts [--model stories260K|stories15M] [--rows 16] [--steps 32] [--context 16] [--f16]
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { argmax, flags, formatProfile, getDevice } from '@hydra-ts/tensor';
import { LlamaModel, parseLlama2cCheckpoint, randomCheckpoint } from '../src/index';

const args = process.argv.slice(2);
const value = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const which = value('model', 'stories260K');
const rows = Number(value('rows', '1'));
const steps = Number(value('steps', '32'));
const context = Number(value('context', '16'));
const dtype = args.includes('--f16') ? 'f16' : 'f32';

const device = await getDevice();
const stories = fileURLToPath(new URL('../../../models/stories260K/stories260K.bin', import.meta.url));
const ckpt = which === 'stories260K' ? parseLlama2cCheckpoint(readFileSync(stories), stories) : randomCheckpoint('stories15M', 1);
const model = LlamaModel.fromWeights(device, ckpt.config, ckpt.weights, undefined, { dtype });
const prompt = Array.from({ length: context }, (_, i) => (i === 0 ? ckpt.config.bosId : 3 + ((i * 7919) % (ckpt.config.vocabSize - 3))));
const mask = new Uint8Array(rows * rows).map((_, i) => (Math.floor(i / rows) >= i % rows ? 1 : 0)); // causal: a chain

/** `steps` forwards of `rows` new rows over a `context`-token prefix, each step rolled back, logits of every row + argmax. */
async function run(profile = false): Promise<number> {
  const cache = model.createCache(prompt.length + rows);
  model.forward(cache, { tokens: prompt, logits: 'none' }).hidden.dispose();
  cache.commit();
  await device.sync();
  if (profile) device.startProfile();
  const t0 = performance.now();
  for (let s = 0; s < steps; s++) {
    const out = model.forward(cache, { tokens: Array.from({ length: rows }, (_, i) => 3 + ((i * 31) % (ckpt.config.vocabSize - 3))), positions: Int32Array.from({ length: rows }, (_, i) => context + i), mask, logits: 'all' });
    const ids = argmax(out.logits!);
    await ids.read();
    for (const t of [out.hidden, out.logits!, ids]) t.dispose();
    cache.rollback(prompt.length);
  }
  const ms = (performance.now() - t0) / steps;
  cache.dispose();
  return ms;
}

await run(); // warm-up: pipelines, pool
const flushes = (process.env.HYDRA_FLUSH_EVERY ?? '').split(',').filter(Boolean).map(Number);
for (const f of flushes) {
  const best: Record<number, number> = {};
  for (let rep = 0; rep < 5; rep++) for (const g of [Infinity, f]) { flags.flushEvery = g; best[g] = Math.min(best[g] ?? Infinity, await run()); }
  console.log(`flush every ${f}: ${best[f].toFixed(2)} ms vs ${best[Infinity].toFixed(2)} ms at read-backs only`);
  flags.flushEvery = Infinity;
}
const wall = Math.min(await run(), await run());
await run(true);
const report = await device.stopProfile();
console.log(`${device.name}; ${which} ${dtype}, ${rows} row(s) per step, ${steps} steps`);
console.log(`wall time per step (unprofiled): ${wall.toFixed(2)} ms; GPU time per step (profiled): ${(report.totalMs / steps).toFixed(2)} ms in ${report.dispatches / steps} dispatches\n`);
console.log(formatProfile({ ...report, kernels: report.kernels.map((k) => ({ ...k, ms: k.ms / steps, calls: k.calls / steps })), totalMs: report.totalMs / steps }));
model.dispose();
device.destroy();
