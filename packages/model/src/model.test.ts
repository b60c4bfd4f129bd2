import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getDevice, IndexError, ShapeError, type Device, type Tensor } from '@hydra-ts/tensor';
import { compareClose } from '@hydra-ts/tensor/testing';
import { parseLlama2cCheckpoint } from './llama2c';
import { Llama2cTokenizer } from './llama2c-tokenizer';
import { ReferenceLlama, referenceGreedy } from './reference';
import { greedyTokens, STORIES_DIR } from './testdata';
import { LlamaModel } from './model';
import { CacheError, type KVCache } from './cache';
import { convertLlama2cToHf } from './convert';
import { memoryFileSource } from './source';
import { randomCheckpoint } from './random-weights';

const ckpt = parseLlama2cCheckpoint(readFileSync(`${STORIES_DIR}/stories260K.bin`), 'stories260K.bin');
const tok = Llama2cTokenizer.fromBytes(readFileSync(`${STORIES_DIR}/tok512.bin`), 'tok512.bin', ckpt.config.vocabSize);
const V = ckpt.config.vocabSize;
// GPU sums run in f32 in another order than the reference's f64 sums; logits are O(10).
const LOGIT_TOL = { atol: 1e-4, rtol: 1e-5 };

/** Reference logits [n, vocab] of a token sequence, one position at a time from position 0. */
function referenceLogits(tokens: number[]): Float32Array[] {
  const ref = new ReferenceLlama(ckpt.config, ckpt.weights);
  return tokens.map((t, pos) => Float32Array.from(ref.forward(t, pos)));
}

function rowOf(all: Float32Array, r: number): Float32Array {
  return all.subarray(r * V, (r + 1) * V);
}

async function readAndDispose(t: Tensor | null): Promise<Float32Array> {
  const data = (await t!.read()) as Float32Array;
  t!.dispose();
  return data;
}

let device: Device;
let model: LlamaModel;
// A real sequence: BOS and the start of the golden greedy story.
let sequence: number[];

beforeAll(async () => {
  device = await getDevice();
  model = await LlamaModel.load(`${STORIES_DIR}/stories260K.bin`, { tokenizer: 'tok512.bin', device });
  sequence = [tok.bosId, ...referenceGreedy(new ReferenceLlama(ckpt.config, ckpt.weights), [tok.bosId], 40)];
});

afterAll(() => model?.dispose());

