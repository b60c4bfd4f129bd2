// EAGLE-3 training: the unrolled (training-time test) forward against the float64 reference of the
// inference head's equations, the draft vocabulary, the restricted teacher, and a short run that
// lowers the held-out loss and ships a head the decoder runs.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { headParameterShapes, loadHead, type HeadConfig } from '@hydra-ts/heads';
import { eagle3LogitsCpu } from '@hydra-ts/heads/testing';
import { layerRopeFrequencies, LlamaModel, parseLlama2cCheckpoint } from '@hydra-ts/model';
import { randomArray } from '@hydra-ts/tensor';
import { Tape } from './autograd';
import { decodeTokenFile, windows } from './data';
import { draftCoverage, draftVocabulary } from './draft-vocab';
import { TeacherCache } from './teacher';
import { TrainableHeads } from './trainable-heads';
import { HeadTrainer, trainConfig } from './trainer';

const STORIES = fileURLToPath(new URL('../../../models/stories260K/stories260K.bin', import.meta.url));
const model = await LlamaModel.load(STORIES, { tokenizer: 'tok512.bin' });
const V = model.config.vocabSize;
const dim = model.config.dim;
const seqA = Int32Array.from([1, 403, 407, 261, 159, 436, 270, 300, 290, 33, 410]);
const seqB = Int32Array.from([1, 72, 300, 290, 266, 403, 270, 33]);

/** Random values for every trained parameter (norm gains near 1) and the given d2t. */
function randomValues(c: HeadConfig, d2t: Int32Array, seed: number): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  let s = seed * 1000;
  for (const [name, shape] of headParameterShapes(c)) {
    if (name === 'eagle3.d2t') {
      out.set(name, Float32Array.from(d2t));
      continue;
    }
    const size = shape.reduce((a, b) => a * b, 1);
    const gain = name.endsWith('norm');
    const bound = gain ? 0.2 : 1.5 / Math.sqrt(shape[1]);
    const v = randomArray(size, ++s, -bound, bound);
    if (gain) for (let i = 0; i < size; i++) v[i] += 1;
    out.set(name, v);
  }
  return out;
}

/** The captured features [T, 3·dim] of one sequence. */
async function featuresOf(tokens: Int32Array, layers: readonly number[]): Promise<Float32Array> {
  const cache = model.createCache();
  const out = model.forward(cache, { tokens, logits: 'none', capture: layers });
  cache.dispose();
  const f = (await out.features!.read()) as Float32Array;
  out.features!.dispose();
  out.hidden.dispose();
  return f;
}

describe('draft vocabulary', () => {
  it('keeps the most frequent ids, increasing, ties to the lower id; coverage counts the tokens inside', () => {
    const tokens = [5, 5, 5, 2, 2, 9, 9, 7, 1];
    expect(Array.from(draftVocabulary(tokens, 10, 3))).toEqual([2, 5, 9]);
    expect(Array.from(draftVocabulary(tokens, 10, 4))).toEqual([1, 2, 5, 9]); // 1 and 7 tie: the lower id
    expect(draftCoverage(tokens, [2, 5, 9])).toBeCloseTo(7 / 9, 12);
    expect(() => draftVocabulary(tokens, 10, 11)).toThrow(/draftVocabSize = 11, expected an integer in \[1, vocab = 10\]/);
  });
});

