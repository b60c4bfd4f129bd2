// Medusa, Hydra and Hydra++ heads over a reduced draft vocabulary (heads.d2t): every proposal is in
// base ids, and equals the float64 reference that scores the d2t rows and maps the ranks back.
import { afterEach, describe, expect, it } from 'vitest';
import { flags, getDevice, liveTensorCount } from '@hydra-ts/tensor';
import { CandidateTree, chain, trees } from '@hydra-ts/tree';
import { createHead, loadHead, parseHeadFile, saveHead } from './checkpoint';
import { headConfigFor, headParameterShapes } from './config';
import { hydraLogitsCpu, hydraProposeCpu, medusaLogitsCpu, medusaProposeCpu, topkCpu } from './cpu-reference';
import { HeadCheckpointError, HeadOptionError, HeadStateError } from './errors';
import { baseConfig, fakeBase, headConfig, headsFile, randomValues, hiddenRows as hiddenRowsOn, SMALL_TREE } from './testdata';

const device = await getDevice();
afterEach(() => {
  flags.fusedHeads = true;
});

const small = SMALL_TREE;

const hiddenRows = (n: number, dim: number, seed: number) => hiddenRowsOn(device, n, dim, seed);

describe('heads over a draft vocabulary propose base ids, as the CPU reference', () => {
  for (const kind of ['medusa', 'hydra', 'hydra++'] as const) {
    for (const [shared, fused, tree] of [
      [false, true, small],
      [false, false, small],
      [true, true, trees['medusa-63']],
      [true, false, chain(3)],
    ] as const) {
      it(`${kind}, sharedOutput ${shared}, ${fused ? 'fused kernel' : 'separate ops'}, tree ${tree.name}`, async () => {
        const base = fakeBase(device, baseConfig({ vocabSize: 61 }), 3);
        const c = headConfig(base.config, kind, 4, 2, shared, 23); // 23 of 61 ids: d2t[j] = floor(61 j / 23)
        const values = randomValues(c, 17);
        const d2t = values.get('heads.d2t')!;
        const head = await loadHead(base, headsFile(c, values));
        flags.fusedHeads = fused;
        const { hidden, last } = hiddenRows(3, c.dim, 9);
        head.observe(hidden, 0);
        hidden.dispose();
        const live = liveTensorCount();
        const { tokens } = await head.propose({ tree, root: 40, context: [1, 2, 3] });
        expect(liveTensorCount()).toBe(live);
        const hT = kind === 'hydra++' ? ((await head.state!.read()) as Float32Array) : last; // after the PrefixMLP
        const want = kind === 'medusa' ? medusaProposeCpu(c, values, base.output, hT, tree, 40) : hydraProposeCpu(c, values, base.embeddings, base.output, hT, tree, 40);
        expect([...tokens]).toEqual([...want]);
        for (const t of tokens.subarray(1)) expect(d2t).toContain(t); // drafted tokens are base ids of the draft vocabulary
        expect(new Set(tokens.subarray(1)).size).toBeGreaterThan(1); // ... and not one id over and over
        // the same proposal left on the GPU
        const order = Int32Array.from({ length: tree.size }, (_, r) => (r === 0 ? 0 : tree.size - r));
        const onDevice = head.proposeOnDevice!({ tree, root: 40, context: [1, 2, 3], order })!;
        expect([...((await onDevice.read()) as Int32Array)]).toEqual(Array.from(order, (n) => tokens[n]));
        onDevice.dispose();
        head.dispose();
        base.dispose();
      });
    }
  }

  for (const kind of ['medusa', 'hydra'] as const) {
    for (const k of [5, 70]) {
      it(`${kind} dynamic-tree levels: base ids with log-probabilities over the draft vocabulary (k ${k}, ${k > 64 ? 'ranked on the CPU' : 'on the GPU'})`, async () => {
        const base = fakeBase(device, baseConfig({ vocabSize: 97 }), 4);
        const c = headConfig(base.config, kind, 2, 1, false, 80);
        const values = randomValues(c, 5);
        const map = values.get('heads.d2t')!;
        const head = await loadHead(base, headsFile(c, values));
        const { hidden, last } = hiddenRows(2, c.dim, 7);
        head.observe(hidden, 0);
        hidden.dispose();
        const live = liveTensorCount();
        const levels = head.draftLevels!({ root: 11, context: [], depth: 2 });
        const first = await levels.expand(null, k);
        const second = await levels.expand(Int32Array.of(0, 2), k); // the root's 1st and 3rd children
        levels.dispose();
        expect(liveTensorCount()).toBe(live);
        const logSoftmax = (z: Float64Array) => {
          const m = Math.max(...z);
          const lse = m + Math.log(z.reduce((a, v) => a + Math.exp(v - m), 0));
          return z.map((v) => v - lse);
        };
        const expectLevel = (got: { ids: Int32Array; logProbs: Float32Array }, row: number, z: Float64Array) => {
          const lp = logSoftmax(z);
          const ranked = topkCpu(z, k);
          expect([...got.ids.subarray(row * k, row * k + k)]).toEqual(ranked.map((j) => map[j]));
          ranked.forEach((j, r) => expect(got.logProbs[row * k + r]).toBeCloseTo(lp[j], 4));
        };
        const z0 = kind === 'medusa' ? medusaLogitsCpu(c, values, base.output, last, 0) : hydraLogitsCpu(c, values, base.embeddings, base.output, last, [11]);
        expectLevel(first, 0, z0);
        for (const [row, pick] of [0, 2].entries()) {
          const z1 = kind === 'medusa' ? medusaLogitsCpu(c, values, base.output, last, 1) : hydraLogitsCpu(c, values, base.embeddings, base.output, last, [11, first.ids[pick]]);
          expectLevel(second, row, z1);
        }
        head.dispose();
        base.dispose();
      });
    }
  }

  it('asking for more ranks than the draft vocabulary holds is a HeadStateError naming it', async () => {
    const base = fakeBase(device, baseConfig(), 3);
    const c = headConfig(base.config, 'hydra', 1, 1, false, 4);
    const head = await loadHead(base, headsFile(c, randomValues(c, 2)));
    const { hidden } = hiddenRows(1, c.dim, 2);
    head.observe(hidden, 0);
    hidden.dispose();
    const wide = CandidateTree.fromPaths(Array.from({ length: 6 }, (_, r) => [r]));
    await expect(head.propose({ tree: wide, root: 1, context: [] })).rejects.toThrow(HeadStateError);
    await expect(head.propose({ tree: wide, root: 1, context: [] })).rejects.toThrow(/top-6 tokens of a draft vocabulary of 4/);
    head.dispose();
    base.dispose();
  });
});

