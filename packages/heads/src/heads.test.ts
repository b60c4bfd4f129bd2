import { afterEach, describe, expect, it } from 'vitest';
import { flags, getDevice, liveTensorCount } from '@hydra-ts/tensor';
import { CandidateTree, chain, trees } from '@hydra-ts/tree';
import { createHead, loadHead, saveHead } from './checkpoint';
import { serializeSafetensors, type SafetensorsInput } from '@hydra-ts/model';
import { HEADS_FORMAT, HEADS_VERSION, headConfigFor, headParameterShapes, type HeadConfig } from './config';
import { hydraProposeCpu, medusaProposeCpu, topkCpu } from './cpu-reference';
import { HeadCheckpointError, HeadMismatchError, HeadOptionError, HeadStateError } from './errors';
import { baseConfig, eagleConfig, fakeBase, headConfig, headsFile, randomValues, speculatorConfig, hiddenRows as hiddenRowsOn, SMALL_TREE } from './testdata';
import { HydraHeads } from './hydra';
import { MedusaHeads } from './medusa';

const device = await getDevice();
// Tests flip flags.fusedHeads for A/B cases; every test starts from the default.
afterEach(() => {
  flags.fusedHeads = true;
});

const small = SMALL_TREE;

const hiddenRows = (n: number, dim: number, seed: number) => hiddenRowsOn(device, n, dim, seed);

describe('Medusa heads match the CPU reference', () => {
  for (const [numHeads, layers, shared, tree, fused] of [
    [3, 2, false, small, true],
    [3, 2, false, small, false],
    [3, 1, true, small, true],
    [3, 1, true, small, false],
    [4, 1, false, trees['medusa-63'], true],
    [1, 3, false, chain(1), true],
  ] as const) {
    it(`numHeads ${numHeads}, layers ${layers}, sharedOutput ${shared}, tree ${tree.name}, ${fused ? 'fused kernel' : 'separate ops'}`, async () => {
      const base = fakeBase(device, baseConfig(), 3);
      const c = headConfig(base.config, 'medusa', numHeads, layers, shared);
      const values = randomValues(c, numHeads + layers);
      const head = await loadHead(base, headsFile(c, values));
      flags.fusedHeads = fused; // the registry's switch (afterEach sets it back)
      expect(head).toBeInstanceOf(MedusaHeads);
      expect(head.sequential).toBe(false);
      expect(head.depth).toBe(numHeads);
      const { hidden, last } = hiddenRows(5, c.dim, 11);
      head.observe(hidden, 0);
      hidden.dispose(); // borrowed only: the head keeps its own copy of h_t
      const live = liveTensorCount();
      const { tokens, draftProbs } = await head.propose({ tree, root: 7, context: [1, 2, 3, 4, 5] });
      expect(liveTensorCount()).toBe(live);
      expect(draftProbs).toBeNull();
      expect(tokens[0]).toBe(7);
      expect([...tokens]).toEqual([...medusaProposeCpu(c, values, base.output, last, tree, 7)]);
      // independent heads: every node at (depth, rank) holds the same token whatever its parent
      for (const a of tree.nodes) for (const b of tree.nodes) if (a.depth === b.depth && a.rank === b.rank) expect(tokens[a.index]).toBe(tokens[b.index]);
      head.dispose();
      base.dispose();
    });
  }
  it('values written through parameters() after loading are the ones proposals use', async () => {
    const base = fakeBase(device, baseConfig(), 4);
    const c = headConfig(base.config, 'medusa', 3, 2);
    const head = await loadHead(base, headsFile(c, randomValues(c, 1)));
    const { hidden, last } = hiddenRows(2, c.dim, 6);
    head.observe(hidden, 0);
    hidden.dispose();
    await head.propose({ tree: small, root: 2, context: [] }); // the loaded values in use
    const values = randomValues(c, 2);
    for (const [name, t] of head.parameters()) t.write(values.get(name)!);
    const live = liveTensorCount();
    const { tokens } = await head.propose({ tree: small, root: 2, context: [] });
    expect(liveTensorCount()).toBe(live);
    expect([...tokens]).toEqual([...medusaProposeCpu(c, values, base.output, last, small, 2)]);
    head.dispose();
    base.dispose();
  });
});

