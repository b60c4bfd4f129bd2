import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { buildTreeFromAcceptance, buildTreeWithShape, expectedAcceptLength, PRIOR_ACCEPTANCE } from './acceptance';
import { CandidateTree } from './candidate-tree';
import { seededRandom } from '@hydra-ts/tensor';
import { TreeError } from './errors';
import { chain, trees } from './builtin';

/** Random [depth][rank] tables whose rows sum to at most 1. */
const tables = (depths: number, ranks: number) =>
  fc
    .array(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: ranks + 1, maxLength: ranks + 1 }), {
      minLength: depths,
      maxLength: depths,
    })
    .map((rows) =>
      rows.map((w) => {
        const s = w.reduce((a, b) => a + b, 0) || 1;
        return w.slice(0, ranks).map((x) => x / s); // the last weight is "no rank is right"
      }),
    );

/** One simulated verify step: the true token at each position is rank r with acceptProb[d][r]. */
function simulate(tree: CandidateTree, acceptProb: number[][], rand: () => number): number {
  let node = 0;
  let length = 1;
  for (;;) {
    const row = acceptProb[tree.nodes[node].depth];
    if (!row) return length;
    let u = rand();
    let rank = -1;
    for (let r = 0; r < row.length; r++) {
      if (u < row[r]) {
        rank = r;
        break;
      }
      u -= row[r];
    }
    const next = tree.nodes[node].children.find((c) => tree.ranks[c] === rank);
    if (next === undefined) return length;
    node = next;
    length++;
  }
}

describe('expectedAcceptLength', () => {
  it('matches the closed form on a chain: 1 + a + ab', () => {
    expect(expectedAcceptLength(chain(2), [[0.7], [0.4]])).toBeCloseTo(1 + 0.7 + 0.7 * 0.4, 12);
  });

  it('equals a Monte-Carlo estimate (200k simulated steps)', () => {
    const rand = seededRandom(1234);
    const randomTable = Array.from({ length: 4 }, () => {
      const w = Array.from({ length: 11 }, () => rand());
      const s = w.reduce((a, b) => a + b, 0);
      return w.slice(0, 10).map((x) => x / s);
    });
    for (const [tree, table] of [
      [trees['medusa-63'], PRIOR_ACCEPTANCE],
      [trees['cpu-8'], randomTable],
      [CandidateTree.fromPaths([[0], [2], [2, 1], [2, 1, 0], [2, 1, 3]]), randomTable],
    ] as const) {
      const n = 200_000;
      let sum = 0;
      let sq = 0;
      for (let k = 0; k < n; k++) {
        const l = simulate(tree, table as number[][], rand);
        sum += l;
        sq += l * l;
      }
      const mean = sum / n;
      const se = Math.sqrt((sq / n - mean * mean) / n);
      // 5 standard errors: a false alarm about once in 3.5 million runs.
      expect(Math.abs(expectedAcceptLength(tree, table) - mean)).toBeLessThan(5 * se);
    }
  });

  it('rejects tables that do not cover the tree or are not probabilities', () => {
    expect(() => expectedAcceptLength(chain(3), [[0.5], [0.5]])).toThrowError(/rank-0 node at depth 3, but acceptProb has only 2 depths/);
    expect(() => expectedAcceptLength(trees['cpu-8'], [[0.5], [0.5], [0.5]])).toThrowError(/acceptProb\[0\] has only 1 ranks/);
    expect(() => expectedAcceptLength(chain(1), [[0.7, 0.5]])).toThrowError(/acceptProb\[0\] sums to 1.2/);
    expect(() => expectedAcceptLength(chain(1), [[-0.1]])).toThrowError(/acceptProb\[0\]\[0\] = -0.1; expected a probability/);
    expect(() => expectedAcceptLength(chain(1), [[Number.NaN]])).toThrowError(TreeError);
    expect(() => expectedAcceptLength(chain(1), [])).toThrowError(/non-empty/);
    expect(() => expectedAcceptLength(chain(1), [[]])).toThrowError(/acceptProb\[0\] must be a non-empty/);
  });
});

