// pnpm bench:model — decode and prefill speed of the GPU model on stories260K and on random
// weights of real shapes (stories15M, SmolLM2-135M, Qwen3-0.6B, Llama-3.2-1B), with dispatches per
// token and per layer, the weights' bytes on the GPU, and a time split of one decode step (layer
// linears with their fused norms + output projection / attention / final norm / read-back, CPU ms
// of the process, lavapipe's threads included) measured by running the step's pieces alone. Prints
// a table; never fails on time.
//
//   node --conditions=source --import tsx bench/model.bench.ts [--shapes smollm2,qwen3] [--dtypes f32,f16,q8,q4]
//       [--tokens 64] [--prefill 64] [--no-split] [--f16 | --q8 | --q4] [--software-threads N]
//
// --shapes (or HYDRA_BENCH_SHAPES) keeps the models whose names contain one of the words; --only is
// the one-word form. The big shapes are slow on software adapters: pass few --tokens and a short
// --prefill there. A model × dtype that the adapter cannot hold (no shader-f16, no packed integer
// dot products, more bytes than the adapter's buffers or this machine's free memory) is skipped
// with the reason printed.
//
// As the CLI's decoding commands, it asks for 0 llvmpipe worker threads (getDevice's
// softwareThreads) unless --software-threads or LP_NUM_THREADS says otherwise.
import { readFileSync } from 'node:fs';
import { freemem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { argmax, attention, getDevice, linear, rmsnorm, type Device } from '@hydra-ts/tensor';
import { parseLlama2cCheckpoint, randomCheckpoint, LlamaModel, RANDOM_SHAPES, type LlamaCheckpoint, type LlamaConfig, type WeightDType } from '../src/index';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const value = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const DECODE_TOKENS = Number(value('tokens', '64'));
const PREFILL_TOKENS = Number(value('prefill', '64'));
const shapes = value('shapes', process.env.HYDRA_BENCH_SHAPES ?? value('only', '')).split(',').map((w) => w.trim().toLowerCase()).filter(Boolean);
const dtypes = value('dtypes', flag('q4') ? 'q4' : flag('q8') ? 'q8' : flag('f16') ? 'f16' : 'f32').split(',') as WeightDType[];
const withSplit = !flag('no-split');

interface Row {
  model: string;
  dtype: WeightDType;
  params: string;
  gpuMiB: number;
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

/** Parameters of the weight matrices and embeddings (norms and biases left out). */
function paramCount(c: LlamaConfig): number {
  const qDim = c.nHeads * c.headDim;
  const kvDim = c.nKvHeads * c.headDim;
  const layer = c.dim * (2 * qDim + 2 * kvDim) + 3 * c.dim * c.hiddenDim;
  return c.nLayers * layer + c.vocabSize * c.dim * (c.tiedEmbeddings ? 1 : 2);
}

/** Why `device` cannot run `c` at `dtype`, or null. Estimates from the shapes, before any weight is built. */
function cannotRun(device: Device, c: LlamaConfig, dtype: WeightDType): string | null {
  if (dtype === 'f16' && !device.hasF16) return 'the adapter has no shader-f16';
  if ((dtype === 'q8' || dtype === 'q4') && !device.hasPacked4x8) return 'the adapter has no packed 4x8 integer dot product';
  const bytesPer = { f32: 4, f16: 2, q8: 1 + 4 / 32, q4: 0.5 + 4 / 32 }[dtype];
  const tableBytes = c.vocabSize * c.dim * (dtype === 'f16' ? 2 : 4); // embeddings stay f32 under q8/q4
  const gpu = (paramCount(c) - c.vocabSize * c.dim) * bytesPer + tableBytes + (dtype === 'q8' || dtype === 'q4' ? c.vocabSize * c.dim * bytesPer : 0);
  const largest = Math.max(tableBytes, 2 * c.hiddenDim * c.dim * bytesPer);
  if (largest > device.limits.maxBufferSize) return `a ${mib(largest)} MiB weight exceeds maxBufferSize (${mib(device.limits.maxBufferSize)} MiB)`;
  // The f32 weights are built on the host first; a software adapter's buffers are host memory too.
  const host = paramCount(c) * 4 + gpu;
  const free = freemem();
  if (host > 0.7 * free) return `~${mib(host)} MiB of host f32 weights + GPU copy exceed 70% of free memory (${mib(free)} MiB)`;
  return null;
}

const mib = (bytes: number) => Math.round(bytes / 2 ** 20);

async function bench(name: string, device: Device, ckpt: LlamaCheckpoint, dtype: WeightDType): Promise<Row> {
  const c = ckpt.config;
  console.log(`  ${name} ${dtype}: uploading${dtype === 'q8' || dtype === 'q4' ? ' and quantizing' : ''}...`);
  const model = LlamaModel.fromWeights(device, c, ckpt.weights, undefined, { dtype });
  const gpuMiB = mib(model.weightBytes);
  const prompt = Array.from({ length: PREFILL_TOKENS }, (_, i) => (i === 0 ? c.bosId : 3 + ((i * 7919) % (c.vocabSize - 3))));
  const decodePrompt = prompt.slice(0, 8);
  console.log(`  ${name} ${dtype}: warm-up and ${DECODE_TOKENS} decode steps...`);
  await timeDecode(model, device, decodePrompt, 2); // warm-up: pipelines, pool
  const d = await timeDecode(model, device, decodePrompt, DECODE_TOKENS);
  console.log(`  ${name} ${dtype}: prefill of ${prompt.length} tokens (3 runs)...`);
  const prefill = await timePrefill(model, prompt);
  const s = withSplit ? await split(model, device, decodePrompt.length + DECODE_TOKENS / 2) : '(--no-split)';
  const params = ckpt.weights.tokenEmbedding.length + ckpt.weights.layers.reduce((n, l) => n + l.wq.length + l.wk.length + l.wv.length + l.wo.length + l.w1.length + l.w2.length + l.w3.length, 0);
  model.dispose();
  device.trimPool();
  return {
    model: name,
    dtype,
    gpuMiB,
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
  const storiesCkpt = () => parseLlama2cCheckpoint(readFileSync(stories), stories);
  const models: Array<[string, LlamaConfig | null, () => LlamaCheckpoint]> = [
    ['stories260K', null, storiesCkpt],
    ['stories15M-shape (random)', RANDOM_SHAPES.stories15M, () => randomCheckpoint('stories15M', 1)],
    ['SmolLM2-135M-shape (random)', RANDOM_SHAPES['smollm2-135m'], () => randomCheckpoint('smollm2-135m', 1)],
    ['Qwen3-0.6B-shape (random)', RANDOM_SHAPES['qwen3-0.6b'], () => randomCheckpoint('qwen3-0.6b', 1)],
    ['Llama-3.2-1B-shape (random)', RANDOM_SHAPES['llama3.2-1b'], () => randomCheckpoint('llama3.2-1b', 1)],
  ];
  const load = (await import('node:os')).loadavg()[0];
  console.log(`adapter: ${device.name} (LP_NUM_THREADS ${process.env.LP_NUM_THREADS ?? 'default'}); load average ${load.toFixed(1)}; weights ${dtypes.join(', ')}; decode ${DECODE_TOKENS} tokens greedy after an 8-token prompt; prefill ${PREFILL_TOKENS} tokens`);
  const rows: Row[] = [];
  for (const [name, shape, make] of models) {
    if (shapes.length > 0 && !shapes.some((w) => name.toLowerCase().includes(w))) continue;
    const runnable = dtypes.filter((dt) => {
      const why = shape ? cannotRun(device, shape, dt) : null;
      if (why) console.log(`  ${name} ${dt}: skipped: ${why}`);
      return why === null;
    });
    if (runnable.length === 0) continue;
    console.log(`  ${name}: building weights...`);
    const ckpt = make();
    for (const dt of runnable) {
      rows.push(await bench(name, device, ckpt, dt));
      const r = rows.at(-1)!;
      console.log(`  ${r.model} ${r.dtype}: decode ${r.decode.toFixed(1)} tok/s (${r.decodeCpu.toFixed(1)} tok/cpu-s), prefill ${r.prefill.toFixed(1)} tok/s, ${r.perToken.toFixed(0)} dispatches/token (${r.perLayer.toFixed(1)}/layer), ${r.gpuMiB} MiB of weights; step split: ${r.split}`);
    }
  }
  console.log('');
  console.log('| model | weights | params | GPU MiB | decode tok/s (wall) | decode tok/cpu-s | prefill tok/s | dispatches/token | dispatches/layer | decode step split |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.model} | ${r.dtype} | ${r.params} | ${r.gpuMiB} | ${r.decode.toFixed(1)} | ${r.decodeCpu.toFixed(1)} | ${r.prefill.toFixed(1)} | ${r.perToken.toFixed(0)} | ${r.perLayer.toFixed(1)} | ${r.split} |`);
  }
  device.destroy();
}

await main();