describe('Hydra heads match the CPU reference', () => {
  for (const [numHeads, layers, shared, tree, fused] of [
    [3, 2, false, small, true],
    [3, 2, false, small, false],
    [3, 1, true, small, true],
    [3, 1, true, small, false],
    [4, 2, false, trees['medusa-63'], true],
    [5, 1, false, chain(5), true],
  ] as const) {
    it(`numHeads ${numHeads}, layers ${layers}, sharedOutput ${shared}, tree ${tree.name}, ${fused ? 'fused kernel' : 'separate ops'}`, async () => {
      const base = fakeBase(device, baseConfig(), 5);
      const c = headConfig(base.config, 'hydra', numHeads, layers, shared);
      const values = randomValues(c, 10 + numHeads + layers);
      const head = await loadHead(base, headsFile(c, values));
      head.fusedKernels = fused; // this head's override of flags.fusedHeads
      expect(head).toBeInstanceOf(HydraHeads);
      expect(head.sequential).toBe(true);
      const { hidden, last } = hiddenRows(3, c.dim, 12);
      head.observe(hidden, 4);
      hidden.dispose();
      const live = liveTensorCount();
      const { tokens } = await head.propose({ tree, root: 30, context: [1, 2, 3, 4, 5, 6] });
      expect(liveTensorCount()).toBe(live);
      expect([...tokens]).toEqual([...hydraProposeCpu(c, values, base.embeddings, base.output, last, tree, 30)]);
      head.dispose();
      base.dispose();
    });
  }

  it('children of different parents at one depth get different drafts (the heads see the path)', async () => {
    const base = fakeBase(device, baseConfig(), 5);
    const c = headConfig(base.config, 'hydra', 2, 1);
    const head = await loadHead(base, headsFile(c, randomValues(c, 3)));
    const { hidden } = hiddenRows(1, c.dim, 2);
    head.observe(hidden, 0);
    hidden.dispose();
    const tree = CandidateTree.fromPaths([[0], [1], [2], [3], [0, 0], [1, 0], [2, 0], [3, 0]]);
    const { tokens } = await head.propose({ tree, root: 0, context: [] });
    const depth2 = tree.nodesAtDepth(2).map((n) => tokens[n]);
    expect(new Set(depth2).size).toBeGreaterThan(1);
    head.dispose();
    base.dispose();
  });

  it('ranks beyond the GPU top-k limit (64) are selected on the CPU, same order', async () => {
    const base = fakeBase(device, baseConfig({ vocabSize: 97 }), 8);
    const c = headConfig(base.config, 'hydra', 2, 1);
    const values = randomValues(c, 4);
    const head = await loadHead(base, headsFile(c, values));
    const { hidden, last } = hiddenRows(2, c.dim, 3);
    head.observe(hidden, 0);
    hidden.dispose();
    const paths = [...Array.from({ length: 70 }, (_, r) => [r]), [69, 0], [0, 0], [0, 65]];
    const tree = CandidateTree.fromPaths(paths);
    const { tokens } = await head.propose({ tree, root: 5, context: [] });
    expect([...tokens]).toEqual([...hydraProposeCpu(c, values, base.embeddings, base.output, last, tree, 5)]);
    head.dispose();
    base.dispose();
  });
});

