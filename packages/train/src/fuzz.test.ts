// Mutated training inputs: corpora (token files, JSONL, text) through parseCorpus and windows,
// and checkpoint sets through readCheckpoint. Each case ends in a typed error naming the file or
// in a result, within an allocation bound set by the input's size. Counts per outcome are printed.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Llama2cTokenizer, serializeSafetensors } from '@hydra-ts/model';
import { FuzzTally, fuzzRng, mutateBytes, mutateJsonText } from '@hydra-ts/tensor/fuzz';
import { afterAll, describe, expect, it } from 'vitest';
import { readCheckpoint, writeCheckpointSet } from './checkpoint';
import { encodeTokenFile, parseCorpus, windows } from './data';
import { DEFAULT_TRAIN_CONFIG } from './trainer';

const tok = Llama2cTokenizer.fromBytes(new Uint8Array(readFileSync(new URL('../../../models/stories260K/tok512.bin', import.meta.url))), 'tok512.bin', 512);
const root = mkdtempSync(path.join(tmpdir(), 'hydra-fuzz-train-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('fuzz: mutated training inputs', () => {
  it('corpora: 240 mutations of a token file, a JSONL and a text corpus', async () => {
    const sequences = Array.from({ length: 12 }, (_, i) => Int32Array.from({ length: 5 + i * 3 }, (_, j) => (i * 31 + j * 7) % 512));
    const kinds: Array<[string, Uint8Array, boolean]> = [
      ['corpus.bin', encodeTokenFile({ vocabSize: 512, sequences }), true],
      ['corpus.jsonl', new TextEncoder().encode(sequences.map((s, i) => JSON.stringify(i % 2 ? [...s] : { tokens: [...s] })).join('\n') + '\n{"text": "Once upon a time"}\n'), false],
      ['corpus.txt', new TextEncoder().encode('Once upon a time there was a dog.\nLily saw a big tree.\n\nThe end.\n'), false],
    ];
    const t = new FuzzTally('corpus');
    for (let i = 0; i < 240; i++) {
      const r = fuzzRng(41000 + i);
      const [name, good, binary] = kinds[i % 3];
      const file = `case-${i}-${name}`;
      const b = binary || r(2) === 0 ? mutateBytes(good, r, 16 + 4 * sequences.length) : new TextEncoder().encode(mutateJsonText(new TextDecoder().decode(good), r));
      await t.run(`case ${i}`, { inputBytes: b.length, file }, () => {
        const c = parseCorpus(b, file, 512, tok);
        for (const s of c.sequences) for (const id of s) expect(id >= 0 && id < 512).toBe(true);
        windows(c, 8);
      });
    }
    console.log(t.summary());
    expect(t.counts.typed).toBeGreaterThan(60);
    expect(t.counts.ok).toBeGreaterThan(30);
  });

  it('checkpoint sets: 150 mutations of train.json, heads.safetensors or the manifest', async () => {
    const config = { ...DEFAULT_TRAIN_CONFIG, kind: 'medusa' };
    const record = JSON.stringify({ format: 'hydra-ts-train', version: 1, step: 7, config, history: [{ step: 1, loss: 2 }], evals: [], trainMs: 5 }, null, 1);
    const heads = serializeSafetensors({ w: { shape: [3], data: new Float32Array([1, 2, 3]) } }, { 'train.step': '7' });
    const optim = serializeSafetensors({ 'm.w': { shape: [3], data: new Float32Array(3) } }, { step: '7', t: '7' });
    const t = new FuzzTally('checkpoint set');
    for (let i = 0; i < 150; i++) {
      const r = fuzzRng(51000 + i);
      const out = path.join(root, `c${i}`, 'heads.safetensors');
      writeCheckpointSet(out, 7, { heads, optim, record });
      const set = readCheckpoint(out).from;
      const target = [path.join(set, 'train.json'), path.join(set, 'heads.safetensors'), path.join(root, `c${i}`, 'heads.checkpoints', 'latest.json')][i % 3];
      const original = readFileSync(target);
      const mutated = target.endsWith('.json') ? new TextEncoder().encode(mutateJsonText(original.toString('utf8'), r)) : mutateBytes(new Uint8Array(original), r, 64);
      writeFileSync(target, mutated);
      await t.run(`case ${i} (${path.basename(target)})`, { inputBytes: mutated.length + heads.length + record.length, file: path.join(root, `c${i}`) }, () => {
        const c = readCheckpoint(out);
        expect(c.record.step).toBe(7);
      });
    }
    console.log(t.summary());
    expect(t.counts.typed).toBeGreaterThan(50);
  });
});
