// Training on the bundled model: the objective against a CPU computation of the Hydra loss, the
// loss going down on a tiny run, resume from a checkpoint bit-identical to an uninterrupted run,
// deterministic batches, and bad options / checkpoints -> typed errors.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { LlamaModel } from '@hydra-ts/model';
import { Tape } from './autograd';
import { checkpointPaths, checkResumable, readCheckpoint, restoreOptimizer, saveCheckpoint } from './checkpoint';
import { decodeTokenFile, windows } from './data';
import { TrainCheckpointError, TrainOptionError } from './errors';
import { draftLoss, headTargets } from './loss';
import { TeacherCache } from './teacher';
import { TrainableHeads } from './trainable-heads';
import { batchAt, HeadTrainer, splitWindows, trainConfig, type TrainConfig } from './trainer';

const MODELS = fileURLToPath(new URL('../../../models/stories260K/', import.meta.url));
const model = await LlamaModel.load(path.join(MODELS, 'stories260K.bin'), { tokenizer: 'tok512.bin' });
const corpus = decodeTokenFile(new Uint8Array(readFileSync(path.join(MODELS, 'heads/corpus.bin'))), 'corpus.bin');
// Eight short windows (and one of odd length) keep the tests fast.
const wins = [...windows(corpus, 16).slice(0, 7), corpus.sequences[9].subarray(0, 11)];
const teacher = await TeacherCache.build(model, wins);
const dir = mkdtempSync(path.join(tmpdir(), 'hydra-train-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  teacher.dispose();
});

const small = (over: Partial<TrainConfig> & { kind: TrainConfig['kind'] }) => trainConfig({ numHeads: 2, batch: 3, length: 16, steps: 6, warmup: 1, lr: 3e-3, holdout: 0.25, evalEvery: 0, ...over });

async function freshTrainer(c: TrainConfig): Promise<HeadTrainer> {
  const heads = await TrainableHeads.create(model, { kind: c.kind, numHeads: c.numHeads, layers: c.layers, seed: c.seed });
  return new HeadTrainer(heads, teacher, c);
}

function logSoftmaxRow(x: Float32Array): Float64Array {
  let m = -Infinity;
  for (const v of x) m = Math.max(m, v);
  let s = 0;
  for (const v of x) s += Math.exp(v - m);
  const lse = m + Math.log(s);
  return Float64Array.from(x, (v) => v - lse);
}

describe('draft loss', () => {
  it('equals the Hydra objective computed on the CPU from the logits and the base model\'s distributions', async () => {
    const c = small({ kind: 'hydra', lmWeight: 0.3, teacherWeight: 1, decayHeads: 0.8 });
    const heads = await TrainableHeads.create(model, { kind: 'hydra', numHeads: 2 });
    const { batch, rows } = teacher.batch([1, 7]);
    const tape = new Tape(model.device);
    const logits = heads.forward(tape, batch);
    const { loss, held } = draftLoss(tape, logits, batch, rows, teacher, c);
    const got = (await loss.value.read())[0];
    // Teacher: the base model's own logits at row t+i+1, from a fresh forward of each window.
    const V = model.config.vocabSize;
    const base: Float32Array[] = [];
    for (const id of [1, 7]) {
      const cache = model.createCache(wins[id].length);
      const out = model.forward(cache, { tokens: wins[id], logits: 'all' });
      base.push((await out.logits!.read()) as Float32Array);
      out.hidden.dispose();
      out.logits!.dispose();
      cache.dispose();
    }
    let expected = 0;
    for (let i = 0; i < 2; i++) {
      const x = (await logits[i].value.read()) as Float32Array;
      const targets = headTargets(batch, i);
      let lm = 0;
      let soft = 0;
      let n = 0;
      batch.sequences.forEach((s, k) => {
        for (let t = 0; t < s.length; t++) {
          const r = s.start + t;
          if (t + i + 2 >= s.length) {
            expect(targets[r]).toBe(-1);
            continue;
          }
          expect(targets[r]).toBe(wins[[1, 7][k]][t + i + 2]);
          const lq = logSoftmaxRow(x.subarray(r * V, (r + 1) * V));
          const p = Float64Array.from(logSoftmaxRow(base[k].subarray((t + i + 1) * V, (t + i + 2) * V)), Math.exp);
          lm -= lq[targets[r]];
          for (let j = 0; j < V; j++) soft -= p[j] * lq[j];
          n++;
        }
      });
      expected += 0.8 ** i * ((0.3 * lm) / n + soft / n);
    }
    expect(got).toBeCloseTo(expected, 3);
    for (const t of held) t.dispose();
    tape.dispose();
    batch.hidden.dispose();
    heads.dispose();
  });
});