describe('ownership: a proposal or a level drafting leaves no tensor behind', () => {
  // Every head kind, ranked on the GPU (k <= 64) and past it on the CPU (k > 64): the top-k
  // helpers borrow their logits, so each caller disposes what it made.
  const wide = CandidateTree.fromPaths([...Array.from({ length: 70 }, (_, r) => [r]), [69, 0], [0, 0], [0, 65]], { name: 'wide' });
  const kinds = {
    medusa: (b: ReturnType<typeof baseConfig>) => headConfig(b, 'medusa', 3, 1),
    hydra: (b: ReturnType<typeof baseConfig>) => headConfig(b, 'hydra', 3, 1),
    'mlp-speculator': (b: ReturnType<typeof baseConfig>) => speculatorConfig(b, 3),
    eagle: (b: ReturnType<typeof baseConfig>) => eagleConfig(b, 3),
    // a draft vocabulary of 80 of the 97 tokens: 70 candidates still fit in it
    eagle3: (b: ReturnType<typeof baseConfig>) => headConfigFor(b, { kind: 'eagle3', numHeads: 3, draftVocabSize: 80 }),
  };
  for (const [kind, configOf] of Object.entries(kinds)) {
    it(kind, async () => {
      const base = fakeBase(device, baseConfig({ vocabSize: 97, nLayers: 5 }), 8);
      const c = configOf(base.config);
      const values = randomValues(c, 4);
      if (c.eagle3) values.set('eagle3.d2t', Float32Array.from({ length: 80 }, (_, j) => j + Math.floor(j / 5))); // skips every sixth base id
      const head = await loadHead(base, headsFile(c, values));
      const { hidden } = hiddenRows(3, c.dim, 3);
      const features = c.eagle3 ? hiddenRows(3, 3 * c.dim, 5).hidden : undefined; // the three feature layers side by side
      head.observe(hidden, 0, features);
      hidden.dispose();
      features?.dispose();
      await head.propose({ tree: small, root: 5, context: [1, 2, 3] }); // EAGLE's first proposal commits the root's row: head state, not a leak
      for (const tree of [small, wide]) {
        const live = liveTensorCount();
        await head.propose({ tree, root: 5, context: [1, 2, 3] });
        expect(liveTensorCount(), `propose on tree ${tree.name}`).toBe(live);
      }
      for (const k of [4, 70]) {
        const live = liveTensorCount();
        const levels = head.draftLevels!({ root: 5, context: [1, 2, 3], depth: 2 });
        const first = await levels.expand(null, k);
        await levels.expand(Int32Array.from([0, 1]), k);
        expect(first.ids.length).toBe(k);
        levels.dispose();
        expect(liveTensorCount(), `draftLevels with k ${k}`).toBe(live);
      }
      head.dispose();
      base.dispose();
    });
  }
});

describe('proposeOnDevice gives the proposal of propose(), in the requested row order, without a read-back', () => {
  /** A row order with the root first: the rest reversed (any permutation serves). */
  const reversed = (tree: CandidateTree) => Int32Array.from({ length: tree.size }, (_, r) => (r === 0 ? 0 : tree.size - r));
  for (const kind of ['medusa', 'hydra'] as const) {
    for (const [tree, fused, shared] of [
      [small, true, false],
      [small, false, false],
      [trees['medusa-63'], true, true],
      [chain(3), false, true],
    ] as const) {
      it(`${kind}, tree ${tree.name}, ${fused ? 'fused kernel' : 'separate ops'}, sharedOutput ${shared}`, async () => {
        const base = fakeBase(device, baseConfig(), 8);
        const c = headConfig(base.config, kind, 4, 2, shared);
        const head = await loadHead(base, headsFile(c, randomValues(c, 21)));
        flags.fusedHeads = fused;
        const { hidden } = hiddenRows(3, c.dim, 13);
        head.observe(hidden, 0);
        hidden.dispose();
        const want = (await head.propose({ tree, root: 9, context: [1, 2, 3] })).tokens;
        const order = reversed(tree);
        head.proposeOnDevice({ tree, root: 9, context: [1, 2, 3], order })!.dispose(); // first call: its upload slots
        const reads = device.stats.readbacks;
        const live = liveTensorCount();
        const t = head.proposeOnDevice({ tree, root: 9, context: [1, 2, 3], order })!;
        expect(device.stats.readbacks).toBe(reads);
        expect(liveTensorCount()).toBe(live + 1);
        expect(t.shape).toEqual([tree.size]);
        const got = (await t.read()) as Int32Array;
        t.dispose();
        expect(Array.from(order, (node) => want[node])).toEqual([...got]);
        head.dispose();
        base.dispose();
      });
    }
    it(`${kind}: a root-only tree gives the root alone`, async () => {
      const base = fakeBase(device, baseConfig(), 8);
      const c = headConfig(base.config, kind, 2, 1);
      const head = await loadHead(base, headsFile(c, randomValues(c, 3)));
      const { hidden } = hiddenRows(1, c.dim, 2);
      head.observe(hidden, 0);
      hidden.dispose();
      const t = head.proposeOnDevice({ tree: CandidateTree.fromPaths([], { rootOnly: true }), root: 5, context: [], order: Int32Array.of(0) })!;
      expect(Array.from(await t.read())).toEqual([5]);
      t.dispose();
      head.dispose();
      base.dispose();
    });
    it(`${kind}: past the GPU top-k's k it declines (null), so the caller uses propose()`, async () => {
      const base = fakeBase(device, baseConfig({ vocabSize: 80 }), 8);
      const c = headConfig(base.config, kind, 1, 1);
      const head = await loadHead(base, headsFile(c, randomValues(c, 3)));
      const { hidden } = hiddenRows(1, c.dim, 2);
      head.observe(hidden, 0);
      hidden.dispose();
      const wide = CandidateTree.fromPaths(Array.from({ length: 70 }, (_, r) => [r]));
      expect(head.proposeOnDevice({ tree: wide, root: 1, context: [], order: Int32Array.from({ length: wide.size }, (_, i) => i) })).toBeNull();
      head.dispose();
      base.dispose();
    });
  }
});