describe('LlamaModel on stories260K', () => {
  it("greedy 200 steps from BOS reproduces llama2.c's output byte for byte", async () => {
    const expected = readFileSync(`${STORIES_DIR}/expected-greedy-200-steps.txt`);
    // llama2.c's 200 steps = positions 0..199, each emitting one token; BOS stops it.
    const ids = await greedyTokens(model, [tok.bosId], 200, [tok.bosId, tok.eosId]);
    expect(Buffer.from(tok.decode([tok.bosId, ...ids]), 'utf8').equals(expected)).toBe(true);
  });

  it('logits at every position match the CPU reference, prefilled at once and one token at a time', async () => {
    const want = referenceLogits(sequence);
    const cache = model.createCache();
    const all = model.forward(cache, { tokens: sequence, logits: 'all' });
    expect(all.logits!.shape).toEqual([sequence.length, V]);
    expect(all.hidden.shape).toEqual([sequence.length, ckpt.config.dim]);
    const got = await readAndDispose(all.logits);
    all.hidden.dispose();
    for (let p = 0; p < sequence.length; p++) {
      const r = compareClose(rowOf(got, p), want[p], { ...LOGIT_TOL, what: `prefill logits at position ${p}` });
      expect(r.ok, r.message).toBe(true);
    }
    cache.reset();
    for (let p = 0; p < sequence.length; p++) {
      const out = model.forward(cache, { tokens: [sequence[p]], logits: 'last' });
      cache.commit();
      out.hidden.dispose();
      const r = compareClose(await readAndDispose(out.logits), want[p], { ...LOGIT_TOL, what: `decode logits at position ${p}` });
      expect(r.ok, r.message).toBe(true);
    }
    expect(cache.length).toBe(sequence.length);
    cache.dispose();
  });

  it('hidden is the final-normed state (its projection is the logits) and logits rows follow the choice', async () => {
    const tokens = sequence.slice(0, 17);
    const cache = model.createCache(64);
    const full = model.forward(cache, { tokens, logits: 'all' });
    const all = await readAndDispose(full.logits);
    const ref = new ReferenceLlama(ckpt.config, ckpt.weights);
    tokens.forEach((t, p) => ref.forward(t, p));
    const hidden = (await full.hidden.read()) as Float32Array;
    const r = compareClose(hidden.subarray(16 * ckpt.config.dim), ref.hidden, { atol: 1e-5, rtol: 1e-4, what: 'hidden of the last row' });
    expect(r.ok, r.message).toBe(true);
    const projected = await readAndDispose(model.project(full.hidden));
    expect(compareClose(projected, all, { atol: 1e-6 }).ok).toBe(true);
    full.hidden.dispose();
    for (const [choice, rows] of [['last', [16]], [[3, 0, 16], [3, 0, 16]]] as const) {
      cache.reset();
      const out = model.forward(cache, { tokens, logits: choice as 'last' | number[] });
      out.hidden.dispose();
      expect(out.logits!.shape).toEqual([rows.length, V]);
      const got = await readAndDispose(out.logits);
      rows.forEach((row, i) => expect(compareClose(rowOf(got, i), rowOf(all, row), { atol: 1e-6 }).ok).toBe(true));
    }
    cache.reset();
    const none = model.forward(cache, { tokens, logits: 'none' });
    expect(none.logits).toBeNull();
    none.hidden.dispose();
    cache.dispose();
  });

  it('capture returns the chosen layers\' inputs side by side, as the CPU reference computes them; a bad layer is an IndexError', async () => {
    const tokens = sequence.slice(0, 9);
    const { dim, nLayers } = ckpt.config;
    const layers = [1, Math.floor(nLayers / 2), nLayers - 1, 0];
    const cache = model.createCache(64);
    const out = model.forward(cache, { tokens, logits: 'none', capture: layers });
    expect(out.features!.shape).toEqual([tokens.length, layers.length * dim]);
    const got = await readAndDispose(out.features!);
    out.hidden.dispose();
    const ref = new ReferenceLlama(ckpt.config, ckpt.weights);
    tokens.forEach((t, p) => {
      ref.forward(t, p);
      layers.forEach((l, i) => {
        const row = got.subarray((p * layers.length + i) * dim, (p * layers.length + i + 1) * dim);
        const r = compareClose(row, ref.layerInputs[l], { atol: 1e-5, rtol: 1e-4, what: `position ${p}, layer ${l}'s input` });
        expect(r.ok, r.message).toBe(true);
      });
    });
    cache.reset();
    expect(() => model.forward(cache, { tokens, capture: [nLayers] })).toThrow(/capture\[0\] = 5, expected a layer in \[0, nLayers = 5\)/);
    cache.dispose();
  });

  it('the converted Hugging Face directory (half RoPE, safetensors, tokenizer.json) decodes identically', async () => {
    const files = convertLlama2cToHf(ckpt.config, ckpt.weights, tok);
    const hf = await LlamaModel.load(memoryFileSource(files, 'stories260K-hf'), { device });
    expect(hf.format).toBe('hf');
    expect(hf.config.ropeLayout).toBe('half');
    const prompt = tok.encode('Once upon a time', { bos: true });
    const a = await greedyTokens(model, prompt, 30);
    const b = await greedyTokens(hf, prompt, 30);
    expect(b).toEqual(a);
    expect(hf.tokenizer!.decode(b)).toBe(tok.decode(a));
    expect(a.length).toBe(30);
    hf.dispose();
  });

  it('tree forward + commit(path) leaves the cache as if the path had been decoded', async () => {
    const L = 9;
    const prefix = sequence.slice(0, L);
    // Tree: 0 root; 1, 2 children of 0; 3 child of 1; 4 child of 3; 5 child of 2.
    const parent = [-1, 0, 0, 1, 3, 2];
    const depth = [0, 1, 1, 2, 3, 2];
    const treeTokens = [sequence[L], sequence[L + 1], 77, sequence[L + 2], sequence[L + 3], 140];
    const n = parent.length;
    const mask = new Uint8Array(n * n);
    for (let i = 0; i < n; i++) for (let j = i; j >= 0; j = parent[j]) mask[i * n + j] = 1;
    const positions = Int32Array.from(depth, (d) => L + d);

    const cache = model.createCache(64);
    model.forward(cache, { tokens: prefix, logits: 'none' }).hidden.dispose();
    cache.commit();
    const tree = model.forward(cache, { tokens: treeTokens, positions, mask, logits: 'all' });
    tree.hidden.dispose();
    const treeLogits = await readAndDispose(tree.logits);
    expect(cache.pending).toBe(n);

    // Every node's logits equal the reference run over prefix + its root-to-node path.
    for (const node of [4, 5]) {
      const path: number[] = [];
      for (let j = node; j >= 0; j = parent[j]) path.unshift(treeTokens[j]);
      const want = referenceLogits([...prefix, ...path]).at(-1)!;
      const r = compareClose(rowOf(treeLogits, node), want, { ...LOGIT_TOL, what: `tree node ${node}` });
      expect(r.ok, r.message).toBe(true);
    }

    // Accept path 0 -> 1 -> 3 -> 4 (row indices among the pending rows), then decode one more token.
    const path = [0, 1, 3, 4];
    cache.commit(path);
    expect(cache.length).toBe(L + path.length);
    expect(cache.pending).toBe(0);
    const committed = [...prefix, ...path.map((i) => treeTokens[i])];
    const next = sequence[L + 4];
    const step = model.forward(cache, { tokens: [next], logits: 'last' });
    step.hidden.dispose();
    const got = await readAndDispose(step.logits);

    const fresh = model.createCache(64);
    const scratch = model.forward(fresh, { tokens: [...committed, next], logits: 'last' });
    scratch.hidden.dispose();
    const want = await readAndDispose(scratch.logits);
    const r = compareClose(got, want, { ...LOGIT_TOL, what: 'logits after commit(path) vs from scratch' });
    expect(r.ok, r.message).toBe(true);
    cache.dispose();
    fresh.dispose();
  });

  it('rollback forgets rows: re-decoding other tokens matches a fresh cache', async () => {
    const cache = model.createCache(64);
    model.forward(cache, { tokens: sequence.slice(0, 12), logits: 'none' }).hidden.dispose();
    cache.commit();
    cache.rollback(6);
    expect(cache.length).toBe(6);
    const other = [5, 99, 300, 17];
    const a = model.forward(cache, { tokens: other, logits: 'all' });
    cache.commit();
    a.hidden.dispose();
    const fresh = model.createCache(64);
    const b = model.forward(fresh, { tokens: [...sequence.slice(0, 6), ...other], logits: [6, 7, 8, 9] });
    b.hidden.dispose();
    const r = compareClose(await readAndDispose(a.logits), await readAndDispose(b.logits), LOGIT_TOL);
    expect(r.ok, r.message).toBe(true);
    expect(() => cache.rollback(11)).toThrow(CacheError);
    cache.dispose();
    fresh.dispose();
  });

  it('tokens given as a GPU i32 tensor give the same pass as host ids; bad ids and tensors get typed errors', async () => {
    const ids = [1, 403, 17, 88];
    const host = model.createCache(16);
    const a = model.forward(host, { tokens: ids, logits: 'all' });
    const gpu = model.createCache(16);
    const t = device.tensor(Int32Array.from(ids), [4], 'i32');
    const b = model.forward(gpu, { tokens: t, logits: 'all' });
    expect(t.disposed).toBe(false); // borrowed
    expect(Array.from(await readAndDispose(b.logits))).toEqual(Array.from(await readAndDispose(a.logits)));
    a.hidden.dispose();
    b.hidden.dispose();
    gpu.commit([]);
    const bad = device.tensor(Int32Array.of(1, V), [2], 'i32'); // V is one past the vocabulary
    const c = model.forward(gpu, { tokens: bad, logits: 'all' });
    await expect(c.logits!.read()).rejects.toThrow(IndexError);
    c.hidden.dispose();
    c.logits!.dispose();
    gpu.commit([]);
    expect(() => model.forward(gpu, { tokens: device.tensor(new Float32Array(2), [2]) })).toThrow(/expected an i32 tensor \[rows\]/);
    expect(() => model.forward(gpu, { tokens: device.tensor(new Int32Array(4), [2, 2], 'i32') })).toThrow(/expected an i32 tensor \[rows\]/);
    t.dispose();
    expect(() => model.forward(gpu, { tokens: t })).toThrow(/was disposed/);
    for (const x of [host, gpu, bad]) x.dispose();
  });

  it('positions and a tree mask given as GPU tensors give the same pass as host arrays; bad ones get typed errors', async () => {
    const ids = [1, 403, 17, 88, 5];
    const parent = [-1, 0, 0, 1, 2];
    const n = ids.length;
    const mask = new Uint8Array(n * n);
    for (let i = 0; i < n; i++) for (let j = i; j >= 0; j = parent[j]) mask[i * n + j] = 1;
    const positions = Int32Array.of(3, 4, 4, 5, 5);
    const prefix = [1, 9, 30];
    const run = (input: { positions: Int32Array | Tensor; mask: Uint8Array | Tensor }) => {
      const cache = model.createCache(16);
      model.forward(cache, { tokens: prefix, logits: 'none' }).hidden.dispose();
      cache.commit();
      const out = model.forward(cache, { tokens: ids, logits: 'all', ...input });
      out.hidden.dispose();
      return { cache, logits: out.logits };
    };
    const host = run({ positions, mask });
    const pos = device.tensor(positions, [n], 'i32');
    const m = device.tensor(Uint32Array.from(mask), [n, n], 'u32');
    const gpu = run({ positions: pos, mask: m });
    expect(pos.disposed || m.disposed).toBe(false); // borrowed
    expect(Array.from(await readAndDispose(gpu.logits))).toEqual(Array.from(await readAndDispose(host.logits)));
    const cache = gpu.cache;
    cache.commit([]);
    expect(() => model.forward(cache, { tokens: ids, positions: device.tensor(new Float32Array(n), [n]) })).toThrow(/positions .*expected i32/);
    expect(() => model.forward(cache, { tokens: ids, positions: device.tensor(new Int32Array(4), [4], 'i32') })).toThrow(/positions .*expected \[rows = 5\]/);
    expect(() => model.forward(cache, { tokens: ids, mask: device.tensor(new Uint32Array(20), [4, 5], 'u32') })).toThrow(/mask .*expected \[rows, rows\] = \[5, 5\]/);
    m.dispose();
    expect(() => model.forward(cache, { tokens: ids, mask: m })).toThrow(/was disposed/);
    expect(cache.pending).toBe(0);
    for (const x of [host.cache, gpu.cache, pos]) x.dispose();
  });

  it('a decode step costs 6 dispatches per layer (the target is at most 12)', () => {
    const cache = model.createCache(16);
    model.forward(cache, { tokens: [1, 2, 3], logits: 'none' }).hidden.dispose();
    cache.commit();
    const before = device.stats.dispatches;
    const out = model.forward(cache, { tokens: [4], logits: 'last' });
    const perStep = device.stats.dispatches - before;
    out.hidden.dispose();
    out.logits!.dispose();
    cache.dispose();
    // embedding + layers + final norm + output projection
    expect((perStep - 3) / ckpt.config.nLayers).toBe(6);
  });

  it('f16 weights stay close to the f32 model', async (ctx) => {
    if (!device.hasF16) return ctx.skip();
    const half = LlamaModel.fromWeights(device, ckpt.config, ckpt.weights, tok, { dtype: 'f16' });
    expect(half.tokenEmbedding.dtype).toBe('f16');
    expect(half.outputWeight).toBe(half.tokenEmbedding); // tied
    const tokens = sequence.slice(0, 7);
    const want = referenceLogits(tokens);
    const cache = half.createCache(8);
    const out = half.forward(cache, { tokens, logits: 'all' });
    out.hidden.dispose();
    const got = await readAndDispose(out.logits);
    for (let p = 0; p < tokens.length; p++) {
      const r = compareClose(rowOf(got, p), want[p], { atol: 0.05, rtol: 0.01, what: `f16 logits at ${p}` });
      expect(r.ok, r.message).toBe(true);
    }
    cache.dispose();
    half.dispose();
  });

  describe('bad input', () => {
    let cache: KVCache;
    beforeAll(() => {
      cache = model.createCache(8);
    });
    afterAll(() => cache.dispose());

    it('tokens outside the vocabulary, empty tokens, bad positions -> typed errors before any work', () => {
      expect(() => model.forward(cache, { tokens: [1, V] })).toThrow(IndexError);
      expect(() => model.forward(cache, { tokens: [1, -1] })).toThrow(/outside the vocabulary/);
      expect(() => model.forward(cache, { tokens: [1.5] })).toThrow(IndexError);
      expect(() => model.forward(cache, { tokens: [] })).toThrow(ShapeError);
      expect(() => model.forward(cache, { tokens: [1, 2], positions: Int32Array.of(0) })).toThrow(ShapeError);
      expect(() => model.forward(cache, { tokens: [1], positions: Int32Array.of(ckpt.config.maxSeqLen) })).toThrow(IndexError);
      expect(() => model.embed([V + 3])).toThrow(IndexError);
      expect(cache.pending).toBe(0);
    });

    it('a mask of the wrong size and bad logits rows -> typed errors', () => {
      expect(() => model.forward(cache, { tokens: [1, 2, 3], mask: new Uint8Array(8) })).toThrow(/mask has 8 entries, expected rows·rows = 9/);
      expect(() => model.forward(cache, { tokens: [1, 2, 3], logits: [3] })).toThrow(IndexError);
      expect(cache.pending).toBe(0);
    });

    it('cache misuse: capacity, uncommitted rows, commit of unknown rows -> CacheError', () => {
      expect(() => model.forward(cache, { tokens: new Array(9).fill(1) })).toThrow(CacheError);
      const out = model.forward(cache, { tokens: [1, 2, 3], logits: 'none' });
      out.hidden.dispose();
      expect(() => model.forward(cache, { tokens: [4] })).toThrow(/pending rows/);
      expect(() => cache.commit([3])).toThrow(CacheError);
      expect(() => cache.commit([0, 0])).toThrow(CacheError);
      cache.commit([0, 2]);
      expect(cache.length).toBe(2);
      const other = model.createCache(4);
      other.dispose();
      expect(() => other.commit()).toThrow(CacheError);
    });
  });
});

