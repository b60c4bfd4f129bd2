// The training forward against the inference heads of @hydra-ts/heads on the bundled model:
// same parameters, same logits, for every position of a sequence (Hydra++'s PrefixMLP included).
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { HydraHeads, MedusaHeads, MLPSpeculatorHeads, headParameterShapes, type EagleHead, type HeadConfig, type HeadKind } from '@hydra-ts/heads';
import { LlamaModel } from '@hydra-ts/model';
import { randomArray, slice } from '@hydra-ts/tensor';
import { assertClose } from '@hydra-ts/tensor/testing';
import { Tape } from './autograd';
import { TrainableHeads, shiftedTokens } from './trainable-heads';

const STORIES = fileURLToPath(new URL('../../../models/stories260K/stories260K.bin', import.meta.url));
const model = await LlamaModel.load(STORIES, { tokenizer: 'tok512.bin' });
const tokens = Int32Array.from([1, 403, 407, 261, 159, 436, 270, 300, 290, 33, 410]);

/** Random values for every parameter (norm gains near 1) so that no block is the identity. */
function randomValues(c: HeadConfig, seed: number): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  let s = seed * 1000;
  for (const [name, shape] of headParameterShapes(c)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const gain = name.endsWith('norm') || /^speculator\.ln\.\d+\.weight$/.test(name);
    const bound = gain ? 0.2 : shape.length === 2 ? 1.5 / Math.sqrt(shape[1]) : 0.5;
    const v = randomArray(size, ++s, -bound, bound);
    if (gain) for (let i = 0; i < size; i++) v[i] += 1;
    out.set(name, v);
  }
  return out;
}

async function inferenceLogits(trained: TrainableHeads, hidden: import('@hydra-ts/tensor').Tensor): Promise<Float32Array[][]> {
  const head = await trained.toHead(); // through the heads file, as a trained head ships
  const c = trained.config;
  const T = tokens.length;
  const perHead: Float32Array[][] = Array.from({ length: c.numHeads }, () => []);
  for (let t = 0; t < T; t++) {
    const row = slice(hidden, 0, t, t + 1);
    head.observe(row, t); // one row at a time: the PrefixMLP cache grows as in decoding
    row.dispose();
    const hT = head.state!;
    if (head instanceof MLPSpeculatorHeads) {
      // every stage along the data path x_{t+1}, ..., x_{t+n} in one call: row i is stage i
      const path = Int32Array.from({ length: c.numHeads }, (_, j) => (t + 1 + j < T ? tokens[t + 1 + j] : 0));
      const all = head.logits(hT, path);
      const rows = (await all.read()) as Float32Array;
      all.dispose();
      const V = c.vocabSize;
      for (let i = 0; i < c.numHeads; i++) perHead[i].push(rows.slice(i * V, (i + 1) * V));
      continue;
    }
    for (let i = 0; i < c.numHeads; i++) {
      let logits;
      if (head instanceof MedusaHeads) {
        const all = head.logits(hT, c.numHeads);
        logits = slice(all, 0, i, i + 1);
        all.dispose();
      } else {
        const path = Int32Array.from({ length: i + 1 }, (_, j) => (t + 1 + j < T ? tokens[t + 1 + j] : 0));
        logits = (head as HydraHeads).logits(hT, i, path, 1);
      }
      perHead[i].push((await logits.read()) as Float32Array);
      logits.dispose();
    }
  }
  head.dispose();
  return perHead;
}