describe('HeadTrainer', () => {
  it('lowers the training and evaluation loss on a tiny run (medusa)', async () => {
    const tr = await freshTrainer(small({ kind: 'medusa', steps: 12, batch: 4, lr: 1e-2, holdout: 0 }));
    const before = await tr.evaluate();
    const losses: number[] = [];
    while (!tr.done) losses.push((await tr.trainStep()).loss);
    const after = await tr.evaluate();
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(after.loss).toBeLessThan(before.loss * 0.8);
    expect(losses.slice(-3).reduce((a, b) => a + b) / 3).toBeLessThan(losses.slice(0, 3).reduce((a, b) => a + b) / 3);
    tr.dispose();
    tr.heads.dispose();
  });

  it('eagle: the objective is the draft loss plus featureWeight · mean smooth-L1(f\'_{t+1}, f_{t+1}) over rows with a next position, and a tiny run lowers it', async () => {
    const c = small({ kind: 'eagle', steps: 12, batch: 4, lr: 1e-2, holdout: 0, featureWeight: 0.5 });
    const tr = await freshTrainer(c);
    const ids = tr.split.train.slice(0, c.batch); // what evaluate() scores with no held-out windows
    const { batch, rows } = teacher.batch(ids);
    const tape = new Tape(model.device);
    const out = tr.heads.forwardDraft(tape, batch);
    const { loss, held } = draftLoss(tape, out.outputs, batch, rows, teacher, c);
    const draft = (await loss.value.read())[0];
    const f = (await out.features!.value.read()) as Float32Array; // [rows, dim] f'_{t+1}
    const h = (await batch.hidden.read()) as Float32Array; // [rows, dim] f_t
    const dim = model.config.dim;
    let sum = 0;
    let count = 0;
    for (const seq of batch.sequences) {
      for (let t = 0; t + 1 < seq.length; t++) {
        for (let j = 0; j < dim; j++) {
          const d = Math.abs(f[(seq.start + t) * dim + j] - h[(seq.start + t + 1) * dim + j]);
          sum += d < 1 ? 0.5 * d * d : d - 0.5;
        }
        count++;
      }
    }
    const want = draft + 0.5 * (sum / (count * dim));
    for (const t of held) t.dispose();
    tape.dispose();
    batch.hidden.dispose();
    const before = await tr.evaluate();
    expect(before.loss).toBeCloseTo(want, 4);
    expect(before.top1.length).toBe(1); // one draft per row
    const losses: number[] = [];
    while (!tr.done) losses.push((await tr.trainStep()).loss);
    const after = await tr.evaluate();
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(after.loss).toBeLessThan(before.loss * 0.9);
    tr.dispose();
    tr.heads.dispose();
  });

  it('resumes bit-identically: N steps straight = N/2, save, load, N/2 (hydra++ with dropout)', async () => {
    const c = small({ kind: 'hydra++', layers: 2, steps: 4, dropout: 0.1 });
    const straight = await freshTrainer(c);
    while (!straight.done) await straight.trainStep();
    const expected = await straight.heads.values();

    const out = path.join(dir, 'pp.safetensors');
    const first = await freshTrainer(c);
    for (let i = 0; i < 2; i++) await first.trainStep();
    await saveCheckpoint(out, first, { history: [], evals: [], trainMs: 0 });
    first.dispose();
    first.heads.dispose();

    const checkpoint = readCheckpoint(out);
    const { record, heads } = checkpoint;
    expect(record.step).toBe(2);
    checkResumable(record.config, c, out);
    const resumed = new HeadTrainer(await TrainableHeads.fromFile(model, heads), teacher, c);
    restoreOptimizer(checkpoint, resumed);
    while (!resumed.done) await resumed.trainStep();
    const got = await resumed.heads.values();
    for (const [name, v] of expected) expect(Buffer.from(got.get(name)!.buffer).equals(Buffer.from(v.buffer)), name).toBe(true);
    // and the run did move the parameters
    const init = await TrainableHeads.create(model, { kind: 'hydra++', numHeads: 2, layers: 2 });
    const w0 = (await init.values()).get('heads.1.lm_head.weight')!;
    expect(Buffer.from(w0.buffer).equals(Buffer.from(got.get('heads.1.lm_head.weight')!.buffer))).toBe(false);
    for (const t of [init, resumed.heads, straight.heads]) t.dispose();
    resumed.dispose();
    straight.dispose();
  });

  it('refuses checkpoints it cannot resume', async () => {
    const c = small({ kind: 'medusa', steps: 2 });
    const out = path.join(dir, 'm.safetensors');
    const tr = await freshTrainer(c);
    await tr.trainStep();
    await saveCheckpoint(out, tr, { history: [], evals: [], trainMs: 0 });
    expect(() => checkResumable(readCheckpoint(out).record.config, { ...c, lr: 1 }, out)).toThrow(/trained with lr = 0.003, this run asks for 1/);
    // heads written at another step than the record, in the only set there is
    const p = path.join(readCheckpoint(out).from, 'train.json');
    const rec = JSON.parse(readFileSync(p, 'utf8'));
    writeFileSync(p, JSON.stringify({ ...rec, step: 7 }));
    expect(() => readCheckpoint(out)).toThrow(/written at step 1, .* at step 7/);
    writeFileSync(p, '{not json');
    expect(() => readCheckpoint(out)).toThrow(TrainCheckpointError);
    writeFileSync(p, JSON.stringify({ ...rec, config: null }));
    expect(() => readCheckpoint(out)).toThrow(/train\.json: config = null, expected the training config object/);
    expect(() => readCheckpoint(path.join(dir, 'none.safetensors'))).toThrow(/none\.checkpoints\/latest\.json is missing, and so is .*none\.safetensors/);
    expect(checkpointPaths(out).sets).toBe(path.join(dir, 'm.checkpoints'));
    tr.dispose();
    tr.heads.dispose();
  });
});

