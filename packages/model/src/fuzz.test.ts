// Mutated model files, through the loaders a user calls: each case must end in a typed error
// naming the file, or in a model that runs; none may allocate more than a few times its input
// (so no header is trusted over the file's size) or hang. Counts per outcome are printed.
import { readFileSync } from 'node:fs';
import { FuzzTally, fuzzRng, mutateBytes, mutateJsonText } from '@hydra-ts/tensor/fuzz';
import { describe, expect, it } from 'vitest';
import { convertLlama2cToHf } from './convert';
import { HfTokenizer } from './hf-tokenizer';
import { loadModelFiles } from './load';
import { Llama2cTokenizer } from './llama2c-tokenizer';
import { ReferenceLlama } from './reference';
import { parseSafetensors, serializeSafetensors } from './safetensors';
import { memoryFileSource } from './source';
import { STORIES_DIR, randomCheckpoint } from './testdata';
import type { Tokenizer } from './tokenizer';

const tokBytes = new Uint8Array(readFileSync(`${STORIES_DIR}/tok512.bin`));
const storiesBytes = new Uint8Array(readFileSync(`${STORIES_DIR}/stories260K.bin`));
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const bytesOf = (s: string) => new TextEncoder().encode(s);
const log = (t: FuzzTally) => console.log(t.summary());

/** A small HF model (qwen2: biases, untied output) as a directory, and the same split into two shards. */
const hf = randomCheckpoint({ architecture: 'qwen2', nLayers: 2 }, 3);
const hfFiles = convertLlama2cToHf(hf.config, hf.weights);
const hfTokenizer = { tokenizer: { vocabSize: hf.config.vocabSize } as Tokenizer };
const sharded = (() => {
  const tensors = [...parseSafetensors(hfFiles.get('model.safetensors')!).tensors];
  const half = Math.ceil(tensors.length / 2);
  const shards = [tensors.slice(0, half), tensors.slice(half)].map((part) => new Map(part.map(([k, v]) => [k, { shape: v.shape, data: v.data }])));
  const names = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
  const weightMap = Object.fromEntries(shards.flatMap((m, i) => [...m.keys()].map((k) => [k, names[i]])));
  return new Map<string, Uint8Array>([
    ['config.json', hfFiles.get('config.json')!],
    ['model.safetensors.index.json', bytesOf(JSON.stringify({ metadata: {}, weight_map: weightMap }, null, 1))],
    [names[0], serializeSafetensors(shards[0])],
    [names[1], serializeSafetensors(shards[1])],
  ]);
})();

/** The header's end: where safetensors keeps its structure. */
const headerEnd = (st: Uint8Array) => 8 + Number(new DataView(st.buffer, st.byteOffset).getBigUint64(0, true));

/** Mutates a safetensors file: its bytes, or its JSON header as text (same length, so the offsets stay put). */
function mutateSafetensors(st: Uint8Array, r: (n: number) => number): Uint8Array {
  if (r(3) !== 0) return mutateBytes(st, r, headerEnd(st));
  const b = st.slice();
  for (let k = 1 + r(3); k > 0; k--) b[8 + r(headerEnd(st) - 8)] = '0123456789",[]{}:-e'.charCodeAt(r(19));
  return b;
}