describe('TrainableHeads forward = inference heads', () => {
  // a draft vocabulary: 40 base ids spread over the 512 (its lm_heads score only those)
  const vocabulary = Int32Array.from({ length: 40 }, (_, j) => 3 + 12 * j);
  const cases: Array<[HeadKind, number, number, boolean, Int32Array?]> = [
    ['medusa', 3, 2, false],
    ['medusa', 2, 1, true],
    ['hydra', 3, 2, false],
    ['hydra++', 3, 2, false],
    ['mlp-speculator', 3, 1, false],
    ['medusa', 2, 1, false, vocabulary],
    ['medusa', 2, 1, true, vocabulary],
    ['hydra', 2, 2, true, vocabulary],
    ['hydra++', 2, 1, false, vocabulary],
  ];
  for (const [kind, numHeads, layers, sharedOutput, draftVocabulary] of cases) {
    it(`${kind} (numHeads ${numHeads}, layers ${layers}${sharedOutput ? ', shared output' : ''}${draftVocabulary ? `, draft vocabulary of ${draftVocabulary.length}` : ''})`, async () => {
      const fresh = await TrainableHeads.create(model, { kind, numHeads, layers, sharedOutput, ...(draftVocabulary ? { draftVocabulary } : {}) });
      const config = fresh.config;
      expect(fresh.draftVocabulary).toEqual(draftVocabulary ?? null);
      fresh.dispose();
      const values = randomValues(config, 7);
      if (draftVocabulary) values.set('heads.d2t', Float32Array.from(draftVocabulary)); // a map, not a weight
      const trained = TrainableHeads.fromValues(model, config, values);
      const cache = model.createCache();
      const { hidden, logits: baseLogits } = model.forward(cache, { tokens, logits: 'none' });
      baseLogits?.dispose();
      cache.dispose();
      const T = tokens.length;
      const tape = new Tape(model.device);
      const out = trained.forward(tape, { hidden, tokens, sequences: [{ start: 0, length: T }] });
      const expected = await inferenceLogits(trained, hidden);
      expect(out.length).toBe(numHeads);
      for (let i = 0; i < numHeads; i++) {
        const got = (await out[i].value.read()) as Float32Array; // [T, scored vocab]
        const V = draftVocabulary?.length ?? model.config.vocabSize;
        expect(got.length).toBe(T * V);
        for (let t = 0; t < T; t++) assertClose(got.subarray(t * V, (t + 1) * V), expected[i][t], { atol: 2e-4, rtol: 1e-4, what: `${kind} head ${i} position ${t}` });
      }
      tape.dispose();
      hidden.dispose();
      trained.dispose();
    });
  }

  // the default layer, and EAGLE's own (no input norm; and no fc bias, as vLLM's) that the engines run
  for (const layer of [{}, { inputNorm: false }, { inputNorm: false, fcBias: false }]) {
    it(`eagle ${JSON.stringify(layer)}: row t drafts from g_t = fc[e(x_{t+1}); f_t] as the inference head does after observing rows 0..t with root x_{t+1}; the feature loss counts`, async () => {
      const fresh = await TrainableHeads.create(model, { kind: 'eagle', numHeads: 3, sharedOutput: true, ...layer });
      expect(fresh.config.eagle).toMatchObject(layer);
      const trained = TrainableHeads.fromValues(model, fresh.config, randomValues(fresh.config, 9));
      fresh.dispose();
      const cache = model.createCache();
      const { hidden } = model.forward(cache, { tokens, logits: 'none' });
      cache.dispose();
      const T = tokens.length;
      const V = model.config.vocabSize;
      const tape = new Tape(model.device);
      const out = trained.forwardDraft(tape, { hidden, tokens, sequences: [{ start: 0, length: T }] });
      const logits = out.outputs.map((o) => tape.linear(o.hidden, o.weight));
      expect(logits.length).toBe(1);
      expect(trained.draftsPerRow).toBe(1);
      expect(out.features!.shape).toEqual([T, model.config.dim]);
      const got = (await logits[0].value.read()) as Float32Array; // [T, vocab]
      const head = (await trained.toHead()) as EagleHead;
      for (let t = 0; t < T; t++) {
        const row = slice(hidden, 0, t, t + 1);
        head.observe(row, t);
        row.dispose();
        const logits = head.chainLogits({ context: Array.from(tokens.subarray(0, t + 1)), root: t + 1 < T ? tokens[t + 1] : 0 }, []);
        assertClose(got.subarray(t * V, (t + 1) * V), (await logits.read()) as Float32Array, { atol: 2e-4, rtol: 1e-4, what: `eagle position ${t}` });
        logits.dispose();
      }
      head.dispose();
      tape.dispose();
      hidden.dispose();
      trained.dispose();
    });
  }

  it('eagle feature noise: the same seed gives the same logits, another seed others, 0 none', async () => {
    const fresh = await TrainableHeads.create(model, { kind: 'eagle', numHeads: 2 });
    const trained = TrainableHeads.fromValues(model, fresh.config, randomValues(fresh.config, 4));
    fresh.dispose();
    const cache = model.createCache();
    const { hidden } = model.forward(cache, { tokens, logits: 'none' });
    cache.dispose();
    const run = async (opts: { seed?: number; featureNoise?: number }) => {
      const tape = new Tape(model.device);
      const out = (await trained.forward(tape, { hidden, tokens, sequences: [{ start: 0, length: tokens.length }] }, opts)[0].value.read()) as Float32Array;
      tape.dispose();
      return out;
    };
    const clean = await run({});
    expect(await run({ seed: 3, featureNoise: 0 })).toEqual(clean);
    const a = await run({ seed: 3, featureNoise: 0.2 });
    expect(await run({ seed: 3, featureNoise: 0.2 })).toEqual(a);
    expect(a).not.toEqual(clean);
    expect(await run({ seed: 4, featureNoise: 0.2 })).not.toEqual(a);
    hidden.dispose();
    trained.dispose();
  });

  it('hydra++ over a batch of two sequences equals each sequence alone (attention stays within a sequence)', async () => {
    const fresh = await TrainableHeads.create(model, { kind: 'hydra++', numHeads: 2, layers: 1 });
    const trained = TrainableHeads.fromValues(model, fresh.config, randomValues(fresh.config, 3));
    fresh.dispose();
    const a = tokens.subarray(0, 7);
    const b = tokens.subarray(3);
    const run = async (seqs: Int32Array[]) => {
      const hs = seqs.map((s) => {
        const cache = model.createCache();
        const h = model.forward(cache, { tokens: s, logits: 'none' }).hidden;
        cache.dispose();
        return h;
      });
      const all = Int32Array.from(seqs.flatMap((s) => [...s]));
      const { concat } = await import('@hydra-ts/tensor');
      const hidden = concat(hs, 0);
      let start = 0;
      const sequences = seqs.map((s) => ({ start: (start += s.length) - s.length, length: s.length }));
      const tape = new Tape(model.device);
      const out = await Promise.all(trained.forward(tape, { hidden, tokens: all, sequences }).map(async (v) => (await v.value.read()) as Float32Array));
      tape.dispose();
      hidden.dispose();
      for (const h of hs) h.dispose();
      return out;
    };
    const both = await run([a, b]);
    const one = await run([a]);
    const two = await run([b]);
    const V = model.config.vocabSize;
    for (let i = 0; i < 2; i++) {
      assertClose(both[i].subarray(0, a.length * V), one[i], { atol: 1e-5, what: `head ${i} sequence a` });
      assertClose(both[i].subarray(a.length * V), two[i], { atol: 1e-5, what: `head ${i} sequence b` });
    }
    trained.dispose();
  });

  it('shiftedTokens stays within each sequence', () => {
    const batch = { tokens: Int32Array.from([5, 6, 7, 8, 9]), sequences: [{ start: 0, length: 3 }, { start: 3, length: 2 }] };
    expect([...shiftedTokens(batch, 1)]).toEqual([6, 7, 0, 9, 0]);
    expect([...shiftedTokens(batch, 2)]).toEqual([7, 0, 0, 0, 0]);
  });
});