describe('eagle3 training forward', () => {
  const d2t = Int32Array.from({ length: 200 }, (_, i) => 2 * i + (i % 3 === 0 ? 1 : 0)); // increasing, spread over the vocabulary

  it('unrolled step j at row t equals the inference head drafting depth j after the committed rows 0..t (float64 reference), over two sequences', async () => {
    const fresh = await TrainableHeads.create(model, { kind: 'eagle3', numHeads: 3, draftVocabulary: d2t });
    const c = fresh.config;
    expect(c.eagle3!.draftVocabSize).toBe(200);
    expect(Array.from(fresh.draftVocabulary!)).toEqual(Array.from(d2t));
    const values = randomValues(c, d2t, 5);
    fresh.dispose();
    const trained = TrainableHeads.fromValues(model, c, values);
    const layers = c.eagle3!.featureLayers;
    const [fa, fb] = [await featuresOf(seqA, layers), await featuresOf(seqB, layers)];
    const rows = seqA.length + seqB.length;
    const hidden = model.device.tensor(Float32Array.from([...fa, ...fb]), [rows, 3 * dim]);
    const tokens = Int32Array.from([...seqA, ...seqB]);
    const sequences = [{ start: 0, length: seqA.length }, { start: seqA.length, length: seqB.length }];
    const tape = new Tape(model.device);
    const out = trained.forwardDraft(tape, { hidden, tokens, sequences });
    const logits = out.outputs.map((o) => tape.linear(o.hidden, o.weight));
    expect(logits.length).toBe(3);
    expect(logits[0].shape).toEqual([rows, 200]); // over the draft vocabulary
    expect(out.features).toBeNull();
    expect(trained.draftsPerRow).toBe(3);
    const embeddings = (await model.tokenEmbedding.read()) as Float32Array;
    const rope = { theta: model.config.ropeTheta, layout: model.config.ropeLayout, eps: model.config.normEps };
    let checked = 0;
    for (let j = 0; j < 3; j++) {
      const got = (await logits[j].value.read()) as Float32Array; // [rows, vocab]
      for (const [s, seq, F] of [[sequences[0], seqA, fa], [sequences[1], seqB, fb]] as const) {
        for (let t = 0; t + j + 1 < seq.length; t++) {
          const path = Array.from(seq.subarray(t + 2, t + j + 2));
          const want = eagle3LogitsCpu(c, values, embeddings, rope, F.subarray(0, (t + 1) * 3 * dim), Array.from(seq.subarray(0, t + 1)), seq[t + 1], path)[j];
          const D = d2t.length;
          const row = got.subarray((s.start + t) * D, (s.start + t + 1) * D);
          let worst = 0;
          for (let i = 0; i < D; i++) worst = Math.max(worst, Math.abs(row[i] - want[i]) / (1e-3 + 1e-3 * Math.abs(want[i])));
          expect(worst, `step ${j}, row ${t} of a sequence`).toBeLessThan(1);
          checked++;
        }
      }
    }
    expect(checked).toBe(10 + 9 + 8 + 7 + 6 + 5);
    tape.dispose();
    hidden.dispose();
    trained.dispose();
  });

  it('on a base with Llama 3 RoPE scaling, the unrolled steps rotate by the base\'s scaled frequencies, as the inference head does', async () => {
    const ckpt = parseLlama2cCheckpoint(new Uint8Array(readFileSync(STORIES)), STORIES);
    const scaled = LlamaModel.fromWeights(model.device, { ...ckpt.config, ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 4 } }, ckpt.weights);
    const freqs = layerRopeFrequencies(scaled.config, 0);
    expect(Array.from(freqs)).not.toEqual(Array.from(layerRopeFrequencies(model.config, 0))); // the scaling changes them
    const fresh = await TrainableHeads.create(scaled, { kind: 'eagle3', numHeads: 2, draftVocabulary: d2t });
    const values = randomValues(fresh.config, d2t, 8);
    const trained = TrainableHeads.fromValues(scaled, fresh.config, values);
    fresh.dispose();
    const F = await featuresOf(seqA, trained.config.eagle3!.featureLayers);
    const hidden = model.device.tensor(F, [seqA.length, 3 * dim]);
    const tape = new Tape(model.device);
    const logits = trained.forward(tape, { hidden, tokens: seqA, sequences: [{ start: 0, length: seqA.length }] });
    const embeddings = (await model.tokenEmbedding.read()) as Float32Array;
    const base = { theta: model.config.ropeTheta, layout: model.config.ropeLayout, eps: model.config.normEps };
    const D = d2t.length;
    for (let j = 0; j < 2; j++) {
      const got = (await logits[j].value.read()) as Float32Array;
      for (const t of [3, 8]) {
        const args = [F.subarray(0, (t + 1) * 3 * dim), Array.from(seqA.subarray(0, t + 1)), seqA[t + 1], Array.from(seqA.subarray(t + 2, t + j + 2))] as const;
        const want = eagle3LogitsCpu(trained.config, values, embeddings, { ...base, freqs }, ...args)[j];
        const plain = eagle3LogitsCpu(trained.config, values, embeddings, base, ...args)[j];
        const row = got.subarray(t * D, (t + 1) * D);
        let worst = 0;
        let apart = 0;
        for (let i = 0; i < D; i++) {
          worst = Math.max(worst, Math.abs(row[i] - want[i]) / (1e-3 + 1e-3 * Math.abs(want[i])));
          apart = Math.max(apart, Math.abs(want[i] - plain[i]));
        }
        expect(worst, `step ${j}, row ${t}`).toBeLessThan(1);
        if (t + j > 0) expect(apart, `step ${j}, row ${t}: the scaled and plain references differ`).toBeGreaterThan(1e-3);
      }
    }
    tape.dispose();
    hidden.dispose();
    trained.dispose();
    scaled.dispose();
  });

  it('gradients reach every trained parameter, and none is made for d2t', async () => {
    const fresh = await TrainableHeads.create(model, { kind: 'eagle3', numHeads: 2, draftVocabulary: d2t });
    const trained = TrainableHeads.fromValues(model, fresh.config, randomValues(fresh.config, d2t, 6));
    fresh.dispose();
    expect(trained.params.has('eagle3.d2t')).toBe(false);
    const F = await featuresOf(seqA, trained.config.eagle3!.featureLayers);
    const hidden = model.device.tensor(F, [seqA.length, 3 * dim]);
    const tape = new Tape(model.device);
    const logits = trained.forward(tape, { hidden, tokens: seqA, sequences: [{ start: 0, length: seqA.length }] });
    const targets = Int32Array.from(seqA, (_, t) => (t + 2 < seqA.length ? d2t.indexOf(seqA[t + 2]) : -1)); // draft ids, −1 outside
    tape.backward(tape.add(tape.crossEntropy(logits[0], targets), tape.crossEntropy(logits[1], targets)));
    for (const [name, p] of trained.params) {
      const g = (await p.grad!.read()) as Float32Array;
      expect(g.some((x) => x !== 0), name).toBe(true);
      expect(g.every(Number.isFinite), name).toBe(true);
    }
    tape.dispose();
    hidden.dispose();
    trained.dispose();
  });
});

