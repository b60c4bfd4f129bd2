import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CandidateTree, MAX_RANK, MAX_TREE_NODES } from './candidate-tree';
import { TreeError } from './errors';

/** Random prefix-closed path lists: each step hangs a child of some rank under an existing node. */
const pathLists = fc
  .array(fc.tuple(fc.nat(), fc.nat({ max: 5 })), { minLength: 1, maxLength: 60 })
  .map((steps) => {
    const paths: number[][] = [];
    const seen = new Set<string>();
    for (const [p, r] of steps) {
      const k = p % (paths.length + 1);
      const path = [...(k === 0 ? [] : paths[k - 1]), r];
      if (!seen.has(path.join(','))) {
        seen.add(path.join(','));
        paths.push(path);
      }
    }
    return paths;
  });

const isPrefix = (a: readonly number[], b: readonly number[]) => a.length <= b.length && a.every((x, k) => b[k] === x);

describe('CandidateTree.fromPaths', () => {
  it('lays out a small tree as worked out by hand', () => {
    const t = CandidateTree.fromPaths([[1, 0], [0, 1], [1], [0, 0], [0]], { name: 'five' });
    // Sorted: 0 root, 1 [0], 2 [1], 3 [0,0], 4 [0,1], 5 [1,0].
    expect(t.nodes.map((n) => n.path)).toEqual([[], [0], [1], [0, 0], [0, 1], [1, 0]]);
    expect([...t.parents]).toEqual([-1, 0, 0, 1, 1, 2]);
    expect([...t.ranks]).toEqual([-1, 0, 1, 0, 1, 0]);
    expect([...t.positionOffsets]).toEqual([0, 1, 1, 2, 2, 2]);
    expect(t.nodes.map((n) => n.children)).toEqual([[1, 2], [3, 4], [5], [], [], []]);
    // prettier-ignore
    expect([...t.attentionMask]).toEqual([
      1, 0, 0, 0, 0, 0,
      1, 1, 0, 0, 0, 0,
      1, 0, 1, 0, 0, 0,
      1, 1, 0, 1, 0, 0,
      1, 1, 0, 0, 1, 0,
      1, 0, 1, 0, 0, 1,
    ]);
    expect(t.size).toBe(6);
    expect(t.depth).toBe(2);
    expect(t.leaves).toEqual([3, 4, 5]);
    expect(t.retrievePaths).toEqual([[0, 1, 3], [0, 1, 4], [0, 2, 5]]);
    expect(t.nodesAtDepth(0)).toEqual([0]);
    expect(t.nodesAtDepth(1)).toEqual([1, 2]);
    expect(t.nodesAtDepth(2)).toEqual([3, 4, 5]);
    expect(t.maxRankAtDepth(1)).toBe(2);
    expect(t.maxRankAtDepth(2)).toBe(2);
    expect(t.describe()).toContain("tree 'five': 6 rows (root + 5 candidates), depth 2");
  });

  it('mask, positions, order and paths agree with an independent prefix computation (property)', () => {
    fc.assert(
      fc.property(pathLists, (paths) => {
        const t = CandidateTree.fromPaths(paths);
        const p = t.nodes.map((n) => n.path);
        expect(t.size).toBe(paths.length + 1);
        // Same set of paths as given.
        expect(new Set(p.slice(1).map((x) => x.join(',')))).toEqual(new Set(paths.map((x) => x.join(','))));
        for (let i = 0; i < t.size; i++) {
          expect(t.positionOffsets[i]).toBe(p[i].length);
          expect(t.nodes[i].depth).toBe(p[i].length);
          for (let j = 0; j < t.size; j++) {
            // j is an ancestor of i (or i) iff j's path is a prefix of i's.
            expect(t.attentionMask[i * t.size + j]).toBe(isPrefix(p[j], p[i]) ? 1 : 0);
          }
          expect(t.attentionMask[i * t.size]).toBe(1);
          if (i > 0) {
            expect(p[t.parents[i]]).toEqual(p[i].slice(0, -1));
            expect(t.ranks[i]).toBe(p[i][p[i].length - 1]);
            // (depth, parent, rank) strictly increasing.
            const a = [t.nodes[i - 1].depth, t.parents[i - 1], t.ranks[i - 1]];
            const b = [t.nodes[i].depth, t.parents[i], t.ranks[i]];
            expect(a[0] < b[0] || (a[0] === b[0] && (a[1] < b[1] || (a[1] === b[1] && a[2] < b[2])))).toBe(true);
          }
        }
        let covered = 0;
        for (let d = 0; d <= t.depth; d++) {
          const at = t.nodesAtDepth(d);
          covered += at.length;
          for (let k = 1; k < at.length; k++) expect(at[k]).toBe(at[k - 1] + 1);
          for (const i of at) expect(p[i].length).toBe(d);
          if (d > 0) {
            const ranksHere = paths.filter((x) => x.length === d).map((x) => x[d - 1]);
            expect(t.maxRankAtDepth(d)).toBe(Math.max(...ranksHere) + 1);
          }
        }
        expect(covered).toBe(t.size);
        const leaves = p.map((_, i) => i).filter((i) => !p.some((q) => q.length === p[i].length + 1 && isPrefix(p[i], q)));
        expect(t.leaves).toEqual(leaves);
        expect(t.retrievePaths.length).toBe(leaves.length);
        const onPaths = new Set<number>();
        t.retrievePaths.forEach((rp, k) => {
          if (k > 0) expect(rp.length).toBeLessThanOrEqual(t.retrievePaths[k - 1].length);
          expect(rp[0]).toBe(0);
          for (let s = 1; s < rp.length; s++) expect(t.parents[rp[s]]).toBe(rp[s - 1]);
          expect(leaves).toContain(rp[rp.length - 1]);
          rp.forEach((i) => onPaths.add(i));
        });
        expect(onPaths.size).toBe(t.size);
        // Input order does not matter.
        const again = CandidateTree.fromPaths([...paths].reverse());
        expect(again.attentionMask).toEqual(t.attentionMask);
      }),
      { numRuns: 200 },
    );
  });

  it('handles odd sizes: chains of 1, 3, 17 and 257 candidates', () => {
    for (const n of [1, 3, 17, 257]) {
      const t = CandidateTree.fromPaths(Array.from({ length: n }, (_, d) => new Array(d + 1).fill(0)));
      expect(t.size).toBe(n + 1);
      expect(t.depth).toBe(n);
      for (let i = 0; i <= n; i++) for (let j = 0; j <= n; j++) expect(t.attentionMask[i * t.size + j]).toBe(j <= i ? 1 : 0);
      expect(t.retrievePaths).toEqual([Array.from({ length: n + 1 }, (_, i) => i)]);
    }
  });

  it('round-trips through JSON (string and object)', () => {
    fc.assert(
      fc.property(pathLists, (paths) => {
        const t = CandidateTree.fromPaths(paths, { name: 'rt' });
        const back = CandidateTree.fromJSON(JSON.stringify(t));
        expect(back.name).toBe('rt');
        expect(back.toJSON()).toEqual(t.toJSON());
        expect(back.attentionMask).toEqual(t.attentionMask);
        expect(CandidateTree.fromJSON(t.toJSON()).parents).toEqual(t.parents);
      }),
      { numRuns: 50 },
    );
  });
});