describe('createHead and the heads file with a draft vocabulary', () => {
  const vocabulary = [0, 3, 4, 9, 10, 11, 20, 30, 36];
  for (const kind of ['medusa', 'hydra'] as const) {
    for (const shared of [false, true]) {
      it(`${kind}, sharedOutput ${shared}: fresh heads rank the draft ids as the base output does over them; save and load keep d2t`, async () => {
        const base = fakeBase(device, baseConfig(), 6);
        const head = await createHead(base, { kind, numHeads: 2, sharedOutput: shared, draftVocabulary: vocabulary });
        expect(head.config.draftVocabSize).toBe(vocabulary.length);
        const values = await head.readParameters();
        expect([...values.get('heads.d2t')!]).toEqual(vocabulary);
        if (!shared) {
          const lm = values.get('heads.0.lm_head.weight')!;
          expect(lm.length).toBe(vocabulary.length * 24);
          vocabulary.forEach((id, j) => expect([...lm.subarray(j * 24, (j + 1) * 24)]).toEqual([...base.output.subarray(id * 24, (id + 1) * 24)]));
        }
        // untrained, head 0 is the base output layer on h_t restricted to the draft vocabulary
        const { hidden, last } = hiddenRows(1, 24, 4);
        head.observe(hidden, 0);
        hidden.dispose();
        const { tokens } = await head.propose({ tree: chain(1), root: vocabulary[2], context: [] });
        const scores = vocabulary.map((id) => last.reduce((a, x, i) => a + x * base.output[id * 24 + i], 0));
        expect(tokens[1]).toBe(vocabulary[topkCpu(scores, 1)[0]]);
        const bytes = await saveHead(head);
        const parsed = parseHeadFile(bytes, 'h.safetensors', base.config);
        expect(parsed.config.draftVocabSize).toBe(vocabulary.length);
        expect([...parsed.values.get('heads.d2t')!]).toEqual(vocabulary);
        const again = await loadHead(base, bytes);
        again.observe(device.tensor(last, [1, 24]), 0);
        expect([...(await again.propose({ tree: chain(2), root: 3, context: [] })).tokens]).toEqual([...(await head.propose({ tree: chain(2), root: 3, context: [] })).tokens]);
        again.dispose();
        head.dispose();
        base.dispose();
      });
    }
  }

  it('bad options and files are typed errors naming the field', async () => {
    const b = baseConfig();
    expect(() => headConfigFor(b, { kind: 'medusa', numHeads: 2, draftVocabSize: 38 })).toThrow(/draftVocabSize = 38, expected an integer in \[1, 37\]/);
    expect(() => headConfigFor(b, { kind: 'hydra', numHeads: 2, draftVocabulary: [1, 1] })).toThrow(/draftVocabulary\[1\] = 1 after 1, expected strictly increasing base ids/);
    expect(() => headConfigFor(b, { kind: 'hydra', numHeads: 2, draftVocabSize: 3, draftVocabulary: [1, 2] })).toThrow(/draftVocabulary has 2 ids, expected draftVocabSize = 3/);
    expect(() => headConfigFor(b, { kind: 'medusa', numHeads: 2, draftVocabulary: 5 as unknown as number[] })).toThrow(/draftVocabulary must be an array of base token ids/);
    expect(() => headConfigFor(b, { kind: 'eagle', numHeads: 2, draftVocabSize: 8 })).toThrow(HeadOptionError);
    expect(() => headConfigFor(b, { kind: 'mlp-speculator', numHeads: 2, draftVocabSize: 8 })).toThrow(/not options of mlp-speculator heads/);
    expect(() => headConfigFor(b, { kind: 'medusa', numHeads: 2, featureLayers: [0, 1, 2] })).toThrow(/featureLayers is an option of eagle3 heads/);
    const c = headConfig(b, 'medusa', 2, 1, false, 5);
    expect(headParameterShapes(c).get('heads.0.lm_head.weight')).toEqual([5, 24]);
    expect(headParameterShapes(c).get('heads.d2t')).toEqual([5]);
    const values = randomValues(c, 1);
    const withD2t = (d2t: number[]) => headsFile(c, new Map([...values, ['heads.d2t', Float32Array.from(d2t)]]));
    expect(() => parseHeadFile(withD2t([0, 1, 2, 3, 37]), 'm.safetensors', b)).toThrow(/m.safetensors: heads.d2t\[4\] = 37, expected a base token id in \[0, 37\)/);
    expect(() => parseHeadFile(withD2t([0, 1, 3, 3, 4]), 'm.safetensors', b)).toThrow(/heads.d2t\[3\] = 3 after 3, expected strictly increasing base ids/);
    expect(() => parseHeadFile(headsFile(c, values, { config: JSON.stringify({ ...c, draftVocabSize: 0 }) }), 'm.safetensors', b)).toThrow(/config.draftVocabSize = 0, expected an integer in \[1, 37\]/);
    const full = headConfig(b, 'medusa', 2, 1);
    expect(() => parseHeadFile(headsFile(full, randomValues(full, 1), { config: JSON.stringify(c) }), 'm.safetensors', b)).toThrow(HeadCheckpointError); // lm_heads of 37 rows for a 5-id vocabulary
  });
});