/** Best expected length over all prefix-closed node sets of at most `budget` nodes. */
function bruteForceBest(acceptProb: number[][], budget: number): number {
  const universe: number[][] = [];
  const grow = (prefix: number[]) => {
    if (prefix.length === acceptProb.length) return;
    for (let r = 0; r < acceptProb[prefix.length].length; r++) {
      universe.push([...prefix, r]);
      grow([...prefix, r]);
    }
  };
  grow([]);
  const key = (p: number[]) => p.join(',');
  const indexOf = new Map(universe.map((p, i) => [key(p), i]));
  const value = universe.map((p) => p.reduce((v, r, d) => v * acceptProb[d][r], 1));
  const parentBit = universe.map((p) => (p.length > 1 ? indexOf.get(key(p.slice(0, -1)))! : -1));
  let best = 1;
  for (let mask = 1; mask < 1 << universe.length; mask++) {
    let count = 0;
    let v = 1;
    let closed = true;
    for (let i = 0; i < universe.length && closed; i++) {
      if (!(mask & (1 << i))) continue;
      if (parentBit[i] >= 0 && !(mask & (1 << parentBit[i]))) closed = false;
      count++;
      v += value[i];
    }
    if (closed && count <= budget && v > best) best = v;
  }
  return best;
}

describe('buildTreeFromAcceptance', () => {
  it('is optimal among prefix-closed sets within the budget (brute force, property)', () => {
    for (const [depths, ranks] of [
      [2, 3],
      [3, 2],
    ]) {
      fc.assert(
        fc.property(tables(depths, ranks), fc.integer({ min: 1, max: 8 }), (table, budget) => {
          const tree = buildTreeFromAcceptance(table, budget);
          expect(tree.size - 1).toBeLessThanOrEqual(budget);
          // Prefix closure, checked directly.
          const have = new Set(tree.nodes.map((n) => n.path.join(',')));
          for (const n of tree.nodes) expect(have.has(n.path.slice(0, -1).join(','))).toBe(true);
          expect(expectedAcceptLength(tree, table)).toBeCloseTo(bruteForceBest(table, budget), 12);
        }),
        { numRuns: 60 },
      );
    }
  });

  it('fills the budget exactly when every guess has a chance', () => {
    for (const budget of [1, 3, 17, 257]) {
      const tree = buildTreeFromAcceptance(PRIOR_ACCEPTANCE, budget);
      expect(tree.size).toBe(budget + 1);
    }
  });

  it('stops early rather than adding guesses that can never be accepted', () => {
    const tree = buildTreeFromAcceptance([[0.5, 0, 0.2], [0.3]], 10);
    expect(tree.toJSON().paths).toEqual([[0], [2], [0, 0], [2, 0]]);
    expect(() => buildTreeFromAcceptance([[0, 0]], 4)).toThrowError(/probability 0/);
  });

  it('rejects bad budgets', () => {
    for (const b of [0, -1, 1.5, 1024, Number.NaN]) {
      expect(() => buildTreeFromAcceptance(PRIOR_ACCEPTANCE, b)).toThrowError(/nodeBudget = .*expected an integer in \[1, 1023\]/);
    }
  });
});

describe('buildTreeWithShape', () => {
  it('takes exactly the requested nodes per depth, best children first', () => {
    const tree = buildTreeWithShape([[0.5, 0.3, 0.1], [0.6, 0.2]], [2, 3]);
    // depth 2 options: [0,0]=.3 [0,1]=.1 [1,0]=.18 [1,1]=.06
    expect(tree.toJSON().paths).toEqual([[0], [1], [0, 0], [0, 1], [1, 0]]);
    expect(() => buildTreeWithShape([[0.5, 0.3]], [3])).toThrowError(/perDepth\[0\] = 3; expected an integer in \[1, 2\]/);
    expect(() => buildTreeWithShape([[0.5]], [1, 1])).toThrowError(/perDepth has 2 depths but acceptProb only 1/);
  });
});
