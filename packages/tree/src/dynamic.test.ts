import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DynamicTree, growTree, parseDynamicTree, type ExpandLevel } from './dynamic';
import { TreeError } from './errors';

const ln = Math.log;

/**
 * A draft whose children and probabilities are written out by hand: children[path] lists
 * (token, probability) best first for the node reached by that token path.
 */
function scripted(children: Record<string, Array<[number, number]>>): { expand: ExpandLevel; asked: string[][] } {
  let level: string[] = [''];
  let lastCandidates: string[] = [];
  const asked: string[][] = [];
  const expand: ExpandLevel = async (picks, k) => {
    const rows = picks === null ? [''] : Array.from(picks, (p) => lastCandidates[p]);
    asked.push(rows);
    level = rows;
    const ids = new Int32Array(rows.length * k);
    const logProbs = new Float32Array(rows.length * k).fill(-Infinity);
    lastCandidates = [];
    rows.forEach((path, j) => {
      const list = children[path] ?? [];
      for (let r = 0; r < k; r++) {
        const [tok, p] = list[r] ?? [900 + r, 0];
        ids[j * k + r] = tok;
        logProbs[j * k + r] = ln(p);
        lastCandidates.push(path === '' ? `${tok}` : `${path}.${tok}`);
      }
    });
    void level;
    return { ids, logProbs };
  };
  return { expand, asked };
}

describe('growTree', () => {
  // root → a (0.6), b (0.3); a → c (0.9), d (0.05); b → e (0.5), f (0.4)
  // scores: a .6, b .3, ac .54, ad .03, be .15, bf .12; level-3 expands the 2 best of level 2 (ac, be)
  // ac → g (0.5): .27;  be → h (0.9): .135
  const children: Record<string, Array<[number, number]>> = {
    '': [[1, 0.6], [2, 0.3]],
    '1': [[3, 0.9], [4, 0.05]],
    '2': [[5, 0.5], [6, 0.4]],
    '1.3': [[7, 0.5], [8, 0.1]],
    '2.5': [[9, 0.9], [10, 0.05]],
  };

  it('expands the top-k frontier by path probability and keeps the best N nodes', async () => {
    const { expand, asked } = scripted(children);
    const grown = await growTree(100, new DynamicTree({ topK: 2, maxNodes: 5 }), 3, expand);
    // level 2 expands both depth-1 nodes; level 3 the two best of depth 2: 1.3 (.54) and 2.5 (.15)
    expect(asked).toEqual([[''], ['1', '2'], ['1.3', '2.5']]);
    // best five: a .6, ac .54, b .3, acg .27, be .15
    expect(grown.tree.toJSON().paths).toEqual([[0], [1], [0, 0], [1, 0], [0, 0, 0]]);
    expect(Array.from(grown.tokens)).toEqual([100, 1, 2, 3, 5, 7]);
    expect(grown.drafted).toBe(10);
    expect(grown.expectedTokens).toBeCloseTo(1 + 0.6 + 0.3 + 0.54 + 0.15 + 0.27, 5);
  });

  it('with a step cost, verifies the prefix of the ranking that maximises expected tokens per ms', async () => {
    const { expand } = scripted(children);
    // rows cost 1 ms each on top of 2 ms: gains .6 (→ 1.6/4 = .4), .54 (2.14/5 = .428), .3 (2.44/6 = .407): two nodes
    const grown = await growTree(100, new DynamicTree({ topK: 2, maxNodes: 5, stepMs: (rows) => 2 + rows }), 3, expand);
    expect(grown.tree.toJSON().paths).toEqual([[0], [0, 0]]);
    expect(Array.from(grown.tokens)).toEqual([100, 1, 3]);
    // a flat cost takes every node up to maxNodes; a steep one none (plain AR)
    expect((await growTree(100, new DynamicTree({ topK: 2, maxNodes: 5, stepMs: () => 1 }), 3, scripted(children).expand)).tree.size).toBe(6);
    expect((await growTree(100, new DynamicTree({ topK: 2, maxNodes: 5, stepMs: (r) => r ** 3 }), 3, scripted(children).expand)).tree.size).toBe(1);
  });

  it('never keeps a node without its parent, whatever the probabilities (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 64, maxLength: 64 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 12 }), async (ps, k, maxNodes) => {
        let call = 0;
        const expand: ExpandLevel = async (picks, kk) => {
          const rows = picks ? picks.length : 1;
          const logProbs = Float32Array.from({ length: rows * kk }, (_, i) => Math.log(ps[(call * 7 + i) % ps.length]));
          // a row's list best first, as a top-k gives it
          for (let j = 0; j < rows; j++) logProbs.subarray(j * kk, j * kk + kk).sort().reverse();
          call++;
          return { ids: Int32Array.from({ length: rows * kk }, (_, i) => i % kk), logProbs };
        };
        const grown = await growTree(0, new DynamicTree({ topK: k, maxNodes }), 4, expand);
        expect(grown.tree.size - 1).toBeLessThanOrEqual(maxNodes);
        // fromPaths already refuses a path without its prefix; scores never rise along a path
        for (let i = 1; i < grown.tree.size; i++) expect(grown.scores[i]).toBeLessThanOrEqual(grown.scores[grown.tree.parents[i]]);
      }),
      { numRuns: 200 },
    );
  });

  it('checks what the head returns', async () => {
    const bad: ExpandLevel = async () => ({ ids: new Int32Array(3), logProbs: new Float32Array(3) });
    await expect(growTree(0, new DynamicTree({ topK: 2 }), 2, bad)).rejects.toThrow(/level 1 drafted 3 tokens.*expected 1 rows × top-2 = 2/);
  });
});