describe('CandidateTree validation', () => {
  const bad: [string, unknown, RegExp][] = [
    ['no paths', [], /non-empty array/],
    ['empty path', [[0], []], /path \[\] must be a non-empty array/],
    ['negative rank', [[0], [-1]], /path \[-1\] has rank -1/],
    ['fractional rank', [[0], [0, 0.5]], /path \[0,0.5\] has rank 0.5/],
    ['rank as string', [[0], ['1']], /path \["1"\] has rank "1"/],
    ['huge rank', [[MAX_RANK]], new RegExp(`rank ${MAX_RANK}`)],
    ['duplicate', [[0], [1], [0]], /path \[0\] appears more than once/],
    ['missing prefix', [[0], [1, 0]], /path \[1,0\] needs its prefix \[1\]/],
    ['missing inner prefix', [[0], [0, 0, 1]], /path \[0,0,1\] needs its prefix \[0,0\]/],
    ['not an array', 'nope', /non-empty array/],
    ['path not an array', [[0], 3], /path 3 must be a non-empty array/],
  ];
  for (const [what, paths, msg] of bad) {
    it(`rejects ${what}`, () => {
      expect(() => CandidateTree.fromPaths(paths as number[][], { name: 'bad' })).toThrowError(TreeError);
      expect(() => CandidateTree.fromPaths(paths as number[][], { name: 'bad' })).toThrowError(msg);
    });
  }

  it('rejects trees over the node limit, naming the count', () => {
    const wide = Array.from({ length: MAX_TREE_NODES }, (_, r) => [r % MAX_RANK, ...(r >= MAX_RANK ? [0] : [])]);
    expect(() => CandidateTree.fromPaths(wide)).toThrowError(/1024 paths make 1025 nodes/);
    const fits = Array.from({ length: MAX_TREE_NODES - 1 }, (_, r) => [r]);
    expect(CandidateTree.fromPaths(fits).size).toBe(MAX_TREE_NODES);
  });

  it('rejects bad tree files', () => {
    expect(() => CandidateTree.fromJSON('{"paths": [[0],')).toThrowError(/not valid JSON/);
    expect(() => CandidateTree.fromJSON('[[0]]')).toThrowError(/must be an object/);
    expect(() => CandidateTree.fromJSON({ name: 'x' })).toThrowError(/tree file 'x' needs a "paths" array/);
    expect(() => CandidateTree.fromJSON({ name: 3, paths: [[0]] })).toThrowError(/"name" must be a string/);
    expect(() => CandidateTree.fromJSON({ name: 'f', paths: [[0, 0]] })).toThrowError(/tree 'f': path \[0,0\] needs its prefix \[0\]/);
    expect(() => CandidateTree.fromJSON(null)).toThrowError(TreeError);
  });

  it('rejects out-of-range depth queries', () => {
    const t = CandidateTree.fromPaths([[0], [0, 0]], { name: 'q' });
    expect(() => t.nodesAtDepth(3)).toThrowError(/tree 'q': depth 3 out of range; expected an integer in \[0, 2\]/);
    expect(() => t.maxRankAtDepth(0)).toThrowError(/expected an integer in \[1, 2\]/);
    expect(() => t.nodesAtDepth(1.5)).toThrowError(TreeError);
  });
});

