import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { OptionError } from '@hydra-ts/tensor';
import { CandidateTree, trees } from '@hydra-ts/tree';
import { typicalVerifier } from './typical';
import { greedyVerifier } from './greedy';
import { createRng } from './rng';
import { ancestry, randomTrees } from '../test/random-tree';
import { chiSquareTest } from '../test/chi-square';

function softmax(row: ArrayLike<number>, T: number): number[] {
  const m = Math.max(...Array.from(row));
  const e = Array.from(row, (z) => Math.exp((z - m) / T));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

/** Nodes whose every path token passes p(x) > min(ε, δ·exp(−H(p))); best by depth, product, index. */
function bruteForceTypical(tree: CandidateTree, tokens: Int32Array, logits: Float32Array, V: number, T: number, eps: number, delta: number) {
  const accepted: number[] = [];
  let best = { chain: [0], prob: 1 };
  for (let i = 0; i < tree.size; i++) {
    const chain = ancestry(tree, i);
    let prob = 1;
    let ok = true;
    for (let k = 1; k < chain.length && ok; k++) {
      const p = softmax(logits.subarray(chain[k - 1] * V, chain[k - 1] * V + V), T);
      const h = -p.reduce((a, x) => a + (x > 0 ? x * Math.log(x) : 0), 0);
      const px = p[tokens[chain[k]]];
      ok = px > Math.min(eps, delta * Math.exp(-h));
      prob *= px;
    }
    if (!ok) continue;
    accepted.push(i);
    if (chain.length > best.chain.length || (chain.length === best.chain.length && prob > best.prob)) best = { chain, prob };
  }
  return { accepted, best: best.chain };
}

function randomInput(tree: CandidateTree, V: number, seed: number, scale: number) {
  const rng = createRng(seed);
  const logits = Float32Array.from({ length: tree.size * V }, () => (rng.next() - 0.5) * scale);
  const tokens = Int32Array.from({ length: tree.size }, () => Math.floor(rng.next() * V));
  return { tree, tokens, logits, vocabSize: V };
}

describe('typicalVerifier', () => {
  it('accepts exactly the paths meeting the typical criterion (brute force, property)', () => {
    let deep = 0;
    fc.assert(
      fc.property(
        randomTrees(30, 3),
        fc.integer({ min: 2, max: 6 }),
        fc.integer(),
        fc.constantFrom(0.3, 0.7, 1, 1.8),
        fc.double({ min: 0, max: 0.5, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (tree, V, seed, T, eps, delta) => {
          const input = randomInput(tree, V, seed, 6);
          const r = typicalVerifier({ temperature: T, epsilon: eps, delta }).verify(input, createRng(seed));
          const want = bruteForceTypical(tree, input.tokens, input.logits, V, T, eps, delta);
          expect(r.path).toEqual(want.best);
          // Every node on the returned path is in the brute-force accepted set.
          for (const i of r.path) expect(want.accepted).toContain(i);
          if (r.path.length > 2) deep++;
        },
      ),
      { numRuns: 400 },
    );
    expect(deep).toBeGreaterThan(20); // the property did exercise multi-token acceptance
  });

  it('samples the next token from p at the last accepted node (chi-square, 50k draws)', () => {
    const tree = CandidateTree.fromPaths([[0], [1]]);
    const V = 5;
    const logits = new Float32Array(tree.size * V);
    logits.set([3, 0, 0, 0, 0], 0); // root row: token 0 is near certain, so node 1 (token 0) is accepted
    logits.set([0.5, -0.3, 1.2, 0, 0.7], 1 * V);
    const input = { tree, tokens: Int32Array.of(4, 0, 1), logits, vocabSize: V };
    const v = typicalVerifier({ temperature: 0.8 });
    const rng = createRng(5);
    const counts = new Float64Array(V);
    let otherPaths = 0;
    for (let k = 0; k < 50_000; k++) {
      const r = v.verify(input, rng);
      if (r.path.length !== 2 || r.path[1] !== 1) otherPaths++;
      counts[r.next]++;
    }
    expect(otherPaths).toBe(0);
    expect(chiSquareTest(counts, softmax(logits.subarray(V, 2 * V), 0.8)).pValue).toBeGreaterThan(1e-4);
  });

  it('at temperature 0 equals the greedy verifier (property)', () => {
    fc.assert(
      fc.property(randomTrees(40, 3), fc.integer({ min: 1, max: 4 }), fc.integer(), (tree, V, seed) => {
        const input = randomInput(tree, V, seed, 4);
        const argmax = Int32Array.from({ length: tree.size }, (_, i) => {
          const row = Array.from(input.logits.subarray(i * V, i * V + V));
          return row.indexOf(Math.max(...row));
        });
        const typical = typicalVerifier({ temperature: 0 }).verify(input, createRng(1));
        const greedy = greedyVerifier().verify({ ...input, argmax }, createRng(1));
        expect(typical).toEqual(greedy);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects bad options and missing logits', () => {
    expect(() => typicalVerifier({ temperature: -0.1 })).toThrowError(/temperature = -0.1/);
    expect(() => typicalVerifier({ temperature: 1, epsilon: 1 })).toThrowError(/typical epsilon = 1; expected a number in \[0, 1\)/);
    expect(() => typicalVerifier({ temperature: 1, epsilon: -0.1 })).toThrowError(OptionError);
    expect(() => typicalVerifier({ temperature: 1, delta: 1.5 })).toThrowError(/typical delta = 1.5; expected a number in \[0, 1\]/);
    expect(() => typicalVerifier({ temperature: 1, delta: Number.NaN })).toThrowError(OptionError);
    const tree = trees['cpu-8'];
    const v = typicalVerifier({ temperature: 1 });
    const base = { tree, tokens: new Int32Array(9), vocabSize: 3 };
    expect(() => v.verify(base, createRng(0))).toThrowError(/typical verifier: input.logits must be a Float32Array \[tree.size = 9, vocab = 3\]/);
    expect(() => v.verify({ ...base, logits: new Float32Array(26) }, createRng(0))).toThrowError(/input.logits has 26 values; expected tree.size \* vocab = 9 \* 3 = 27/);
  });
});
