// Lossless decoding with Medusa, Hydra and Hydra++ heads that score a reduced draft vocabulary
// (heads.d2t): their proposals are base ids of that vocabulary, and static and dynamic trees must
// give the AR tokens, token for token.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { getDevice } from '@hydra-ts/tensor';
import { LlamaModel } from '@hydra-ts/model';
import { createHead } from '@hydra-ts/heads';
import { chain, DynamicTree, getTree } from '@hydra-ts/tree';
import { SpeculativeDecoder } from './decoder';

const modelDir = fileURLToPath(new URL('../../../models/stories260K', import.meta.url));
const device = await getDevice();
const model = await LlamaModel.load(modelDir, { device });
const decoder = new SpeculativeDecoder(model);
const N = 32;
// 200 of the 512 ids, spread over the vocabulary (increasing)
const draftVocabulary = Array.from({ length: 200 }, (_, j) => 2 * j + (j % 3 === 0 ? 1 : 0));

describe('greedy speculative decoding with heads over a draft vocabulary is lossless', () => {
  for (const [kind, sharedOutput] of [['medusa', false], ['medusa', true], ['hydra', false], ['hydra++', true]] as const) {
    it(`${kind}${sharedOutput ? ' (shared output)' : ''} over 200 of 512 ids × static and dynamic trees × prompts give the AR tokens`, async () => {
      const head = await createHead(model, { kind, numHeads: 4, sharedOutput, draftVocabulary, seed: 2 });
      try {
        for (const prompt of ['Once upon a time', 'Tom had a red ball. One day']) {
          const truth = (await decoder.generate({ prompt, maxNewTokens: N })).tokenIds;
          for (const tree of [chain(4), getTree('cpu-16'), new DynamicTree({ maxNodes: 16, topK: 4 })]) {
            const r = await decoder.generate({ prompt, maxNewTokens: N, head, tree });
            expect(r.tokenIds, `${kind} on ${tree.name}: "${prompt}"`).toEqual(truth);
          }
        }
      } finally {
        head.dispose();
      }
    });
  }
});