describe('createHead', () => {
  for (const kind of ['medusa', 'hydra'] as const) {
    for (const shared of [false, true]) {
      it(`fresh ${kind} heads (sharedOutput ${shared}) predict what the base model predicts from h_t`, async () => {
        const base = fakeBase(device, baseConfig(), 21);
        const head = await createHead(base, { kind, numHeads: 3, sharedOutput: shared, seed: 4 });
        const c = head.config;
        expect(c).toMatchObject({ kind, numHeads: 3, layers: 1, dim: 24, vocabSize: 37, sharedOutput: shared, prefix: null });
        const params = head.parameters();
        expect([...params.keys()]).toEqual([...headParameterShapes(c).keys()]);
        for (const [name, shape] of headParameterShapes(c)) expect(params.get(name)!.shape).toEqual(shape);
        const { hidden, last } = hiddenRows(2, c.dim, 9);
        head.observe(hidden, 0);
        hidden.dispose();
        // base logits of h_t, computed here from the output layer
        const logits = new Float64Array(c.vocabSize);
        for (let v = 0; v < c.vocabSize; v++) for (let i = 0; i < c.dim; i++) logits[v] += base.output[v * c.dim + i] * last[i];
        const ranked = topkCpu(logits, 10);
        const { tokens } = await head.propose({ tree: small, root: 3, context: [] });
        for (let n = 1; n < small.size; n++) expect(tokens[n]).toBe(ranked[small.ranks[n]]);
        head.dispose();
        base.dispose();
      });
    }
  }

  it('hydra++ defaults to 4 layers on a PrefixMLP; the seed decides its projections', async () => {
    const base = fakeBase(device, baseConfig(), 2);
    const a = await createHead(base, { kind: 'hydra++', numHeads: 2, seed: 1 });
    const b = await createHead(base, { kind: 'hydra++', numHeads: 2, seed: 1 });
    const d = await createHead(base, { kind: 'hydra++', numHeads: 2, seed: 2 });
    expect(a.config.layers).toBe(4);
    expect(a.config.prefix).toMatchObject({ nHeads: 3, nKvHeads: 1, headDim: 8, hiddenDim: 40 });
    const [va, vb, vd] = await Promise.all([a.readParameters(), b.readParameters(), d.readParameters()]);
    expect([...va.keys()].sort()).toEqual([...headParameterShapes(a.config).keys()].sort());
    expect([...va.get('prefix.wq')!]).toEqual([...vb.get('prefix.wq')!]);
    expect([...va.get('prefix.wq')!]).not.toEqual([...vd.get('prefix.wq')!]);
    expect(va.get('prefix.wo')!.every((x) => x === 0)).toBe(true);
    expect(va.get('prefix.w2')!.every((x) => x === 0)).toBe(true);
    for (const h of [a, b, d]) h.dispose();
    base.dispose();
  });

  it('rejects bad options with HeadOptionError naming the option', async () => {
    const base = fakeBase(device, baseConfig(), 2);
    const bad: Array<[unknown, RegExp]> = [
      [{ kind: 'eagle4', numHeads: 2 }, /kind = "eagle4", expected one of medusa, hydra, hydra\+\+, mlp-speculator, eagle, eagle3/],
      [{ kind: 'medusa', numHeads: 0 }, /numHeads = 0/],
      [{ kind: 'medusa', numHeads: 1.5 }, /numHeads = 1.5/],
      [{ kind: 'hydra', numHeads: 2, layers: 0 }, /layers = 0/],
      [{ kind: 'hydra', numHeads: 2, sharedOutput: 'yes' }, /sharedOutput/],
      [{ kind: 'hydra', numHeads: 2, seed: 0.5 }, /seed/],
      [null, /options/],
    ];
    for (const [opts, message] of bad) {
      await expect(createHead(base, opts as never)).rejects.toThrow(HeadOptionError);
      await expect(createHead(base, opts as never)).rejects.toThrow(message);
    }
    base.dispose();
  });
});

