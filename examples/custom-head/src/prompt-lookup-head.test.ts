import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { LlamaModel } from '@hydra-ts/model';
import { SpeculativeDecoder } from '@hydra-ts/decode';
import { CandidateTree, getTree } from '@hydra-ts/tree';
import { PromptLookupHead } from './prompt-lookup-head';

describe('PromptLookupHead (a head written outside the library)', () => {
  it('proposes what followed the latest match of the suffix, by rank', async () => {
    const head = new PromptLookupHead({ depth: 3, maxNgram: 2 });
    const tree = CandidateTree.fromPaths([[0], [1], [0, 0], [0, 0, 0]]);
    // context ... 5 6 7 8 | 5 6 9 9 | 5 ; root 6: suffix [5,6] matched at 4 (→ 9 9 5) and 0 (→ 7 8 5)
    const p = await head.propose({ tree, root: 6, context: [5, 6, 7, 8, 5, 6, 9, 9, 5] });
    const byPath = new Map(tree.nodes.map((n, i) => [n.path.join(','), p.tokens[i]]));
    expect(p.tokens[0]).toBe(6);
    expect(byPath.get('0')).toBe(9);
    expect(byPath.get('0,0')).toBe(9);
    expect(byPath.get('0,0,0')).toBe(5);
    expect(byPath.get('1')).toBe(7);
  });

  it('plugs into the decoder unchanged: lossless, and τ > 1 on repetitive text', async () => {
    const model = await LlamaModel.load(fileURLToPath(new URL('../../../models/stories260K', import.meta.url)));
    const decoder = new SpeculativeDecoder(model);
    const prompt = 'Tom had a big red ball. Tom liked to play with the big red ball. One day Tom';
    const ar = await decoder.generate({ prompt, maxNewTokens: 64 });
    const spec = await decoder.generate({ prompt, maxNewTokens: 64, head: new PromptLookupHead(), tree: getTree('cpu-8') });
    expect(spec.tokenIds).toEqual(ar.tokenIds);
    expect(spec.meanAcceptedLength).toBeGreaterThan(1);
    expect(spec.steps).toBeLessThan(ar.steps);
    model.dispose();
  });
});
