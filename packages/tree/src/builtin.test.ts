import { describe, expect, it } from 'vitest';
import { expectedAcceptLength, PRIOR_ACCEPTANCE } from './acceptance';
import { chain, getTree, trees } from './builtin';
import { TreeError } from './errors';

describe('built-in trees', () => {
  it("medusa-63 has Medusa mc_sim_7b_63's shape: 10/28/23/2 nodes at depths 1..4", () => {
    const t = trees['medusa-63'];
    expect(t.size).toBe(64);
    expect(t.depth).toBe(4);
    expect([1, 2, 3, 4].map((d) => t.nodesAtDepth(d).length)).toEqual([10, 28, 23, 2]);
    // Wider under lower ranks: a depth-1 node never has fewer children than a higher-ranked sibling.
    const fanout = t.nodesAtDepth(1).map((i) => t.nodes[i].children.length);
    for (let k = 1; k < fanout.length; k++) expect(fanout[k]).toBeLessThanOrEqual(fanout[k - 1]);
    expect(fanout[0]).toBeGreaterThan(fanout[9]);
    for (let d = 1; d <= 4; d++) expect(t.maxRankAtDepth(d)).toBeLessThanOrEqual(10);
  });

  it('cpu trees have 8/16/24 candidates and gain expected length with size', () => {
    const sizes = ['cpu-8', 'cpu-16', 'cpu-24', 'medusa-63'].map((n) => getTree(n).size);
    expect(sizes).toEqual([9, 17, 25, 64]);
    const lengths = ['cpu-8', 'cpu-16', 'cpu-24', 'medusa-63'].map((n) => expectedAcceptLength(getTree(n), PRIOR_ACCEPTANCE));
    for (let k = 1; k < lengths.length; k++) expect(lengths[k]).toBeGreaterThan(lengths[k - 1]);
    expect(lengths[0]).toBeGreaterThan(expectedAcceptLength(chain(3), PRIOR_ACCEPTANCE));
    for (const n of ['cpu-8', 'cpu-16', 'cpu-24']) expect(getTree(n).maxRankAtDepth(1)).toBeLessThanOrEqual(8);
  });

  it('chain(n) is a single path of depth n', () => {
    for (const n of [1, 3, 17]) {
      const t = getTree(`chain-${n}`);
      expect(t.depth).toBe(n);
      expect(t.leaves).toEqual([n]);
      expect(t.toJSON().paths).toEqual(Array.from({ length: n }, (_, d) => new Array(d + 1).fill(0)));
    }
    expect(() => chain(0)).toThrowError(/chain length 0; expected an integer in \[1, 1023\]/);
    expect(() => getTree('chain-1024')).toThrowError(TreeError);
  });

  it('unknown names list the known ones', () => {
    expect(() => getTree('mc_sim_7b_63')).toThrowError(/unknown tree 'mc_sim_7b_63'; expected one of medusa-63, cpu-8, cpu-16, cpu-24 or chain-<n>/);
    expect(() => getTree('toString')).toThrowError(TreeError);
  });
});

import { rootOnly } from './builtin';
describe('rootOnly', () => {
  it('is a one-row tree of depth 0 whose mask lets the root see itself', () => {
    const t = rootOnly();
    expect(t.size).toBe(1);
    expect(t.depth).toBe(0);
    expect(Array.from(t.attentionMask)).toEqual([1]);
    expect(Array.from(t.positionOffsets)).toEqual([0]);
  });
});
