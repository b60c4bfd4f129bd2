// Decode-step A/B on a shared machine: the model's forward pass against the same step written as
// the unfused op sequence DecoderLayer ran before (rmsnorm, linear, rope, attention, linear, add,
// rmsnorm, linear, swiglu, linear, add; one-row linears on 64-wide workgroups), interleaved in one
// process so both see the same load. Prints the median per-step CPU and wall ratios new/old.
//
//   node --conditions=source --import tsx bench/fusion-ab.bench.ts [--f16] [--rounds 30] [--steps 6]
import { add, argmax, attention, embedding, getDevice, linear, rmsnorm, rope, scope, slice, swiglu, writeRows, type Tensor } from '@hydra-ts/tensor';
import { LlamaModel, randomCheckpoint, type KVCache } from '../src/index';

const args = process.argv.slice(2);
const value = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const dtype = args.includes('--f16') ? 'f16' : 'f32';
const ROUNDS = Number(value('rounds', '30'));
const STEPS = Number(value('steps', '6'));

const device = await getDevice();
const ckpt = randomCheckpoint('stories15M', 1);
const model = LlamaModel.fromWeights(device, ckpt.config, ckpt.weights, undefined, { dtype });
const c = model.config;
const OLD = { columns: { wg: 64, tm: 1, tc: 2 } };

/** Columns start..end of a one-row x, as a [1, end - start] copy. */
function columns(x: Tensor, start: number, end: number): Tensor {
  const flat = x.reshape([x.size]);
  const part = slice(flat, 0, start, end);
  flat.dispose();
  const row = part.reshape([1, end - start]);
  part.dispose();
  return row;
}

/** One decode step, unfused: logits [1, vocab]. */
function unfusedStep(cache: KVCache, token: number, position: number): Tensor {
  const qDim = c.nHeads * c.headDim;
  const kvDim = c.nKvHeads * c.headDim;
  const H = c.hiddenDim;
  const pos = device.tensor(Int32Array.of(position), [1], 'i32');
  let x: Tensor = embedding(model.tokenEmbedding, [token]); // [1, dim]
  for (let l = 0; l < c.nLayers; l++) {
    const L = model.layers[l];
    const lc = cache.layers[l];
    const start = cache.length;
    const y = scope((t) => {
      const xb = t(rmsnorm(x, L.attnNorm, c.normEps));
      const qkv = t(linear(xb, L.wqkv, undefined, OLD));
      const v = t(columns(qkv, qDim + kvDim, qDim + 2 * kvDim));
      const qkr = t(rope(t(columns(qkv, 0, qDim + kvDim)), pos, { headDim: c.headDim, theta: c.ropeTheta, layout: c.ropeLayout }));
      writeRows(lc.k, t(columns(qkr, qDim, qDim + kvDim)), start);
      writeRows(lc.v, v, start);
      const att = t(attention(t(columns(qkr, 0, qDim)), lc.k, lc.v, { cachedLen: start, nHeads: c.nHeads, nKvHeads: c.nKvHeads, headDim: c.headDim }));
      const x2 = t(add(x, t(linear(att, L.wo, undefined, OLD))));
      const hb13 = t(linear(t(rmsnorm(x2, L.ffnNorm, c.normEps)), L.w13, undefined, OLD));
      const hb = t(swiglu(t(columns(hb13, 0, H)), t(columns(hb13, H, 2 * H))));
      return add(x2, t(linear(hb, L.w2, undefined, OLD)));
    });
    x.dispose();
    x = y;
  }
  cache.append(1);
  const h = rmsnorm(x, model.finalNorm, c.normEps);
  const logits = linear(h, model.outputWeight, undefined, OLD);
  for (const t of [x, h, pos]) t.dispose();
  return logits;
}

async function run(kind: 'old' | 'new', steps: number) {
  const cache = model.createCache(steps);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let token = c.bosId;
  for (let i = 0; i < steps; i++) {
    let logits: Tensor;
    if (kind === 'old') logits = unfusedStep(cache, token, i);
    else {
      const out = model.forward(cache, { tokens: [token], logits: 'last' });
      out.hidden.dispose();
      logits = out.logits!;
    }
    const id = argmax(logits);
    logits.dispose();
    token = (await id.read())[0];
    id.dispose();
    cache.commit();
  }
  const cu = process.cpuUsage(c0);
  cache.dispose();
  return { wall: (performance.now() - t0) / steps, cpu: (cu.user + cu.system) / 1000 / steps };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
await run('old', 3); // compile pipelines
await run('new', 3);
const cpuRatio: number[] = [];
const wallRatio: number[] = [];
const olds: number[] = [];
const news: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  const oldFirst = r % 2 === 0;
  const a = await run(oldFirst ? 'old' : 'new', STEPS);
  const b = await run(oldFirst ? 'new' : 'old', STEPS);
  const [o, n] = oldFirst ? [a, b] : [b, a];
  cpuRatio.push(n.cpu / o.cpu);
  wallRatio.push(n.wall / o.wall);
  olds.push(o.cpu);
  news.push(n.cpu);
}
const load = (await import('node:os')).loadavg()[0];
console.log(`stories15M-shape, ${dtype} weights, load ${load.toFixed(1)}: CPU ms/step unfused ${median(olds).toFixed(1)}, forward ${median(news).toFixed(1)}; median new/old ratio CPU ${median(cpuRatio).toFixed(3)}, wall ${median(wallRatio).toFixed(3)} (${ROUNDS} interleaved rounds of ${STEPS} steps)`);
model.dispose();
device.destroy();
