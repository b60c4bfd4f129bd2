import { describe, expect, it } from 'vitest';
import type { LlamaConfig } from '@hydra-ts/model';
import { ReferenceLlama } from '@hydra-ts/model/testing';
import { getDevice, randomArray, slice } from '@hydra-ts/tensor';
import { assertClose } from '@hydra-ts/tensor/testing';
import { CandidateTree } from '@hydra-ts/tree';
import { loadHead, type Heads } from './checkpoint';
import { hydraProposeCpu } from './cpu-reference';
import { HeadStateError } from './errors';
import { baseConfig, fakeBase, headConfig, headsFile, randomValues } from './testdata';

const device = await getDevice();

/**
 * The PrefixMLP's output at every position, on the CPU: a one-layer ReferenceLlama whose
 * "token embeddings" are the hidden rows (token t = position t), so its final-normed hidden
 * state at t is the prefix layer's output there.
 */
function prefixReference(base: LlamaConfig, values: Map<string, Float32Array>, hidden: Float32Array, n: number): Float32Array[] {
  const config: LlamaConfig = { ...base, nLayers: 1, vocabSize: n, tiedEmbeddings: false, qkvBias: false };
  const get = (k: string) => values.get(`prefix.${k}`)!;
  const ref = new ReferenceLlama(config, {
    tokenEmbedding: hidden,
    layers: [{ attnNorm: get('attn_norm'), wq: get('wq'), wk: get('wk'), wv: get('wv'), wo: get('wo'), ffnNorm: get('ffn_norm'), w1: get('w1'), w2: get('w2'), w3: get('w3') }],
    finalNorm: get('norm'),
    output: new Float32Array(n * base.dim),
  });
  return Array.from({ length: n }, (_, t) => {
    ref.forward(t, t);
    return Float32Array.from(ref.hidden);
  });
}

async function stateOf(head: Heads): Promise<Float32Array> {
  return (await head.state!.read()) as Float32Array;
}

describe('PrefixMLP (hydra++)', () => {
  const config = baseConfig({ ropeLayout: 'half', nKvHeads: 3 });
  const n = 17;

  it('h_t after observe() equals the CPU layer at every chunk boundary, whatever the chunking', async () => {
    const base = fakeBase(device, config, 4);
    const c = headConfig(config, 'hydra++', 2, 2);
    const values = randomValues(c, 9);
    const file = headsFile(c, values);
    const hiddenData = randomArray(n * c.dim, 31);
    const expected = prefixReference(config, values, hiddenData, n);
    const hidden = device.tensor(hiddenData, [n, c.dim]);
    const whole = await loadHead(base, file);
    whole.observe(hidden, 0);
    assertClose(await stateOf(whole), expected[n - 1], { what: 'whole sequence', atol: 1e-4, rtol: 1e-4 });
    const chunked = await loadHead(base, file);
    let start = 0;
    for (const size of [3, 1, 5, 7, 1]) {
      const part = slice(hidden, 0, start, start + size);
      chunked.observe(part, start);
      part.dispose();
      start += size;
      assertClose(await stateOf(chunked), expected[start - 1], { what: `chunked, after ${start}`, atol: 1e-4, rtol: 1e-4 });
    }
    assertClose(await stateOf(chunked), await stateOf(whole), { what: 'chunked vs whole', atol: 1e-5, rtol: 1e-5 });
    hidden.dispose();
    whole.dispose();
    chunked.dispose();
    base.dispose();
  });

  it('rollback then observing the same rows again gives the same state; other rows give another', async () => {
    const base = fakeBase(device, config, 4);
    const c = headConfig(config, 'hydra++', 2, 1);
    const values = randomValues(c, 2);
    const head = await loadHead(base, headsFile(c, values));
    const hiddenData = randomArray(n * c.dim, 8);
    const hidden = device.tensor(hiddenData, [n, c.dim]);
    head.observe(hidden, 0);
    const before = await stateOf(head);
    head.rollback(6);
    expect(head.state).toBeNull();
    await expect(head.propose({ tree: CandidateTree.fromPaths([[0]]), root: 1, context: [] })).rejects.toThrow(HeadStateError);
    // positions must continue the prefix cache
    const tail = slice(hidden, 0, 6, n);
    expect(() => head.observe(tail, 7)).toThrow(/rollback\(7\) first|holds 6 positions/);
    head.observe(tail, 6);
    assertClose(await stateOf(head), before, { what: 'after rollback and re-observe', atol: 1e-6, rtol: 1e-6 });
    // a different row at position 6 changes everything after it
    head.rollback(6);
    const other = device.tensor(randomArray((n - 6) * c.dim, 99), [n - 6, c.dim]);
    head.observe(other, 6);
    const changed = await stateOf(head);
    expect(changed.some((v, i) => Math.abs(v - before[i]) > 1e-3)).toBe(true);
    // reset empties the cache: observing from 0 again reproduces the first state
    head.reset();
    head.observe(hidden, 0);
    assertClose(await stateOf(head), before, { what: 'after reset', atol: 1e-6, rtol: 1e-6 });
    for (const t of [tail, other, hidden]) t.dispose();
    head.dispose();
    base.dispose();
  });

  it('hydra++ proposals are Hydra proposals from the PrefixMLP state (CPU reference end to end)', async () => {
    const base = fakeBase(device, config, 12);
    const c = headConfig(config, 'hydra++', 3, 4);
    const values = randomValues(c, 5);
    const head = await loadHead(base, headsFile(c, values));
    const hiddenData = randomArray(9 * c.dim, 77);
    const hidden = device.tensor(hiddenData, [9, c.dim]);
    head.observe(hidden, 0);
    hidden.dispose();
    const hT = prefixReference(config, values, hiddenData, 9)[8];
    const tree = CandidateTree.fromPaths([[0], [1], [2], [0, 0], [0, 1], [1, 0], [0, 0, 0], [1, 0, 0]]);
    const { tokens } = await head.propose({ tree, root: 11, context: [] });
    expect([...tokens]).toEqual([...hydraProposeCpu(c, values, base.embeddings, base.output, hT, tree, 11)]);
    head.dispose();
    base.dispose();
  });
});
