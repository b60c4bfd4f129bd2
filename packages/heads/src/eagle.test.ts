import { describe, expect, it } from 'vitest';
import { getDevice, randomArray, slice, type Tensor } from '@hydra-ts/tensor';
import { assertClose } from '@hydra-ts/tensor/testing';
import { CandidateTree, chain } from '@hydra-ts/tree';
import { createEagleHead, createHead, loadHead, saveHead } from './checkpoint';
import { eagleLogitsCpu, eagleProposeCpu } from './cpu-reference';
import type { EagleHead } from './eagle';
import { HeadCheckpointError, HeadMismatchError, HeadOptionError, HeadStateError } from './errors';
import { baseConfig, eagleConfig, fakeBase, headsFile, randomValues } from './testdata';

const device = await getDevice();

async function rowsOf(t: Tensor, n: number, vocab: number): Promise<Float32Array[]> {
  const data = (await t.read()) as Float32Array;
  t.dispose();
  return Array.from({ length: n }, (_, r) => data.slice(r * vocab, (r + 1) * vocab));
}

describe('EAGLE head', () => {
  const config = baseConfig();
  const V = config.vocabSize;
  const dim = config.dim;
  const n = 9;
  const featuresData = randomArray(n * dim, 21, -1.5, 1.5); // f_0 .. f_8, final-normed-sized rows
  const context = [1, 5, 9, 30, 4, 17, 2, 11, 23];

  // the base model's layer shape, one of its own (grouped kv heads, the half RoPE layout, a wider
  // feed-forward), and EAGLE's own layer without the input norm
  for (const layer of [{}, { nHeads: 6, nKvHeads: 2, headDim: 4, ropeLayout: 'half' as const, hiddenDim: 52, ropeTheta: 500 }, { inputNorm: false }, { inputNorm: false, fcBias: false }]) {
    it(`draft logits along a path equal the CPU equations, as the cache grows and when a cached row's token changes (layer ${JSON.stringify(layer)})`, async () => {
      const base = fakeBase(device, config, 3);
      const c = eagleConfig(config, 4, layer);
      const values = randomValues(c, 5);
      const head = (await loadHead(base, headsFile(c, values))) as EagleHead;
      const features = device.tensor(featuresData, [n, dim]);
      const check = async (L: number, root: number, path: number[], what: string) => {
        const got = await rowsOf(head.chainLogits({ context: context.slice(0, L), root }, path), path.length + 1, V);
        const want = eagleLogitsCpu(c, values, base.embeddings, base.output, featuresData.subarray(0, L * dim), context.slice(0, L), root, path);
        got.forEach((row, j) => assertClose(row, want[j], { what: `${what}, row ${j}`, atol: 1e-4, rtol: 1e-4 }));
      };
      // the prompt: 5 positions in one observe
      const first = slice(features, 0, 0, 5);
      head.observe(first, 0);
      first.dispose();
      await check(5, context[5], [3, 8, 0], 'prompt of 5');
      expect(head.cachedRows).toBe(5); // rows 0..3 and the root's row 4
      // an accepted step: positions 5, 6 (root context[5] was committed, then context[6])
      const step = slice(features, 0, 5, 7);
      head.observe(step, 5);
      step.dispose();
      await check(7, 29, [1], 'after a step of 2');
      // a context whose token after position 6 is not the root the cached row 6 was built with
      const more = slice(features, 0, 7, 9);
      head.observe(more, 7);
      more.dispose();
      await check(9, 4, [36, 2, 2, 7], 'after row 6 changed its token');
      // rollback to 6 positions, then the same rows again
      head.rollback(6);
      expect(head.cachedRows).toBeLessThanOrEqual(6);
      const again = slice(features, 0, 6, 9);
      head.observe(again, 6);
      again.dispose();
      await check(9, 4, [36], 'after rollback(6) and the same rows');
      for (const x of [features, head, base]) x.dispose();
    });
  }

  it('tree proposals equal the CPU drafting (each node drafted from its own path), on the host and left on the GPU', async () => {
    const base = fakeBase(device, config, 7);
    const c = eagleConfig(config, 4);
    const values = randomValues(c, 11);
    const head = await loadHead(base, headsFile(c, values));
    const features = device.tensor(featuresData.subarray(0, 6 * dim), [6, dim]);
    head.observe(features, 0);
    const ctx = context.slice(0, 6);
    const trees = [
      chain(4),
      CandidateTree.fromPaths([[0], [1], [2], [0, 0], [0, 1], [1, 0], [2, 0], [0, 0, 0], [0, 1, 0], [0, 0, 0, 0]], { name: 'branching' }),
      CandidateTree.fromPaths([[0], [1], [0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [0, 0, 0], [0, 2, 0]], { name: 'wide' }),
    ];
    for (const tree of trees) {
      const root = 13;
      const want = eagleProposeCpu(c, values, base.embeddings, base.output, featuresData.subarray(0, 6 * dim), ctx, tree, root);
      const { tokens, draftProbs } = await head.propose({ tree, root, context: ctx });
      expect([...tokens], tree.name).toEqual([...want]);
      expect(draftProbs).toBeNull();
      // the verify pass's row order: reversed depth-first is as good as any other permutation with the root first
      const order = Int32Array.from([0, ...Array.from({ length: tree.size - 1 }, (_, i) => tree.size - 1 - i)]);
      const onDevice = head.proposeOnDevice!({ tree, root, context: ctx, order })!;
      const rows = (await onDevice.read()) as Int32Array;
      onDevice.dispose();
      expect([...rows], `${tree.name} on the GPU`).toEqual([...order].map((node) => want[node]));
    }
    for (const x of [features, head, base]) x.dispose();
  });

  it('drawn candidates: draftProbs row n is softmax(logits / T) of the CPU drafting at n\'s parent, and n\'s token has q > 0', async () => {
    const base = fakeBase(device, config, 7);
    const c = eagleConfig(config, 4);
    const values = randomValues(c, 11);
    const head = (await loadHead(base, headsFile(c, values))) as EagleHead;
    const L = 6;
    const features = device.tensor(featuresData.subarray(0, L * dim), [L, dim]);
    head.observe(features, 0);
    const ctx = context.slice(0, L);
    const tree = CandidateTree.fromPaths([[0], [1], [2], [0, 0], [0, 1], [1, 0], [2, 0], [0, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 0, 0]], { name: 'branching' });
    const T = 0.7;
    head.drawCandidates({ temperature: T, seed: 3 });
    expect(head.proposeOnDevice!({ tree, root: 13, context: ctx, order: Int32Array.from({ length: tree.size }, (_, i) => i) })).toBeNull();
    const runs = [];
    for (let run = 0; run < 3; run++) {
      const { tokens, draftProbs } = await head.propose({ tree, root: 13, context: ctx });
      runs.push([...tokens]);
      for (let n = 1; n < tree.size; n++) {
        const path: number[] = [];
        for (let p = tree.nodes[n].parent; p > 0; p = tree.nodes[p].parent) path.unshift(tokens[p]);
        const z = eagleLogitsCpu(c, values, base.embeddings, base.output, featuresData.subarray(0, L * dim), ctx, 13, path)[path.length];
        const m = Math.max(...z);
        const e = z.map((v) => Math.exp((v - m) / T));
        const sum = e.reduce((a, b) => a + b, 0);
        const row = draftProbs!.subarray(n * V, (n + 1) * V);
        assertClose(row, e.map((v) => v / sum), { what: `run ${run}, node ${n}`, atol: 1e-5, rtol: 1e-4 });
        expect(row[tokens[n]]).toBeGreaterThan(0);
      }
    }
    expect(new Set(runs.map((r) => r.join())).size).toBeGreaterThan(1); // the draws differ from step to step
    head.drawCandidates(null);
    expect((await head.propose({ tree, root: 13, context: ctx })).draftProbs).toBeNull();
    expect(() => head.drawCandidates({ temperature: 0 })).toThrow(/temperature = 0, expected a finite number > 0/);
    for (const x of [features, head, base]) x.dispose();
  });

  it('saveHead → loadHead gives the same head; createEagleHead makes a seeded random one', async () => {
    const base = fakeBase(device, config, 2);
    const head = await createEagleHead(base, { depth: 3, seed: 4 });
    expect(head.config).toMatchObject({ kind: 'eagle', numHeads: 3, layers: 1, sharedOutput: true, prefix: null, eagle: { nHeads: config.nHeads, nKvHeads: config.nKvHeads, hiddenDim: config.hiddenDim } });
    expect(head.depth).toBe(3);
    const values = await head.readParameters();
    expect([...values.keys()].slice(0, 4)).toEqual(['eagle.fc.weight', 'eagle.fc.bias', 'eagle.attn_norm', 'eagle.wq']);
    const other = await createEagleHead(base, { depth: 3, seed: 5 });
    expect((await other.readParameters()).get('eagle.wq')).not.toEqual(values.get('eagle.wq'));
    const again = await loadHead(base, await saveHead(head));
    const back = await again.readParameters();
    for (const [name, v] of values) expect(back.get(name), name).toEqual(v);
    const features = device.tensor(featuresData.subarray(0, 4 * dim), [4, dim]);
    const tree = CandidateTree.fromPaths([[0], [1], [0, 0], [1, 0], [0, 0, 0]]);
    for (const h of [head, again]) h.observe(features, 0);
    const a = await head.propose({ tree, root: 3, context: context.slice(0, 4) });
    const b = await again.propose({ tree, root: 3, context: context.slice(0, 4) });
    expect([...b.tokens]).toEqual([...a.tokens]);
    for (const x of [features, head, other, again, base]) x.dispose();
  });

  it('a heads file made for another model is a HeadMismatchError naming dim or vocabSize', async () => {
    const base = fakeBase(device, config, 2);
    const wide = eagleConfig(baseConfig({ dim: 32, hiddenDim: 48, nHeads: 4, headDim: 8 }), 2);
    await expect(loadHead(base, headsFile(wide, randomValues(wide, 1)))).rejects.toThrow(HeadMismatchError);
    await expect(loadHead(base, headsFile(wide, randomValues(wide, 1)))).rejects.toThrow(/heads have dim 32, the base model has dim 24/);
    const bigVocab = eagleConfig(baseConfig({ vocabSize: 50 }), 2);
    await expect(loadHead(base, headsFile(bigVocab, randomValues(bigVocab, 1)))).rejects.toThrow(/heads have vocabSize 50, the base model has vocabSize 37/);
    base.dispose();
  });

  it('bad configs and misuse are typed errors saying what was expected', async () => {
    const base = fakeBase(device, config, 2);
    const c = eagleConfig(config, 2);
    const values = randomValues(c, 1);
    const { eagle: _, ...noLayer } = c;
    await expect(loadHead(base, headsFile(c, values, { config: JSON.stringify(noLayer) }))).rejects.toThrow(/config.eagle = undefined, expected an object \(the eagle draft layer's shape\)/);
    await expect(loadHead(base, headsFile(c, values, { config: JSON.stringify({ ...c, eagle: { ...c.eagle, nKvHeads: 2 } }) }))).rejects.toThrow(/config.eagle.nHeads 3 is not a multiple of nKvHeads 2/);
    await expect(loadHead(base, headsFile(c, values, { config: JSON.stringify({ ...c, sharedOutput: false }) }))).rejects.toThrow(HeadCheckpointError);
    await expect(createHead(base, { kind: 'eagle', numHeads: 2, layers: 2 })).rejects.toThrow(HeadOptionError);
    await expect(createHead(base, { kind: 'eagle', numHeads: 2, sharedOutput: false })).rejects.toThrow(/sharedOutput = false, an eagle head scores its tokens with the base model's output layer/);

    const head = await loadHead(base, headsFile(c, values));
    const tree = chain(2);
    await expect(head.propose({ tree, root: 1, context: [1, 2] })).rejects.toThrow(/the context holds 2 tokens, the head observed features of 0 positions/);
    const features = device.tensor(featuresData.subarray(0, 3 * dim), [3, dim]);
    expect(() => head.observe(features, 1)).toThrow(/rows start at position 1, the head holds features of 0 positions/);
    head.observe(features, 0);
    await expect(head.propose({ tree: chain(3), root: 1, context: [1, 2, 3] })).rejects.toThrow(/tree 'chain-3' has depth 3, this head drafts at most depth 2/);
    await expect(head.propose({ tree, root: V, context: [1, 2, 3] })).rejects.toThrow(HeadStateError);
    head.dispose();
    await expect(head.propose({ tree, root: 1, context: [1, 2, 3] })).rejects.toThrow(/disposed/);
    for (const x of [features, base]) x.dispose();
  });
});