describe('eagle3 teacher', () => {
  it('keeps the feature layers and the base distribution restricted to the draft vocabulary, renormalised (full and top-k)', async () => {
    const vocab = Int32Array.from({ length: 128 }, (_, i) => 4 * i);
    const layers = [1, 2, 4];
    const full = await TeacherCache.build(model, [seqA], { capture: layers, vocabulary: vocab, topK: 'full' });
    const plain = await TeacherCache.build(model, [seqA], { topK: 'full' });
    const sparse = await TeacherCache.build(model, [seqA], { capture: layers, vocabulary: vocab, topK: 16 });
    expect(full.hidden.shape).toEqual([seqA.length, 3 * dim]);
    expect(Array.from((await full.hidden.read()) as Float32Array)).toEqual(Array.from(await featuresOf(seqA, layers)));
    const p = (await plain.probs!.read()) as Float32Array;
    const q = (await full.probs!.read()) as Float32Array; // [rows, 128] over draft ids
    expect(full.probs!.shape).toEqual([seqA.length, 128]);
    const ids = (await sparse.topK!.ids.read()) as Int32Array; // draft ids
    const sp = (await sparse.topK!.probs.read()) as Float32Array;
    const ranked = await TeacherCache.build(model, [seqA], { topK: 16 }); // the base top-16, unrestricted
    const baseIds = (await ranked.topK!.ids.read()) as Int32Array;
    ranked.dispose();
    for (let r = 0; r < seqA.length; r++) {
      let mass = 0;
      for (const id of vocab) mass += p[r * V + id];
      let sum = 0;
      vocab.forEach((id, d) => {
        const want = p[r * V + id] / mass;
        expect(Math.abs(q[r * 128 + d] - want)).toBeLessThan(1e-6 + 1e-4 * want);
        sum += q[r * 128 + d];
      });
      expect(sum).toBeCloseTo(1, 4);
      let kept = 0;
      for (let k = 0; k < 16; k++) {
        const id = baseIds[r * 16 + k];
        const want = id % 4 === 0 ? p[r * V + id] / mass : 0;
        expect(Math.abs(sp[r * 16 + k] - want)).toBeLessThan(1e-6 + 1e-4 * want);
        if (want > 0) expect(ids[r * 16 + k]).toBe(id / 4); // base id 4d is draft id d
        kept += sp[r * 16 + k];
      }
      expect(kept + sparse.topK!.rest[r]).toBeCloseTo(1, 4);
    }
    expect(Array.from(full.draftIdOf!.subarray(0, 9))).toEqual([0, -1, -1, -1, 1, -1, -1, -1, 2]);
    expect(Array.from(full.greedy)).toEqual(Array.from(plain.greedy)); // the greedy token stays the base model's
    for (const t of [full, plain, sparse]) t.dispose();
  });
});

describe('eagle3 trainer', () => {
  it('a short run on the bundled model lowers the held-out loss and raises the greedy agreement; the head file loads and keeps its d2t', async () => {
    const corpus = decodeTokenFile(new Uint8Array(readFileSync(fileURLToPath(new URL('../../../models/stories260K/heads/corpus.bin', import.meta.url)))), 'corpus.bin');
    const wins = windows(corpus, 48).slice(0, 24);
    const all = Int32Array.from(wins.flatMap((w) => Array.from(w)));
    const vocab = draftVocabulary(all, V, 256);
    const config = trainConfig({ kind: 'eagle3', numHeads: 3, steps: 40, batch: 4, length: 48, lr: 3e-3, warmup: 5, holdout: 0.2, evalEvery: 0, draftVocabSize: 256 });
    const fresh = await TrainableHeads.create(model, { kind: 'eagle3', numHeads: 3, draftVocabulary: vocab });
    const teacher = await TeacherCache.build(model, wins, { capture: fresh.config.eagle3!.featureLayers, vocabulary: vocab });
    const plainTeacher = await TeacherCache.build(model, wins.slice(0, 2));
    expect(() => new HeadTrainer(fresh, plainTeacher, config)).toThrow(/the heads' draft vocabulary \(256 ids\) is not the teacher's \(none\)/);
    plainTeacher.dispose();
    const trainer = new HeadTrainer(fresh, teacher, config);
    const before = await trainer.evaluate();
    while (!trainer.done) await trainer.trainStep();
    const after = await trainer.evaluate();
    expect(after.loss).toBeLessThan(before.loss);
    expect(after.greedy[0]).toBeGreaterThan(before.greedy[0]);
    const head = await loadHead(model, await fresh.toBytes());
    expect(head.config.kind).toBe('eagle3');
    expect(Array.from((await head.readParameters()).get('eagle3.d2t')!)).toEqual(Array.from(vocab));
    head.dispose();
    trainer.dispose();
    teacher.dispose();
    fresh.dispose();
  });
});
