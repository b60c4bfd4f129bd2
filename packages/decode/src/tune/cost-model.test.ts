import { describe, expect, it } from 'vitest';
import { OptionError } from '@hydra-ts/tensor';
import { CandidateTree, expectedAcceptLength, TreeError } from '@hydra-ts/tree';
import { acceptanceFromCounts, forwardMsAt, monotoneCost, rankTrees, type StepCost } from './cost-model';

const table = (rows: number[], ms: number[], context = 16) => ({ context, rows, ms });
const linearCost = (fixed: number, perRow: number, headMs = [0]): StepCost => {
  const rows = [1, 2, 4, 8, 16, 32, 64, 128];
  return { forward: [table(rows, rows.map((r) => fixed + perRow * r))], headMs, overheadMs: 0 };
};
const best = (p: number[][], cost: StepCost, opts = {}) => rankTrees(p, cost, opts).ranked[0];

describe('rankTrees', () => {
  // Every rank at every depth has a non-zero chance, so a bigger tree always has a larger E[τ].
  const accept = [0.7, 0.5, 0.4, 0.3].map((top1) => Array.from({ length: 6 }, (_, r) => top1 / (r + 1) ** 2 / 1.6));

  it('picks the widest tree when rows are free', () => {
    const flat: StepCost = { forward: [table([1, 64], [5, 5])], headMs: [1, 1, 1, 1], overheadMs: 0.5 };
    const r = rankTrees(accept, flat, { maxNodes: 40 });
    expect(r.ranked[0].choice.nodes).toBe(40);
    expect(r.ranked[0].tree.size).toBe(41);
    expect(r.curve).toHaveLength(41); // AR, then 1..40 nodes
    expect(r.curve[0]).toMatchObject({ nodes: 0, depth: 0, expectedAcceptLength: 1 });
    expect(r.curve[0].score).toBeCloseTo(1, 12);
  });

  it('picks a chain of top-1 guesses when every row costs a lot', () => {
    // Top-1 guesses are right 90% of the time, others 5%: at 1 ms a row over a 10 ms floor the
    // chain pays all the way down (chain-4: 4.095 / 15 ms) but a 5% sibling never does (4.145 / 16 ms).
    const p = [0, 1, 2, 3].map(() => [0.9, 0.05, 0.05]);
    const r = best(p, linearCost(10, 1));
    expect(r.tree.toJSON().paths).toEqual([[0], [0, 0], [0, 0, 0], [0, 0, 0, 0]]);
    expect(r.choice.tokensPerSecond[0]).toBeCloseTo((4.0951 / 15) * 1000, 9);
    expect(r.choice.speedup[0]).toBeCloseTo(4.0951 / 15 / (1 / 11), 9); // AR: one row, 11 ms
  });

  it('picks plain AR when the heads cost more than they save', () => {
    // Rows at 20 ms over a 1 ms floor: one guess makes 1.9 tokens in 41 ms (46.3/s), AR one in 21 ms (47.6/s).
    const p = [0, 1, 2, 3].map(() => [0.9, 0.05, 0.05]);
    const steep = best(p, linearCost(1, 20));
    expect(steep.choice.nodes).toBe(0);
    expect(steep.tree.size).toBe(1);
    expect(steep.choice.score).toBeCloseTo(1, 12);
    // Free rows but 5 ms of drafting per level against a 2 ms AR step with 30% acceptance:
    // chain-1 makes 1.3 tokens in 7 ms (186/s) against AR's 500/s.
    const heavyHeads: StepCost = { forward: [table([1, 64], [2, 2])], headMs: [5, 10, 15, 20], overheadMs: 0 };
    const r = rankTrees([[0.3], [0.3], [0.3], [0.3]], heavyHeads);
    expect(r.ranked[0].choice.nodes).toBe(0);
    expect(r.curve.slice(1).every((c) => c.score < 1)).toBe(true);
    // At 0.1 ms a level the same heads pay: chain-1 makes 1.3 tokens in 2.1 ms (619/s).
    const cheapHeads: StepCost = { ...heavyHeads, headMs: [0.1, 0.2, 0.3, 0.4] };
    expect(rankTrees([[0.3], [0.3], [0.3], [0.3]], cheapHeads).ranked[0].choice.nodes).toBeGreaterThan(0);
  });

  it('needs a tree to pay at every measured context length', () => {
    // At 16 tokens of context a second row is nearly free (1.5 / 11 ms > 1 / 10 ms); at 256 it
    // doubles the step (1.5 / 20 ms < 1 / 10 ms): the worst context decides, so AR.
    const p = [[0.5]];
    const short: StepCost = { forward: [table([1, 2], [10, 11], 16)], headMs: [0], overheadMs: 0 };
    expect(best(p, short).choice.nodes).toBe(1);
    const both: StepCost = { ...short, forward: [table([1, 2], [10, 11], 16), table([1, 2], [10, 20], 256)] };
    const r = rankTrees(p, both);
    expect(r.ranked[0].choice.nodes).toBe(0);
    const chain1 = r.curve[1];
    expect(chain1.speedup[0]).toBeCloseTo(1.5 / 11 / 0.1, 12);
    expect(chain1.speedup[1]).toBeCloseTo(1.5 / 20 / 0.1, 12);
    expect(chain1.score).toBeCloseTo(0.75, 12);
  });

  it('matches a hand-worked example', () => {
    // Trees by budget (greedy on path products; ties to the shallower node):
    // n=1 {[0]} τ=1.6; n=2 +[1] τ=1.9; n=3 +[0,0] τ=2.2; n=4 +[1,0] τ=2.35.
    // Step ms = forward(n+1) = 11, 12, 13, 20  ->  tokens/s 145.5, 158.3, 169.2, 117.5: n = 3; AR 100.
    const p = [
      [0.6, 0.3],
      [0.5, 0.2],
    ];
    const cost: StepCost = { forward: [table([1, 2, 3, 4, 5, 6, 7], [10, 11, 12, 13, 20, 30, 40])], headMs: [0, 0], overheadMs: 0 };
    const r = rankTrees(p, cost, { maxNodes: 6, name: 't' });
    const top = r.ranked[0];
    expect(top.choice.nodes).toBe(3);
    expect(top.tree.toJSON().paths).toEqual([[0], [1], [0, 0]]);
    expect(top.choice.expectedAcceptLength).toBeCloseTo(2.2, 12);
    expect(top.choice.tokensPerSecond[0]).toBeCloseTo(2200 / 13, 9);
    expect(top.choice.score).toBeCloseTo(2.2 / 13 / 0.1, 9);
    expect(r.curve.map((c) => c.tokensPerSecond[0])).toEqual(
      [1 / 10, 1.6 / 11, 1.9 / 12, 2.2 / 13, 2.35 / 20, 2.47 / 30, 2.53 / 40].map((x) => expect.closeTo(x * 1000, 9)),
    );
    // The chosen tree is a valid tree file: it round-trips and its E[τ] is the tree package's.
    const again = CandidateTree.fromJSON(JSON.parse(JSON.stringify(top.tree.toJSON())));
    expect(again.toJSON()).toEqual(top.tree.toJSON());
    expect(expectedAcceptLength(again, p)).toBeCloseTo(2.2, 12);
  });

  it('adds head time by depth and per-step overhead to a tree step, but not to AR', () => {
    const p = [[0.9], [0.9], [0.9]];
    // Heads at 10 ms a level against a 1 ms forward: no tree pays (chain-1: 1.9 / 11 ms < 1 / 1 ms).
    const cost: StepCost = { forward: [table([1, 8], [1, 1])], headMs: [10, 20, 30], overheadMs: 0 };
    expect(best(p, cost).choice.nodes).toBe(0);
    // With a 100 ms forward the extra depth pays: chain-3 3.439/130 > chain-2 2.71/120 > chain-1 1.9/110 > AR 1/100.
    const slow: StepCost = { ...cost, forward: [table([1, 8], [100, 100])] };
    expect(best(p, slow).choice.nodes).toBe(3);
    // The overhead counts against trees only: 300 ms of it makes AR (1/100) beat chain-3 (3.439/430).
    expect(best(p, { ...slow, overheadMs: 300 }).choice.nodes).toBe(0);
  });

  it('stays within the heads depth', () => {
    const p = [[0.9], [0.9], [0.9]];
    const r = rankTrees(p, { forward: [table([1, 8], [10, 10])], headMs: [0], overheadMs: 0 }, { maxDepth: 2 });
    expect(Math.max(...r.ranked.map((e) => e.tree.depth))).toBe(2);
  });

  it('ranks only AR when no guess is ever right (untrained heads)', () => {
    const r = rankTrees([[0, 0], [0, 0]], linearCost(1, 0));
    expect(r.ranked.map((e) => e.choice.nodes)).toEqual([0]);
  });

  it('interpolates the forward cost table', () => {
    const f = table([1, 4, 8], [2, 5, 13]);
    expect(forwardMsAt(f, 1)).toBe(2);
    expect(forwardMsAt(f, 2)).toBeCloseTo(3, 12);
    expect(forwardMsAt(f, 6)).toBeCloseTo(9, 12);
    expect(forwardMsAt(f, 10)).toBeCloseTo(17, 12); // slope of the last segment, 2 ms/row
  });

  it('makes a noisy cost table non-decreasing from the larger trees down, the AR row included', () => {
    expect(monotoneCost(table([1, 2, 4, 8, 16], [30, 45, 60, 50, 80])).ms).toEqual([30, 45, 50, 50, 80]);
    expect(monotoneCost(table([1, 2, 4], [30, 20, 25])).ms).toEqual([20, 20, 25]);
  });

  it('turns counts into a table whose rows sum to at most 1', () => {
    const p = acceptanceFromCounts([[6, 3, 0], [1, 1, 1]], [[10, 10, 0], [2, 2, 2]]);
    expect(p[0]).toEqual([0.6, 0.3, 0]);
    expect(p[1].reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(p[1][0]).toBeCloseTo(1 / 3, 12);
  });

  it('rejects malformed cost tables with typed errors', () => {
    const ok = [[0.5]];
    const cost = (rows: number[], ms: number[]): StepCost => ({ forward: [table(rows, ms)], headMs: [], overheadMs: 0 });
    expect(() => rankTrees(ok, cost([], []))).toThrow(OptionError);
    expect(() => rankTrees(ok, { forward: [], headMs: [], overheadMs: 0 })).toThrow(/no forward tables/);
    expect(() => rankTrees(ok, cost([1, 3, 2], [1, 1, 1]))).toThrow(/increasing/);
    expect(() => rankTrees(ok, cost([2, 4], [1, 1]))).toThrow(/rows\[0\] = 2; expected 1/);
    expect(() => rankTrees(ok, cost([1], [0]))).toThrow(/ms\[0\] = 0/);
    expect(() => rankTrees(ok, linearCost(1, 1), { maxNodes: 0 })).toThrow(/maxNodes 0/);
    expect(() => rankTrees([[1.5]], linearCost(1, 1))).toThrow(TreeError);
  });
});
