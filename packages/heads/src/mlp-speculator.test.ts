// MLPSpeculator heads against the plain-TS reference of fms-extras' equation (cpu-reference.ts):
// the same tree tokens for odd trees, inner widths and scale_input, on the host and device paths.
import { describe, expect, it } from 'vitest';
import { getDevice, liveTensorCount, randomArray, type Tensor } from '@hydra-ts/tensor';
import { CandidateTree, chain, trees } from '@hydra-ts/tree';
import { createHead, loadHead, saveHead } from './checkpoint';
import { HEADS_FORMAT, HEADS_VERSION, headParameterShapes } from './config';
import { serializeSafetensors } from '@hydra-ts/model';
import { mlpSpeculatorLogitsCpu, mlpSpeculatorProposeCpu } from './cpu-reference';
import { HeadCheckpointError, HeadOptionError, HeadStateError } from './errors';
import { MLPSpeculatorHeads, speculatorEmbeddingScale } from './mlp-speculator';
import { baseConfig, fakeBase, headsFile, randomValues, speculatorConfig, SMALL_TREE } from './testdata';
import { assertClose } from '@hydra-ts/tensor/testing';

const device = await getDevice();

const small = SMALL_TREE;

function hiddenRows(n: number, dim: number, seed: number): { hidden: Tensor; last: Float32Array } {
  const data = randomArray(n * dim, seed, -2, 2);
  return { hidden: device.tensor(data, [n, dim]), last: data.slice((n - 1) * dim) };
}

describe('MLPSpeculator heads match the CPU reference', () => {
  it('c = emb_weight / state_weight as fms-extras defines them (n_predict 3, inner 4096)', () => {
    // state_weight = 0.5^(1/6) = 0.8908987181403393, emb_weight = √((1 − 0.5^(1/3))·2048) = 20.5642...
    expect(speculatorEmbeddingScale(3, 4096)).toBeCloseTo(Math.sqrt((1 - 0.5 ** (1 / 3)) * 2048) / 0.8908987181403393, 10);
  });

  for (const [numHeads, inner, scaleInput, tree] of [
    [3, 24, false, small],
    [3, 17, true, small],
    [4, 40, false, trees['medusa-63']],
    [5, 24, true, chain(5)],
    [1, 3, false, chain(1)],
  ] as const) {
    it(`numHeads ${numHeads}, innerDim ${inner}, scaleInput ${scaleInput}, tree ${tree.name}`, async () => {
      const base = fakeBase(device, baseConfig(), 3);
      const c = speculatorConfig(base.config, numHeads, inner, scaleInput);
      const values = randomValues(c, numHeads + inner);
      const head = await loadHead(base, headsFile(c, values));
      expect(head).toBeInstanceOf(MLPSpeculatorHeads);
      expect(head.sequential).toBe(true);
      expect(head.depth).toBe(numHeads);
      const { hidden, last } = hiddenRows(4, c.dim, 11);
      head.observe(hidden, 2);
      hidden.dispose();
      const live = liveTensorCount();
      const { tokens, draftProbs } = await head.propose({ tree, root: 7, context: [1, 2, 3, 4, 5, 6] });
      expect(liveTensorCount()).toBe(live);
      expect(draftProbs).toBeNull();
      expect([...tokens]).toEqual([...mlpSpeculatorProposeCpu(c, values, last, tree, 7)]);
      // and on the device, in a permuted row order, with no read-back
      const order = Int32Array.from({ length: tree.size }, (_, r) => (r === 0 ? 0 : tree.size - r));
      head.proposeOnDevice({ tree, root: 7, context: [], order })!.dispose(); // first call: its upload slots
      const reads = device.stats.readbacks;
      const t = head.proposeOnDevice({ tree, root: 7, context: [], order })!;
      expect(device.stats.readbacks).toBe(reads);
      expect([...((await t.read()) as Int32Array)]).toEqual(Array.from(order, (n) => tokens[n]));
      t.dispose();
      // the logits along one path, stage by stage
      const path = Int32Array.from({ length: numHeads }, (_, i) => (7 + 5 * i) % c.vocabSize);
      const logits = (head as MLPSpeculatorHeads).logits(head.state!, path);
      const got = (await logits.read()) as Float32Array;
      logits.dispose();
      for (let i = 0; i < numHeads; i++) {
        const want = mlpSpeculatorLogitsCpu(c, values, last, [...path.slice(0, i + 1)]);
        assertClose(got.subarray(i * c.vocabSize, (i + 1) * c.vocabSize), want, { atol: 2e-4, rtol: 2e-4, what: `stage ${i} logits` });
      }
      head.dispose();
      base.dispose();
    });
  }

  it('children of different parents at one depth get different drafts (the stages see the path)', async () => {
    const base = fakeBase(device, baseConfig(), 5);
    const c = speculatorConfig(base.config, 2);
    const head = await loadHead(base, headsFile(c, randomValues(c, 3)));
    const { hidden } = hiddenRows(1, c.dim, 2);
    head.observe(hidden, 0);
    hidden.dispose();
    const tree = CandidateTree.fromPaths([[0], [1], [2], [3], [0, 0], [1, 0], [2, 0], [3, 0]]);
    const { tokens } = await head.propose({ tree, root: 0, context: [] });
    expect(new Set(tree.nodesAtDepth(2).map((n) => tokens[n])).size).toBeGreaterThan(1);
    head.dispose();
    base.dispose();
  });

  it('ranks beyond the GPU top-k limit (64) are selected on the CPU, same order; the device path declines', async () => {
    const base = fakeBase(device, baseConfig({ vocabSize: 97 }), 8);
    const c = speculatorConfig(base.config, 2);
    const values = randomValues(c, 4);
    const head = await loadHead(base, headsFile(c, values));
    const { hidden, last } = hiddenRows(2, c.dim, 3);
    head.observe(hidden, 0);
    hidden.dispose();
    const tree = CandidateTree.fromPaths([...Array.from({ length: 70 }, (_, r) => [r]), [69, 0], [0, 0], [0, 65]]);
    const { tokens } = await head.propose({ tree, root: 5, context: [] });
    expect([...tokens]).toEqual([...mlpSpeculatorProposeCpu(c, values, last, tree, 5)]);
    expect(head.proposeOnDevice({ tree, root: 5, context: [], order: Int32Array.from({ length: tree.size }, (_, i) => i) })).toBeNull();
    head.dispose();
    base.dispose();
  });
});

