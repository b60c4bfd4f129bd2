// The teacher cache in both modes on the bundled model: the top-k cache holds the k largest of
// the full distribution (checked against a CPU sort of the full cache), the rest mass is 1 − Σ,
// the draft loss runs on it, and teacherMode's rule and bad values.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { LlamaModel } from '@hydra-ts/model';
import { OptionError } from '@hydra-ts/tensor';
import { Tape } from './autograd';
import { decodeTokenFile, windows } from './data';
import { draftLoss } from './loss';
import { FULL_TEACHER_MAX_BYTES, TeacherCache, teacherMode } from './teacher';
import { TrainableHeads } from './trainable-heads';

const MODELS = fileURLToPath(new URL('../../../models/stories260K/', import.meta.url));
const model = await LlamaModel.load(path.join(MODELS, 'stories260K.bin'), { tokenizer: 'tok512.bin' });
const corpus = decodeTokenFile(new Uint8Array(readFileSync(path.join(MODELS, 'heads/corpus.bin'))), 'corpus.bin');
const wins = [...windows(corpus, 16).slice(0, 3), corpus.sequences[9].subarray(0, 11)];
const full = await TeacherCache.build(model, wins, { topK: 'full' });
const sparse = await TeacherCache.build(model, wins, { topK: 5 });
afterAll(() => {
  full.dispose();
  sparse.dispose();
});

describe('TeacherCache top-k', () => {
  it('keeps the k largest probabilities of the full cache, their ids and the rest mass', async () => {
    const V = model.config.vocabSize;
    const p = (await full.probs!.read()) as Float32Array;
    const ids = (await sparse.topK!.ids.read()) as Int32Array;
    const probs = (await sparse.topK!.probs.read()) as Float32Array;
    const rows = full.tokens.length;
    for (let r = 0; r < rows; r++) {
      const row = Array.from(p.subarray(r * V, (r + 1) * V));
      const sorted = [...row].sort((a, b) => b - a);
      let mass = 0;
      for (let t = 0; t < 5; t++) {
        expect(probs[r * 5 + t]).toBeCloseTo(sorted[t], 6);
        expect(row[ids[r * 5 + t]]).toBeCloseTo(probs[r * 5 + t], 6);
        mass += probs[r * 5 + t];
      }
      expect(sparse.topK!.rest[r]).toBeCloseTo(1 - mass, 5);
    }
    expect(sparse.probs).toBeNull();
    expect(sparse.mode).toMatchObject({ topK: 5, bytes: rows * 5 * 8 });
  });

  it('the draft loss runs on the top-k teacher and backpropagates', async () => {
    const heads = await TrainableHeads.create(model, { kind: 'medusa', numHeads: 2, seed: 1 });
    const { batch, rows } = sparse.batch([0, 1]);
    const tape = new Tape(model.device);
    try {
      const logits = heads.forward(tape, batch);
      const { loss, held } = draftLoss(tape, logits, batch, rows, sparse, { lmWeight: 0, teacherWeight: 1, decayHeads: 1 });
      tape.backward(loss);
      const v = (await loss.value.read())[0];
      expect(Number.isFinite(v) && v > 0).toBe(true);
      for (const t of held) t.dispose();
    } finally {
      tape.dispose();
      batch.hidden.dispose();
      heads.dispose();
    }
  });
});

describe('teacherMode', () => {
  it('is full while [rows, vocab] f32 fits 256 MiB, else top-32', () => {
    expect(teacherMode(1000, 512).topK).toBe('full');
    expect(teacherMode(FULL_TEACHER_MAX_BYTES / 4 / 128256, 128256).topK).toBe('full');
    expect(teacherMode(FULL_TEACHER_MAX_BYTES / 4 / 128256 + 1, 128256)).toMatchObject({ topK: 32, bytes: (FULL_TEACHER_MAX_BYTES / 4 / 128256 + 1) * 32 * 8 });
    expect(teacherMode(10, 152064, 'full').topK).toBe('full');
    expect(teacherMode(10, 152064, 8).topK).toBe(8);
  });
  it('rejects a bad forced k with an OptionError naming it', () => {
    for (const bad of [0, 65, 2.5, Number.NaN]) expect(() => teacherMode(10, 512, bad)).toThrow(OptionError);
    expect(() => teacherMode(10, 512, 0)).toThrow(/teacher topK = 0, expected 'full' or an integer in \[1, 64\]/);
  });
});