describe('LlamaModel on odd random shapes (q/k/v bias, GQA 5:1, half RoPE, untied output)', () => {
  it('logits of a prefill and of decode steps match the CPU reference', async () => {
    const config = {
      ...ckpt.config,
      architecture: 'qwen2' as const,
      dim: 30,
      hiddenDim: 17,
      nLayers: 2,
      nHeads: 5,
      nKvHeads: 1,
      headDim: 6,
      vocabSize: 257,
      maxSeqLen: 40,
      ropeTheta: 1e6,
      ropeLayout: 'half' as const,
      tiedEmbeddings: false,
      qkvBias: true,
    };
    const { weights } = randomCheckpoint(config, 3, 0.3);
    const m = LlamaModel.fromWeights(device, config, weights, undefined, { format: 'hf' });
    const ref = new ReferenceLlama(config, weights);
    const tokens = [1, 200, 3, 256, 17, 0, 99, 5, 140, 33, 12, 7, 250, 64, 128, 1, 2];
    const want = tokens.map((t, p) => Float32Array.from(ref.forward(t, p)));
    const cache = m.createCache();
    const pre = m.forward(cache, { tokens: tokens.slice(0, 14), logits: 'all' });
    cache.commit();
    pre.hidden.dispose();
    const got = await readAndDispose(pre.logits);
    for (let p = 0; p < 14; p++) {
      const r = compareClose(got.subarray(p * 257, (p + 1) * 257), want[p], { ...LOGIT_TOL, what: `prefill logits at ${p}` });
      expect(r.ok, r.message).toBe(true);
    }
    for (let p = 14; p < tokens.length; p++) {
      const out = m.forward(cache, { tokens: [tokens[p]], logits: 'last' });
      cache.commit();
      out.hidden.dispose();
      const r = compareClose(await readAndDispose(out.logits), want[p], { ...LOGIT_TOL, what: `decode logits at ${p}` });
      expect(r.ok, r.message).toBe(true);
    }
    expect(m.outputWeight).not.toBe(m.tokenEmbedding);
    cache.dispose();
    m.dispose();
  });
});