describe('options and batches', () => {
  it('rejects bad options with TrainOptionError naming the option', () => {
    expect(() => trainConfig({ kind: 'lstm' as never })).toThrow(/head = "lstm", expected one of medusa, hydra, hydra\+\+, mlp-speculator, eagle, eagle3$/);
    expect(trainConfig({ kind: 'eagle3', draftVocabSize: 256 })).toMatchObject({ layers: 1, sharedOutput: false, draftVocabSize: 256 });
    expect(() => trainConfig({ kind: 'eagle3', layers: 2 })).toThrow(/eagle3: layers = 2, sharedOutput = false; an eagle3 head is one decoder layer/);
    expect(trainConfig({ kind: 'hydra', draftVocabSize: 256 })).toMatchObject({ draftVocabSize: 256 });
    expect(() => trainConfig({ kind: 'eagle', draftVocabSize: 256 })).toThrow(/draftVocabSize = 256: an option of eagle3, medusa, hydra and hydra\+\+ heads, not of eagle heads/);
    expect(() => trainConfig({ kind: 'eagle3', draftVocabSize: -1 })).toThrow(/draftVocabSize = -1/);
    expect(() => trainConfig({ kind: 'eagle', layers: 2 })).toThrow(/eagle: layers = 2, sharedOutput = true; an eagle head is one decoder layer/);
    expect(trainConfig({ kind: 'eagle' })).toMatchObject({ sharedOutput: true, featureWeight: 1, layers: 1, inputNorm: true, fcBias: true });
    expect(trainConfig({ kind: 'eagle', inputNorm: false, fcBias: false })).toMatchObject({ inputNorm: false, fcBias: false });
    expect(() => trainConfig({ kind: 'medusa', inputNorm: false })).toThrow(/inputNorm = false: an option of eagle heads, not of medusa heads/);
    expect(() => trainConfig({ kind: 'eagle', fcBias: 'no' as never })).toThrow(/fcBias = no, expected a boolean/);
    expect(() => trainConfig({ kind: 'medusa', lr: 0 })).toThrow(/lr = 0/);
    expect(() => trainConfig({ kind: 'medusa', batch: 1.5 })).toThrow(TrainOptionError);
    expect(() => trainConfig({ kind: 'medusa', decayHeads: 1.5 })).toThrow(/decayHeads/);
    expect(() => trainConfig({ kind: 'medusa', dropout: 1 })).toThrow(/dropout/);
    expect(() => trainConfig({ kind: 'medusa', lmWeight: 0, teacherWeight: 0 })).toThrow(/nothing to train on/);
    expect(() => trainConfig({ kind: 'medusa', length: 2 })).toThrow(/length = 2/);
    expect(trainConfig({ kind: 'hydra++', steps: undefined }).layers).toBe(4);
    expect(() => splitWindows(1, 0.5, 0)).toThrow(/leaves no training window/);
  });

  it('draws batches from seed and step alone, distinct windows, held-out windows never', () => {
    const { train, heldOut } = splitWindows(40, 0.1, 3);
    expect(heldOut.length).toBe(4);
    expect(new Set([...train, ...heldOut]).size).toBe(40);
    for (let step = 0; step < 50; step++) {
      const b = batchAt(train, 8, 3, step);
      expect(b).toEqual(batchAt(train, 8, 3, step));
      expect(new Set(b).size).toBe(8);
      expect(b.some((w) => heldOut.includes(w))).toBe(false);
    }
    expect(batchAt(train, 8, 3, 0)).not.toEqual(batchAt(train, 8, 4, 0));
  });
});