describe('saveHead / loadHead', () => {
  for (const kind of ['medusa', 'hydra', 'hydra++'] as const) {
    it(`${kind}: save then load gives the same bytes and the same proposals`, async () => {
      const base = fakeBase(device, baseConfig(), 6);
      const c = headConfig(base.config, kind, 3, 2);
      const file = headsFile(c, randomValues(c, 77));
      const a = await loadHead(base, file);
      const saved = await saveHead(a);
      expect(saved).toEqual(file);
      const b = await loadHead(base, saved);
      const { hidden } = hiddenRows(4, c.dim, 5);
      a.observe(hidden, 0);
      b.observe(hidden, 0);
      hidden.dispose();
      const pa = await a.propose({ tree: small, root: 1, context: [] });
      const pb = await b.propose({ tree: small, root: 1, context: [] });
      expect([...pb.tokens]).toEqual([...pa.tokens]);
      a.dispose();
      b.dispose();
      base.dispose();
    });
  }

  it('rejects a head made for another base model with HeadMismatchError naming both values', async () => {
    const base = fakeBase(device, baseConfig(), 6);
    const wide = baseConfig({ dim: 32 });
    const c = headConfig(wide, 'medusa', 2, 1);
    await expect(loadHead(base, headsFile(c, randomValues(c, 1)))).rejects.toThrow(HeadMismatchError);
    await expect(loadHead(base, headsFile(c, randomValues(c, 1)))).rejects.toThrow(/dim 32.*dim 24/);
    const v = headConfig(baseConfig({ vocabSize: 40 }), 'hydra', 2, 1);
    await expect(loadHead(base, headsFile(v, randomValues(v, 1)))).rejects.toThrow(/vocabSize 40.*vocabSize 37/);
    base.dispose();
  });

  it('rejects broken files with HeadCheckpointError naming the tensor or field', async () => {
    const base = fakeBase(device, baseConfig(), 6);
    const c = headConfig(base.config, 'hydra', 2, 2);
    const values = randomValues(c, 1);
    const reject = (bytes: Uint8Array, message: RegExp) => expect(loadHead(base, bytes)).rejects.toThrow(message);
    const check = async (bytes: Uint8Array, message: RegExp) => {
      await expect(loadHead(base, bytes)).rejects.toThrow(HeadCheckpointError);
      await reject(bytes, message);
    };
    await check(withTensors(c, values, (m) => m.delete('heads.1.input.residual')), /heads\.1\.input\.residual \[24, 72\] is missing/);
    await check(withTensors(c, values, (m) => m.set('heads.0.blocks.1.weight', { shape: [24, 23], data: new Float32Array(24 * 23) })), /heads\.0\.blocks\.1\.weight has shape \[24, 23\], expected \[24, 24\]/);
    await check(withTensors(c, values, (m) => m.set('heads.2.lm_head.weight', { shape: [2], data: new Float32Array(2) })), /unexpected tensor heads\.2\.lm_head\.weight/);
    await check(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), /not a safetensors file/);
    await check(new Uint8Array(0), /not a safetensors file/);
    const file = headsFile(c, values);
    await check(file.slice(0, file.length - 10), /not a safetensors file/);
    await check(headsFile(c, values, { format: 'medusa' }), /format = "medusa", expected "hydra-ts-heads"/);
    await check(headsFile(c, values, { version: '2' }), /version = "2", expected "1"/);
    await check(headsFile(c, values, { config: '{oops' }), /config is not JSON/);
    await check(headsFile(c, values, { config: JSON.stringify({ ...c, kind: 'eagle4' }) }), /config\.kind = "eagle4"/);
    await check(headsFile(c, values, { config: JSON.stringify({ ...c, numHeads: 0 }) }), /config\.numHeads = 0/);
    await check(headsFile(c, values, { config: JSON.stringify({ ...c, kind: 'hydra++' }) }), /config\.prefix = null/);
    await expect(loadHead(base, '/nonexistent/heads.safetensors')).rejects.toThrow(/\/nonexistent\/heads\.safetensors/);
    base.dispose();
  });
});