describe('tree files from hostile input', () => {
  it('every error names the file: parse errors, a BOM, deep nesting, bad paths', () => {
    const file = 'trees/t.json';
    expect(() => CandidateTree.fromJSON('', { file })).toThrowError(/^tree file trees\/t\.json is not valid JSON \(.*\); expected an object like/);
    expect(() => CandidateTree.fromJSON('{"paths": [[0]]} x', { file })).toThrowError(/tree file trees\/t\.json is not valid JSON/);
    expect(CandidateTree.fromJSON('\ufeff{"paths": [[0]]}', { file }).name).toBe('t'); // the file's base name, for want of a "name"
    const deep = `{"paths": [${'['.repeat(200_000)}${']'.repeat(200_000)}]}`;
    expect(() => CandidateTree.fromJSON(deep, { file })).toThrowError(/^tree file trees\/t\.json: path \[\[\[…\(nested too deeply\) has rank \[\[\[…\(nested too deeply\); ranks must be integers/);
    expect(() => CandidateTree.fromJSON({ name: 'w', paths: [[0], [2, 0]] }, { file })).toThrowError("tree file trees/t.json: path [2,0] needs its prefix [2], which is not in the list");
    expect(() => CandidateTree.fromJSON('[1]', { file })).toThrowError(/tree file trees\/t\.json must be an object/);
  });

  it('checkFits refuses ranks beyond the vocabulary and trees beyond the context', () => {
    const wide = CandidateTree.fromPaths([[0], [1], [40]], { name: 'wide' });
    expect(() => wide.checkFits({ vocabSize: 32, contextLength: 512 })).toThrowError(new TreeError("tree 'wide': path [40] asks for rank 40, but the vocabulary has 32 tokens; expected ranks below 32"));
    expect(() => wide.checkFits({ vocabSize: 41, contextLength: 512 })).not.toThrow();
    const tall = CandidateTree.fromPaths(Array.from({ length: 20 }, (_, i) => [i]), { name: 'tall' });
    expect(() => tall.checkFits({ vocabSize: 512, contextLength: 21 }, 'tree file x.json')).toThrowError('tree file x.json: 21 rows (root included) and 1 prompt token exceed the model\'s context of 21; expected a tree of at most 20 rows');
    expect(() => tall.checkFits({ vocabSize: 512, contextLength: 22 })).not.toThrow();
  });
});
