// The output layer and its loss over row chunks (Tape.chunkedLinearLoss, draftLoss's maxLogitBytes):
// the same loss and gradients as the whole logits at once, for every loss the trainer uses, with
// the upstream gradient applied after the chunks' backward; typed errors for misuse.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { liveTensorCount, OptionError, randomArray } from '@hydra-ts/tensor';
import { assertClose } from '@hydra-ts/tensor/testing';
import { LlamaModel } from '@hydra-ts/model';
import { afterAll, describe, expect, it } from 'vitest';
import { AutogradError, Tape, Var } from './autograd';
import { decodeTokenFile, windows } from './data';
import { draftLoss, logitChunkRows } from './loss';
import { TeacherCache } from './teacher';
import { TrainableHeads } from './trainable-heads';

const MODELS = fileURLToPath(new URL('../../../models/stories260K/', import.meta.url));
const model = await LlamaModel.load(path.join(MODELS, 'stories260K.bin'), { tokenizer: 'tok512.bin' });
const device = model.device;
const corpus = decodeTokenFile(new Uint8Array(readFileSync(path.join(MODELS, 'heads/corpus.bin'))), 'corpus.bin');
const wins = [...windows(corpus, 16).slice(0, 5), corpus.sequences[9].subarray(0, 11)];
const teachers = { full: await TeacherCache.build(model, wins, { topK: 'full' }), sparse: await TeacherCache.build(model, wins, { topK: 5 }) };
afterAll(() => {
  teachers.full.dispose();
  teachers.sparse.dispose();
});

/** The loss value and the gradients of x and w, for a loss built over leaves x [rows, k] and w [n, k]. */
async function lossAndGrads(x: Float32Array, w: Float32Array, rows: number, k: number, n: number, build: (t: Tape, x: Var, w: Var) => Var) {
  const xv = new Var(device.tensor(x, [rows, k]), { requiresGrad: true, name: 'x' });
  const wv = new Var(device.tensor(w, [n, k]), { requiresGrad: true, name: 'w' });
  const tape = new Tape(device);
  try {
    const loss = build(tape, xv, wv);
    tape.backward(loss);
    return { loss: (await loss.value.read())[0], dx: (await xv.grad!.read()) as Float32Array, dw: (await wv.grad!.read()) as Float32Array };
  } finally {
    tape.dispose();
    xv.dispose();
    wv.dispose();
  }
}