describe('MLPSpeculator files and options', () => {
  it('createHead: fms-extras initialisation (std 1/√inner, gains 1, shifts 0), seeded; saveHead/loadHead round trip', async () => {
    const base = fakeBase(device, baseConfig(), 2);
    const head = await createHead(base, { kind: 'mlp-speculator', numHeads: 3, innerDim: 32, seed: 4 });
    expect(head.config.speculator).toEqual({ innerDim: 32, scaleInput: false });
    const values = await head.readParameters();
    expect([...values.keys()]).toEqual([...headParameterShapes(head.config).keys()]);
    const proj1 = values.get('speculator.proj.1.weight')!;
    expect(proj1.length).toBe(32 * 32);
    const sd = Math.sqrt(proj1.reduce((a, v) => a + v * v, 0) / proj1.length);
    expect(Math.abs(sd - 1 / Math.sqrt(32))).toBeLessThan(0.02);
    expect([...values.get('speculator.ln.2.weight')!].every((v) => v === 1)).toBe(true);
    expect([...values.get('speculator.ln.2.bias')!].every((v) => v === 0)).toBe(true);
    const again = await createHead(base, { kind: 'mlp-speculator', numHeads: 3, innerDim: 32, seed: 4 });
    expect(await again.readParameters()).toEqual(values);
    again.dispose();
    const loaded = await loadHead(base, await saveHead(head));
    expect(loaded.config).toEqual(head.config);
    expect(await loaded.readParameters()).toEqual(values);
    loaded.dispose();
    head.dispose();
    base.dispose();
  });

  it('rejects options and files that make no MLPSpeculator, naming the field', async () => {
    const base = fakeBase(device, baseConfig(), 2);
    await expect(createHead(base, { kind: 'mlp-speculator', numHeads: 2, layers: 2 })).rejects.toThrow(/layers = 2, mlp-speculator stages have exactly one layer/);
    await expect(createHead(base, { kind: 'mlp-speculator', numHeads: 2, sharedOutput: true })).rejects.toThrow(HeadOptionError);
    await expect(createHead(base, { kind: 'mlp-speculator', numHeads: 2, innerDim: 0 })).rejects.toThrow(/innerDim = 0/);
    await expect(createHead(base, { kind: 'medusa', numHeads: 2, innerDim: 8 })).rejects.toThrow(/innerDim and scaleInput are options of mlp-speculator heads/);
    const c = speculatorConfig(base.config, 2, 8);
    const values = randomValues(c, 1);
    const withConfig = (config: object) => headsFile(c, values, { config: JSON.stringify(config) });
    await expect(loadHead(base, withConfig({ ...c, speculator: undefined }))).rejects.toThrow(/config.speculator = undefined, expected an object/);
    await expect(loadHead(base, withConfig({ ...c, speculator: { innerDim: 8, scaleInput: 'no' } }))).rejects.toThrow(/config.speculator.scaleInput = "no"/);
    await expect(loadHead(base, withConfig({ ...c, layers: 2 }))).rejects.toThrow(/config.layers = 2, expected 1/);
    const file = headsFile(c, values);
    // tensors shaped for innerDim 8 under a config that says 9
    const tensors = new Map([...headParameterShapes(c)].map(([name, shape]) => [name, { shape, data: values.get(name)! }]));
    const lying = serializeSafetensors(tensors, { format: HEADS_FORMAT, version: HEADS_VERSION, config: JSON.stringify({ ...c, speculator: { innerDim: 9, scaleInput: false } }) });
    await expect(loadHead(base, lying)).rejects.toThrow(HeadCheckpointError);
    await expect(loadHead(base, lying)).rejects.toThrow(/speculator.emb.0.weight has shape \[37, 8\], expected \[37, 9\]/);
    const head = await loadHead(base, file);
    await expect(head.propose({ tree: small, root: 1, context: [] })).rejects.toThrow(HeadStateError);
    head.dispose();
    base.dispose();
  });
});
