// Whether a tree step's RMSNorms should run inside the next linear (fused) or as their own
// dispatch, by row count: the same verify-style step (rows new rows over a 32-token context,
// logits of every row, GPU argmax, read-back) with flags.fuseNormMaxRows at 4 and at 64,
// interleaved in one process; lower quartile of the rounds.
//
//   node --conditions=source --import tsx bench/norm-fusion-ab.ts [--rows 1,4,5,6,8,12,16] [--rounds 15]
import { fileURLToPath } from 'node:url';
import { argmax } from '@hydra-ts/tensor';
import { LlamaModel } from '../src/index';
import { flags } from '@hydra-ts/tensor';

const args = process.argv.slice(2);
const value = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const rowCounts = value('rows', '1,4,5,6,8,12,16').split(',').map(Number);
const rounds = Number(value('rounds', '15'));
const model = await LlamaModel.load(fileURLToPath(new URL('../../../models/stories260K', import.meta.url)));
const device = model.device;
const context = Array.from({ length: 32 }, (_, i) => (i === 0 ? model.config.bosId : 3 + ((i * 7919) % 500)));

async function step(rows: number, reps = 10): Promise<number> {
  const cache = model.createCache(context.length + rows);
  model.forward(cache, { tokens: context, logits: 'none' }).hidden.dispose();
  cache.commit();
  const mask = new Uint8Array(rows * rows).map((_, i) => (Math.floor(i / rows) >= i % rows ? 1 : 0));
  const tokens = Array.from({ length: rows }, (_, i) => 3 + ((i * 31) % 500));
  const positions = Int32Array.from({ length: rows }, (_, i) => context.length + i);
  await device.sync();
  const t0 = performance.now();
  for (let r = 0; r < reps; r++) {
    const out = model.forward(cache, { tokens, positions, mask, logits: 'all' });
    const ids = argmax(out.logits!);
    await ids.read();
    for (const t of [out.hidden, out.logits!, ids]) t.dispose();
    cache.rollback(context.length);
  }
  const ms = (performance.now() - t0) / reps;
  cache.dispose();
  return ms;
}

const variants = [4, 64];
const times = new Map<string, number[]>();
for (let round = -1; round < rounds; round++) {
  for (const rows of rowCounts) {
    for (const v of variants) {
      flags.fuseNormMaxRows = v;
      const ms = await step(rows);
      if (round >= 0) times.set(`${rows}/${v}`, [...(times.get(`${rows}/${v}`) ?? []), ms]);
    }
  }
}
const q1 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 4)];
console.log(`${device.name}; stories260K step ms (lower quartile of ${rounds} rounds)`);
console.log('rows  separate norms  fused norms');
for (const rows of rowCounts) console.log(`${String(rows).padStart(4)}  ${q1(times.get(`${rows}/4`)!).toFixed(3).padStart(14)}  ${q1(times.get(`${rows}/64`)!).toFixed(3).padStart(11)}`);
model.dispose();