describe('Tape.chunkedLinearLoss', () => {
  const [rows, k, n] = [11, 6, 9];
  const x = randomArray(rows * k, 1);
  const w = randomArray(n * k, 2);
  const targets = Int32Array.from({ length: rows }, (_, r) => (r === 4 ? -1 : (r * 5) % n));

  it.each([1, 3, 4, 11, 64])('with %i rows a chunk: the loss and dx, dw equal the whole logits\' (and the upstream scale reaches both)', async (maxRows) => {
    const whole = await lossAndGrads(x, w, rows, k, n, (t, xv, wv) => t.scale(t.crossEntropy(t.linear(xv, wv), targets), 0.7));
    const live = liveTensorCount();
    const chunked = await lossAndGrads(x, w, rows, k, n, (t, xv, wv) =>
      t.scale(t.chunkedLinearLoss(xv, wv, maxRows, (c, logits, r0, r1) => c.crossEntropy(logits, targets.subarray(r0, r1), { normalizer: rows - 1 })), 0.7),
    );
    expect(liveTensorCount()).toBe(live); // every chunk's tape, slice and saved gradient freed
    expect(chunked.loss).toBeCloseTo(whole.loss, 5);
    assertClose(chunked.dx, whole.dx, { what: 'dx', atol: 1e-6 });
    assertClose(chunked.dw, whole.dw, { what: 'dw', atol: 1e-6 });
  });

  it('gradients: false gives the loss and no gradient path', async () => {
    const xv = new Var(device.tensor(x, [rows, k]), { requiresGrad: true });
    const wv = new Var(device.tensor(w, [n, k]), { requiresGrad: true });
    const tape = new Tape(device);
    const plain = tape.crossEntropy(tape.linear(xv, wv), targets);
    const l = tape.chunkedLinearLoss(xv, wv, 4, (c, logits, r0, r1) => c.crossEntropy(logits, targets.subarray(r0, r1), { normalizer: rows - 1 }), { gradients: false });
    expect(l.requiresGrad).toBe(false);
    expect((await l.value.read())[0]).toBeCloseTo((await plain.value.read())[0], 5);
    tape.dispose();
    xv.dispose();
    wv.dispose();
  });

  it('misuse: a bad chunk size or a loss that is not one element of the chunk\'s tape is a typed error, and nothing leaks', () => {
    const xv = new Var(device.tensor(x, [rows, k]), { requiresGrad: true });
    const wv = new Var(device.tensor(w, [n, k]), { requiresGrad: true });
    const tape = new Tape(device);
    const live = liveTensorCount();
    expect(() => tape.chunkedLinearLoss(xv, wv, 0, (c, l) => l)).toThrow(OptionError);
    expect(() => tape.chunkedLinearLoss(xv, wv, 2.5, (c, l) => l)).toThrow(/maxRows = 2.5, expected an integer >= 1/);
    expect(() => tape.chunkedLinearLoss(xv, wv, 4, (c, l) => l)).toThrow(AutogradError); // [4, n] is not a loss
    expect(() => tape.chunkedLinearLoss(xv, wv, 4, () => tape.crossEntropy(tape.linear(xv, wv), targets))).toThrow(/one-element Var of the chunk's tape/);
    tape.dispose();
    expect(liveTensorCount()).toBe(live - 0);
    xv.dispose();
    wv.dispose();
  });
});

describe('draftLoss over row chunks', () => {
  const loss = { lmWeight: 0.3, teacherWeight: 1, decayHeads: 0.8 };
  it.each([
    ['hydra', 'sparse'],
    ['hydra', 'full'],
    ['medusa', 'sparse'],
    ['eagle', 'full'],
  ] as const)('%s heads, %s teacher: chunks of 5 rows give the whole logits\' loss and every parameter\'s gradient', async (kind, which) => {
    const teacher = teachers[which];
    const heads = await TrainableHeads.create(model, { kind, numHeads: 2, seed: 3 });
    const run = async (maxLogitBytes?: number) => {
      const { batch, rows } = teacher.batch([0, 5, 2]);
      const tape = new Tape(device);
      try {
        const out = heads.forwardDraft(tape, batch);
        if (maxLogitBytes !== undefined) expect(logitChunkRows(out.outputs[0], maxLogitBytes)).toBe(5);
        // undefined: the whole logits on the one tape, as a caller that applies the output layer itself
        const scored = maxLogitBytes === undefined ? out.outputs.map((o) => tape.linear(o.hidden, o.weight)) : out.outputs;
        const { loss: l, held } = draftLoss(tape, scored, batch, rows, teacher, { ...loss, maxLogitBytes });
        tape.backward(l);
        for (const t of held) t.dispose();
        const grads = new Map<string, Float32Array>();
        for (const [name, p] of heads.params) {
          if (p.grad) grads.set(name, (await p.grad.read()) as Float32Array);
          p.zeroGrad();
        }
        return { value: (await l.value.read())[0], grads, rows: batch.tokens.length };
      } finally {
        tape.dispose();
        batch.hidden.dispose();
      }
    };
    const one = await run();
    const chunked = await run(5 * 4 * model.config.vocabSize);
    expect(one.rows).toBeGreaterThan(15); // several chunks, the last a partial one
    expect(chunked.value).toBeCloseTo(one.value, 5);
    expect([...chunked.grads.keys()]).toEqual([...one.grads.keys()]);
    expect(one.grads.size).toBeGreaterThan(0);
    for (const [name, g] of one.grads) assertClose(chunked.grads.get(name)!, g, { what: name, atol: 2e-6, rtol: 1e-4 });
    heads.dispose();
  });

  it('a maxLogitBytes that is not a positive number is a typed error', async () => {
    const heads = await TrainableHeads.create(model, { kind: 'medusa', numHeads: 1 });
    const { batch, rows } = teachers.sparse.batch([0]);
    const tape = new Tape(device);
    const out = heads.forwardDraft(tape, batch);
    expect(() => draftLoss(tape, out.outputs, batch, rows, teachers.sparse, { ...loss, maxLogitBytes: -1 })).toThrow(/maxLogitBytes = -1, expected a number of bytes > 0/);
    tape.dispose();
    batch.hidden.dispose();
    heads.dispose();
  });
});