describe('fuzz: mutated model files end in typed errors naming the file, or in a model that runs', () => {
  it('llama2.c checkpoint (stories260K.bin): 250 mutations through loadModelFiles', async () => {
    const t = new FuzzTally('llama2.c checkpoint');
    for (let i = 0; i < 250; i++) {
      const b = mutateBytes(storiesBytes, fuzzRng(1000 + i), 28);
      const src = memoryFileSource({ 'm.bin': b, 'tokenizer.bin': tokBytes }, `case${i}`);
      await t.run(`case ${i}`, { inputBytes: b.length, file: [`case${i}:m.bin`, `case${i}:tokenizer.bin`] }, async () => {
        const m = await loadModelFiles(src, { checkpoint: 'm.bin' });
        new ReferenceLlama(m.config, m.weights).forward(1, 0);
      });
    }
    log(t);
    expect(t.counts.typed).toBeGreaterThan(100);
    expect(t.counts.ok).toBeGreaterThan(5);
  });

  it('llama2.c tokenizer (tok512.bin): 250 mutations', async () => {
    const t = new FuzzTally('llama2.c tokenizer');
    for (let i = 0; i < 250; i++) {
      const b = mutateBytes(tokBytes, fuzzRng(5000 + i), tokBytes.length);
      await t.run(`case ${i}`, { inputBytes: b.length, file: `case ${i}` }, () => {
        const tok = Llama2cTokenizer.fromBytes(b, `case ${i}`, i % 2 === 0 ? 512 : undefined);
        const ids = tok.encode('Once upon a time, Lily saw 🦙.', { bos: true });
        tok.decode(ids);
        const dec = tok.createStreamDecoder();
        for (const id of ids) dec.push(id);
        dec.flush();
      });
    }
    log(t);
    expect(t.counts.typed).toBeGreaterThan(100);
    expect(t.counts.ok).toBeGreaterThan(20);
  });

  it('HF directory (config.json + model.safetensors): 300 mutations of either', async () => {
    const t = new FuzzTally('HF config.json / model.safetensors');
    const config = text(hfFiles.get('config.json')!);
    for (let i = 0; i < 300; i++) {
      const r = fuzzRng(9000 + i);
      const files = new Map(hfFiles);
      const name = i % 2 === 0 ? 'model.safetensors' : 'config.json';
      files.set(name, name === 'config.json' ? bytesOf(mutateJsonText(config, r)) : mutateSafetensors(hfFiles.get(name)!, r));
      const src = memoryFileSource(files, `case${i}`);
      await t.run(`case ${i} (${name})`, { inputBytes: files.get(name)!.length + hfFiles.get('model.safetensors')!.length, file: [`case${i}:`] }, async () => {
        const m = await loadModelFiles(src, hfTokenizer);
        new ReferenceLlama(m.config, m.weights).forward(1, 0);
      });
    }
    log(t);
    expect(t.counts.typed).toBeGreaterThan(150);
    expect(t.counts.ok).toBeGreaterThan(5);
  });

  it('sharded HF directory (model.safetensors.index.json + 2 shards): 150 mutations', async () => {
    const t = new FuzzTally('HF index / shards');
    const index = text(sharded.get('model.safetensors.index.json')!);
    const shardNames = [...sharded.keys()].filter((k) => k.startsWith('model-'));
    for (let i = 0; i < 150; i++) {
      const r = fuzzRng(13000 + i);
      const files = new Map(sharded);
      const name = i % 3 === 0 ? 'model.safetensors.index.json' : shardNames[i % 2];
      files.set(name, name.endsWith('.json') ? bytesOf(mutateJsonText(index, r)) : mutateSafetensors(sharded.get(name)!, r));
      const total = [...files.values()].reduce((a, b) => a + b.length, 0);
      await t.run(`case ${i} (${name})`, { inputBytes: total, file: `case${i}:` }, async () => {
        const m = await loadModelFiles(memoryFileSource(files, `case${i}`), hfTokenizer);
        expect(m.config.nLayers).toBe(2);
      });
    }
    log(t);
    expect(t.counts.typed).toBeGreaterThan(75);
    expect(t.counts.ok).toBeGreaterThan(3);
  });

  it('tokenizer.json and tokenizer_config.json: 150 mutations through HfTokenizer', async () => {
    const tok = Llama2cTokenizer.fromBytes(tokBytes, 'tok512.bin', 512);
    const stories = memoryFileSource(convertLlama2cToHf(randomCheckpoint({ vocabSize: 512, qkvBias: false }).config, randomCheckpoint({ vocabSize: 512, qkvBias: false }).weights, tok));
    const files = new Map<string, Uint8Array>([['tokenizer.json', await stories.read('tokenizer.json')], ['tokenizer_config.json', await stories.read('tokenizer_config.json')]]);
    const t = new FuzzTally('tokenizer.json');
    for (let i = 0; i < 150; i++) {
      const r = fuzzRng(17000 + i);
      const name = i % 4 === 0 ? 'tokenizer_config.json' : 'tokenizer.json';
      const edited = new Map(files).set(name, bytesOf(mutateJsonText(text(files.get(name)!), r)));
      await t.run(`case ${i} (${name})`, { inputBytes: edited.get(name)!.length, file: `case${i}:${name}` }, async () => {
        const hfTok = await HfTokenizer.fromSource(memoryFileSource(edited, `case${i}`), { bosId: 1, eosId: 2 });
        const ids = hfTok.encode('Once upon a time, Lily saw 🦙.', { bos: true });
        hfTok.decode(ids);
      });
    }
    log(t);
    expect(t.counts.typed).toBeGreaterThan(50);
    expect(t.counts.ok).toBeGreaterThan(5);
  });

  it('NaN and infinity injected into weights: 100 cases, every one a WeightError naming the file', async () => {
    const t = new FuzzTally('non-finite weights');
    const st = hfFiles.get('model.safetensors')!;
    const dataStart = headerEnd(st);
    for (let i = 0; i < 100; i++) {
      const r = fuzzRng(21000 + i);
      const bad = [NaN, Infinity, -Infinity][r(3)];
      let src;
      if (i % 2 === 0) {
        const b = st.slice();
        new DataView(b.buffer).setFloat32(dataStart + 4 * r((b.length - dataStart) / 4), bad, true);
        src = memoryFileSource(new Map(hfFiles).set('model.safetensors', b), `case${i}`);
      } else {
        const b = storiesBytes.slice();
        const floats = (b.length - 28) / 4 - 512 * 8; // not the unused RoPE tables at the end
        new DataView(b.buffer).setFloat32(28 + 4 * r(floats), bad, true);
        src = memoryFileSource({ 'm.bin': b, 'tokenizer.bin': tokBytes }, `case${i}`);
      }
      await t.run(`case ${i}`, { inputBytes: 2 ** 20, file: `case${i}:` }, () => loadModelFiles(src, i % 2 === 0 ? hfTokenizer : { checkpoint: 'm.bin' }));
    }
    log(t);
    expect(t.counts).toEqual({ ok: 0, typed: 100 });
    expect([...t.byError.keys()]).toEqual(['WeightError']);
  });
});
