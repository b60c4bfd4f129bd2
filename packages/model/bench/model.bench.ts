// pnpm bench:model — decode and prefill speed of the GPU model on stories260K and on random
// weights of real shapes (stories15M, SmolLM2-135M), with dispatches per token and per layer and a
// time split of one decode step (layer linears with their fused norms + output projection / attention / final norm / read-back,
// CPU ms of the process, lavapipe's threads included) measured by running the step's pieces alone. Prints a table; never fails on time.
//
//   node --conditions=source --import tsx bench/model.bench.ts [--only stories15M] [--tokens 64] [--f16 | --q8 | --q4] [--software-threads N]
//
// As the CLI's decoding commands, it asks for 0 llvmpipe worker threads (getDevice's
// softwareThreads) unless --software-threads or LP_NUM_THREADS says otherwise.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { argmax, attention, getDevice, linear, rmsnorm, type Device } from '@hydra-ts/tensor';
import { parseLlama2cCheckpoint, randomCheckpoint, LlamaModel, type LlamaCheckpoint } from '../src/index';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const value = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const DECODE_TOKENS = Number(value('tokens', '64'));
const PREFILL_TOKENS = Number(value('prefill', '64'));
const only = value('only', '');
const dtype = flag('q4') ? 'q4' : flag('q8') ? 'q8' : flag('f16') ? 'f16' : 'f32';

interface Row {
  model: string;
  params: string;
  decode: number;
  decodeCpu: number;
  prefill: number;
  perToken: number;
  perLayer: number;
  split: string;
}

/** Greedy decoding, one forward pass and a GPU argmax per token (as @hydra-ts/decode's AR step runs); prefill excluded from the rate. */
async function timeDecode(model: LlamaModel, device: Device, prompt: number[], tokens: number) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const run = model.createCache(prompt.length + tokens);
  let prefillMs = 0;
  let input = prompt;
  for (let i = 0; i < tokens; i++) {
    const f = model.forward(run, { tokens: input, logits: 'last' });
    f.hidden.dispose();
    run.commit();
    const best = argmax(f.logits!); // [1]
    f.logits!.dispose();
    input = [(await best.read())[0]];
    best.dispose();
    if (i === 0) prefillMs = performance.now() - t0;
  }
  run.dispose();
  const elapsedMs = performance.now() - t0;
  const cu = process.cpuUsage(c0);
  const steps = tokens - 1; // forward passes after the prefill
  const decodeMs = elapsedMs - prefillMs;
  // Dispatches of one decode step: forward of one row + greedy argmax.
  const cache = model.createCache(prompt.length + 1);
  model.forward(cache, { tokens: prompt, logits: 'none' }).hidden.dispose();
  cache.commit();
  const d0 = device.stats.dispatches;
  const step = model.forward(cache, { tokens: [prompt[1]], logits: 'last' });
  argmax(step.logits!).dispose();
  const perToken = device.stats.dispatches - d0;
  step.hidden.dispose();
  step.logits!.dispose();
  cache.dispose();
  // CPU time of the whole process (prefill included), lavapipe's worker threads too: steadier than
  // wall time on a shared machine; on an idle machine wall time lies between cpu/threads and cpu.
  const cpuMs = (cu.user + cu.system) / 1000;
  return { tokensPerSecond: (steps / decodeMs) * 1000, tokensPerCpuSecond: (steps / cpuMs) * 1000, perToken };
}

async function timePrefill(model: LlamaModel, prompt: number[]) {
  const run = async () => {
    const cache = model.createCache(prompt.length);
    const t0 = performance.now();
    const out = model.forward(cache, { tokens: prompt, logits: 'last' });
    await out.logits!.read();
    const ms = performance.now() - t0;
    out.hidden.dispose();
    out.logits!.dispose();
    cache.dispose();
    return ms;
  };
  await run(); // compile the many-row pipelines
  const ms = Math.min(await run(), await run());
  return (prompt.length / ms) * 1000;
}

/** Mean CPU ms (process, lavapipe threads included) of `fn` recorded `reps` times in one submit. */
async function timeOps(device: Device, reps: number, fn: () => void): Promise<number> {
  fn();
  await device.sync();
  const c0 = process.cpuUsage();
  for (let i = 0; i < reps; i++) fn();
  await device.sync();
  const cu = process.cpuUsage(c0);
  return (cu.user + cu.system) / 1000 / reps;
}

