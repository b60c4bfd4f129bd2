// Mutated tree files through CandidateTree.fromJSON: each ends in a TreeError naming the file or
// in a valid tree, within an allocation bound. Counts per outcome are printed.
import { FuzzTally, fuzzRng, mutateJsonText } from '@hydra-ts/tensor/fuzz';
import { describe, expect, it } from 'vitest';
import { trees } from './builtin';
import { CandidateTree } from './candidate-tree';

describe('fuzz: mutated tree files', () => {
  it('200 mutations of the built-in trees as files', async () => {
    const t = new FuzzTally('tree JSON');
    const sources = Object.values(trees).map((tree) => JSON.stringify(tree.toJSON()));
    for (let i = 0; i < 200; i++) {
      const r = fuzzRng(31000 + i);
      const file = `trees/case-${i}.json`;
      const text = mutateJsonText(sources[i % sources.length], r);
      await t.run(`case ${i}`, { inputBytes: text.length * 2, file }, () => {
        const tree = CandidateTree.fromJSON(text, { file });
        // A tree that parses is a tree: every node's parent precedes it, the mask is its ancestry.
        tree.nodes.slice(1).forEach((n) => expect(n.parent).toBeLessThan(n.index));
        tree.checkFits({ vocabSize: 32000, contextLength: 2048 }, file);
      });
    }
    console.log(t.summary());
    expect(t.counts.typed).toBeGreaterThan(80);
    expect(t.counts.ok).toBeGreaterThan(10);
  });
});
