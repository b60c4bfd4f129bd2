import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CandidateTree, chain, rootOnly, trees } from '@hydra-ts/tree';
import { rowLayout } from './rows';

function checkLayout(tree: CandidateTree): void {
  const { nodeOf, rowOf, mask, positionOffsets, identity } = rowLayout(tree);
  const n = tree.size;
  // a permutation, with rowOf its inverse
  expect([...nodeOf].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
  for (let r = 0; r < n; r++) expect(rowOf[nodeOf[r]]).toBe(r);
  // parents come before their children
  for (let r = 1; r < n; r++) expect(rowOf[tree.parents[nodeOf[r]]]).toBeLessThan(r);
  // the rank-0 chain is rows 0, 1, 2, ...
  let node = 0;
  for (let r = 0; ; r++) {
    expect(nodeOf[r]).toBe(node);
    const best = tree.nodes[node].children.find((c) => tree.ranks[c] === Math.min(...tree.nodes[node].children.map((k) => tree.ranks[k])));
    if (best === undefined) break;
    node = best;
  }
  // the mask and positions are the tree's, permuted
  for (let r = 0; r < n; r++) {
    expect(positionOffsets[r]).toBe(tree.positionOffsets[nodeOf[r]]);
    for (let c = 0; c < n; c++) expect(mask[r * n + c]).toBe(tree.attentionMask[nodeOf[r] * n + nodeOf[c]]);
  }
  expect(identity).toBe(nodeOf.every((v, i) => v === i));
}

describe('rowLayout puts the rank-0 chain first', () => {
  for (const tree of [...Object.values(trees), chain(5), rootOnly()]) it(tree.name, () => checkLayout(tree));
  it('chains and the root alone need no permutation', () => {
    expect(rowLayout(chain(4)).identity).toBe(true);
    expect(rowLayout(rootOnly()).identity).toBe(true);
    expect(rowLayout(trees['medusa-63']).identity).toBe(false);
  });
  it('a tuned-style tree: the best path is rows 0..4', () => {
    const t = CandidateTree.fromPaths([[0], [1], [3], [0, 0], [1, 0], [0, 0, 0], [0, 0, 0, 0]]);
    expect([...rowLayout(t).nodeOf]).toEqual([0, 1, 4, 6, 7, 2, 5, 3]);
  });
  it('random trees (property)', () => {
    const paths = fc.uniqueArray(fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 4 }), { maxLength: 30, selector: (p) => p.join() });
    fc.assert(
      fc.property(paths, (ps) => {
        // close the set under prefixes so it is a valid tree
        const all = new Map<string, number[]>();
        for (const p of ps) for (let k = 1; k <= p.length; k++) all.set(p.slice(0, k).join(), p.slice(0, k));
        if (all.size === 0) return;
        checkLayout(CandidateTree.fromPaths([...all.values()]));
      }),
      { numRuns: 100 },
    );
  });
});