/** Where one decode step's time goes: every linear as the layers run it (RMSNorm, SwiGLU and residual fused), every attention, the read-back of the logits. */
async function split(model: LlamaModel, device: Device, context: number): Promise<string> {
  const c = model.config;
  const x = device.zeros([1, c.dim]);
  const att = device.zeros([1, c.nHeads * c.headDim]);
  const hb13 = device.zeros([1, 2 * c.hiddenDim]);
  const layerMs = await timeOps(device, 10, () => {
    for (const l of model.layers) {
      const attnNorm = { weight: l.attnNorm, eps: c.normEps };
      linear(x, l.wqkv, undefined, { normalize: attnNorm }).dispose();
      linear(att, l.wo, undefined, { residual: x }).dispose();
      linear(x, l.w13, undefined, { normalize: { weight: l.ffnNorm, eps: c.normEps } }).dispose();
      linear(hb13, l.w2, undefined, { swiglu: true, residual: x }).dispose();
    }
  });
  const outputMs = await timeOps(device, 10, () => model.project(x).dispose());
  att.dispose();
  hb13.dispose();
  const cache = model.createCache(context + 1);
  const q = device.zeros([1, c.nHeads * c.headDim]);
  const attMs = await timeOps(device, 10, () => {
    for (let l = 0; l < c.nLayers; l++) {
      const lc = cache.layers[l];
      attention(q, lc.k, lc.v, { cachedLen: context, nHeads: c.nHeads, nKvHeads: c.nKvHeads, headDim: c.headDim }).dispose();
    }
  });
  const normMs = await timeOps(device, 10, () => rmsnorm(x, model.finalNorm).dispose());
  const logits = device.zeros([1, c.vocabSize]);
  await logits.read();
  const t0 = performance.now();
  for (let i = 0; i < 10; i++) await logits.read();
  const readMs = (performance.now() - t0) / 10;
  for (const t of [x, q, logits]) t.dispose();
  cache.dispose();
  return `linear ${layerMs.toFixed(1)} + output ${outputMs.toFixed(1)} / attn ${attMs.toFixed(1)} / final norm ${normMs.toFixed(1)} / read ${readMs.toFixed(2)} ms`;
}

async function bench(name: string, device: Device, ckpt: LlamaCheckpoint): Promise<Row> {
  const c = ckpt.config;
  const model = LlamaModel.fromWeights(device, c, ckpt.weights, undefined, { dtype });
  const prompt = Array.from({ length: PREFILL_TOKENS }, (_, i) => (i === 0 ? c.bosId : 3 + ((i * 7919) % (c.vocabSize - 3))));
  const decodePrompt = prompt.slice(0, 8);
  await timeDecode(model, device, decodePrompt, 4); // warm-up: pipelines, pool
  const d = await timeDecode(model, device, decodePrompt, DECODE_TOKENS);
  const prefill = await timePrefill(model, prompt);
  const s = await split(model, device, decodePrompt.length + DECODE_TOKENS / 2);
  const params = ckpt.weights.tokenEmbedding.length + ckpt.weights.layers.reduce((n, l) => n + l.wq.length + l.wk.length + l.wv.length + l.wo.length + l.w1.length + l.w2.length + l.w3.length, 0);
  model.dispose();
  device.trimPool();
  return {
    model: name,
    params: `${(params / 1e6).toFixed(params < 1e6 ? 2 : 0)}M`,
    decode: d.tokensPerSecond,
    decodeCpu: d.tokensPerCpuSecond,
    prefill,
    perToken: d.perToken,
    perLayer: (d.perToken - 4) / c.nLayers, // less embedding, final norm, output projection, argmax
    split: s,
  };
}

async function main() {
  const device = await getDevice({ softwareThreads: Number(value('software-threads', '0')) });
  const stories = fileURLToPath(new URL('../../../models/stories260K/stories260K.bin', import.meta.url));
  const models: Array<[string, () => LlamaCheckpoint]> = [
    ['stories260K', () => parseLlama2cCheckpoint(readFileSync(stories), stories)],
    ['stories15M-shape (random)', () => randomCheckpoint('stories15M', 1)],
    ['SmolLM2-135M-shape (random)', () => randomCheckpoint('smollm2-135m', 1)],
  ];
  const load = (await import('node:os')).loadavg()[0];
  console.log(`adapter: ${device.name} (LP_NUM_THREADS ${process.env.LP_NUM_THREADS ?? 'default'}); load average ${load.toFixed(1)}; weights ${dtype}; decode ${DECODE_TOKENS} tokens greedy after an 8-token prompt; prefill ${PREFILL_TOKENS} tokens`);
  const rows: Row[] = [];
  for (const [name, make] of models) {
    if (only && !name.toLowerCase().includes(only.toLowerCase())) continue;
    rows.push(await bench(name, device, make()));
    const r = rows.at(-1)!;
    console.log(`  ${r.model}: decode ${r.decode.toFixed(1)} tok/s (${r.decodeCpu.toFixed(1)} tok/cpu-s), prefill ${r.prefill.toFixed(1)} tok/s, ${r.perToken.toFixed(0)} dispatches/token (${r.perLayer.toFixed(1)}/layer); step split: ${r.split}`);
  }
  console.log('');
  console.log('| model | params | decode tok/s (wall) | decode tok/cpu-s | prefill tok/s | dispatches/token | dispatches/layer | decode step split |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.model} | ${r.params} | ${r.decode.toFixed(1)} | ${r.decodeCpu.toFixed(1)} | ${r.prefill.toFixed(1)} | ${r.perToken.toFixed(0)} | ${r.perLayer.toFixed(1)} | ${r.split} |`);
  }
  device.destroy();
}

await main();
