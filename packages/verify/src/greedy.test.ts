import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CandidateTree, trees } from '@hydra-ts/tree';
import { greedyVerifier } from './greedy';
import { createRng } from './rng';
import { VerifyError } from './errors';
import { ancestry, randomTrees } from '../test/random-tree';

/** Every node whose whole path matches the argmax chain; the deepest, earliest one wins. */
function bruteForceGreedy(tree: CandidateTree, tokens: Int32Array, argmax: Int32Array) {
  let best = [0];
  for (let i = 0; i < tree.size; i++) {
    const chain = ancestry(tree, i);
    const ok = chain.every((node, k) => k === 0 || tokens[node] === argmax[chain[k - 1]]);
    if (ok && chain.length > best.length) best = chain;
  }
  return { path: best, next: argmax[best[best.length - 1]] };
}

describe('greedyVerifier', () => {
  it('finds the longest path matching the base argmax (brute force, property)', () => {
    fc.assert(
      fc.property(randomTrees(40, 3), fc.integer({ min: 1, max: 4 }), fc.integer(), (tree, V, seed) => {
        const rng = createRng(seed);
        const tokens = Int32Array.from({ length: tree.size }, () => Math.floor(rng.next() * V));
        const argmax = Int32Array.from({ length: tree.size }, () => Math.floor(rng.next() * V));
        const r = greedyVerifier().verify({ tree, tokens, argmax, vocabSize: V }, rng);
        const want = bruteForceGreedy(tree, tokens, argmax);
        expect(r.path).toEqual(want.path);
        expect(r.next).toBe(want.next);
        expect(r.acceptedLength).toBe(want.path.length);
      }),
      { numRuns: 300 },
    );
  });

  it('walks a hand-made case on medusa-63', () => {
    const tree = trees['medusa-63'];
    const V = 257;
    // Base argmax: token (row index + 100); make the [1] -> [1,0] -> [1,0,0] chain match it.
    const argmax = Int32Array.from({ length: tree.size }, (_, i) => i + 100);
    const tokens = new Int32Array(tree.size).fill(7);
    const find = (path: number[]) => tree.nodes.findIndex((n) => n.path.join(',') === path.join(','));
    const [a, b, c] = [find([1]), find([1, 0]), find([1, 0, 0])];
    tokens[a] = argmax[0];
    tokens[b] = argmax[a];
    tokens[c] = argmax[b];
    tokens[find([0])] = argmax[0]; // matches too, but its subtree does not
    const r = greedyVerifier().verify({ tree, tokens, argmax, vocabSize: V }, createRng(0));
    expect(r).toEqual({ path: [0, a, b, c], next: argmax[c], acceptedLength: 4 });
  });

  it('rejects inputs of the wrong shape, naming the field', () => {
    const tree = trees['cpu-8']; // 9 rows
    const v = greedyVerifier();
    const rng = createRng(0);
    const ok = { tree, vocabSize: 5, tokens: new Int32Array(9), argmax: new Int32Array(9) };
    expect(v.verify(ok, rng).acceptedLength).toBeGreaterThan(1);
    expect(() => v.verify({ ...ok, tokens: new Int32Array(8) }, rng)).toThrowError(/input.tokens has 8 entries; expected tree.size = 9/);
    expect(() => v.verify({ ...ok, argmax: undefined }, rng)).toThrowError(/greedy verifier: input.argmax must be an Int32Array \[tree.size = 9\]/);
    expect(() => v.verify({ ...ok, argmax: Int32Array.from({ length: 9 }, () => 5) }, rng)).toThrowError(/input.argmax\[0\] = 5; expected a token id in \[0, 5\)/);
    expect(() => v.verify({ ...ok, tokens: Int32Array.of(0, 0, 0, -1, 0, 0, 0, 0, 0) }, rng)).toThrowError(VerifyError);
    expect(() => v.verify({ ...ok, vocabSize: 0 }, rng)).toThrowError(/vocabSize = 0; expected an integer >= 1/);
    expect(() => v.verify({ ...ok, tokens: [0, 0] as unknown as Int32Array }, rng)).toThrowError(/input.tokens must be an Int32Array/);
  });
});