/** A heads file whose tensor list `edit` has changed. */
function withTensors(c: HeadConfig, values: Map<string, Float32Array>, edit: (m: Map<string, SafetensorsInput>) => void): Uint8Array {
  const m = new Map<string, SafetensorsInput>();
  for (const [name, shape] of headParameterShapes(c)) m.set(name, { shape, data: values.get(name)! });
  edit(m);
  return serializeSafetensors(m, { format: HEADS_FORMAT, version: HEADS_VERSION, config: JSON.stringify(c) });
}

describe('state and misuse', () => {
  it('fusedKernels follows flags.fusedHeads unless set for the head; the fused path takes fewer dispatches', async () => {
    const base = fakeBase(device, baseConfig(), 6);
    const head = await createHead(base, { kind: 'hydra', numHeads: 2 });
    const { hidden } = hiddenRows(3, 24, 2);
    head.observe(hidden, 0);
    const req = { tree: chain(2), root: 1, context: [] };
    const dispatches = async () => {
      await head.propose(req); // first call packs and compiles
      const before = device.stats.dispatches;
      await head.propose(req);
      return device.stats.dispatches - before;
    };
    expect(head.fusedKernels).toBe(true);
    const fused = await dispatches();
    flags.fusedHeads = false;
    expect(head.fusedKernels).toBe(false);
    const separate = await dispatches();
    expect(fused).toBeLessThan(separate);
    head.fusedKernels = true; // this head's override wins over the flag
    expect(await dispatches()).toBe(fused);
    head.fusedKernels = undefined; // follows the flag again
    expect(await dispatches()).toBe(separate);
    expect(() => {
      head.fusedKernels = 'yes' as unknown as boolean;
    }).toThrow(HeadOptionError);
    head.dispose();
    hidden.dispose();
    base.dispose();
  });

  it('propose needs observe; reset and rollback forget h_t; typed errors for bad calls', async () => {
    const base = fakeBase(device, baseConfig(), 6);
    const head = await createHead(base, { kind: 'hydra', numHeads: 2 });
    const req = { tree: chain(2), root: 1, context: [] };
    await expect(head.propose(req)).rejects.toThrow(HeadStateError);
    const { hidden } = hiddenRows(3, 24, 1);
    head.observe(hidden, 0);
    await expect(head.propose({ ...req, tree: chain(3) })).rejects.toThrow(/depth 3.*at most depth 2/);
    await expect(head.propose({ ...req, root: 37 })).rejects.toThrow(/root token 37/);
    expect(() => head.observe(device.zeros([2, 23]), 0)).toThrow(/expected \[n >= 1, 24\]/);
    expect(() => head.observe(hidden, -1)).toThrow(HeadStateError);
    head.rollback(3); // nothing past 3: h_t stays
    expect((await head.propose(req)).tokens.length).toBe(3);
    head.rollback(2);
    await expect(head.propose(req)).rejects.toThrow(/call observe/);
    head.observe(hidden, 0);
    head.reset();
    expect(head.state).toBeNull();
    await expect(head.propose(req)).rejects.toThrow(HeadStateError);
    head.dispose();
    head.dispose(); // idempotent
    expect(() => head.observe(hidden, 0)).toThrow(/disposed/);
    hidden.dispose();
    base.dispose();
  });
});