describe('DynamicTree options', () => {
  it('parses dynamic and dynamic-<N>', () => {
    expect(parseDynamicTree('dynamic')?.name).toBe('dynamic');
    expect(parseDynamicTree('dynamic-24')?.maxNodes).toBe(24);
    expect(parseDynamicTree('cpu-16')).toBeNull();
    expect(() => parseDynamicTree('dynamic-0')).toThrow(TreeError);
    expect(() => parseDynamicTree('dynamic-5000')).toThrow(/dynamic-<N> with N in \[1, 1023\]/);
  });
  it('parses -k<K> and -d<D>: children per expanded node and levels drafted', () => {
    const t = parseDynamicTree('dynamic-16-k4-d9')!;
    expect([t.maxNodes, t.topK, t.depth, t.name]).toEqual([16, 4, 9, 'dynamic-16-k4-d9']);
    expect(t.depthFor(12)).toBe(9); // past the default cap of 6
    expect(t.depthFor(7)).toBe(7); // never past the head's depth
    const m = parseDynamicTree('dynamic-d8')!;
    expect([m.measured, m.depth, m.topK]).toEqual([true, 8, 6]); // top-k by default ⌈√32⌉
    expect([4, 16, 32, 64, 400].map((n) => new DynamicTree({ maxNodes: n }).topK)).toEqual([2, 4, 6, 8, 8]);
    expect(parseDynamicTree('dynamic-16-d8-k4')).toBeNull(); // k before d
    expect(() => parseDynamicTree('dynamic-16-d0')).toThrow(/depth 0; expected -d<D> with D in \[1, 1023\]/);
  });
  it('refuses impossible settings with a TreeError naming them', () => {
    expect(() => new DynamicTree({ topK: 0 })).toThrow(/topK = 0/);
    expect(() => new DynamicTree({ maxNodes: 1.5 })).toThrow(/maxNodes = 1.5/);
    expect(() => new DynamicTree({ depth: -1 })).toThrow(/depth = -1/);
    expect(new DynamicTree({ depth: 9 }).depthFor(4)).toBe(4);
    expect(new DynamicTree().depthFor(12)).toBe(6);
  });
});
