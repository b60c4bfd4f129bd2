// Lossless decoding with an EAGLE-3 head: random weights over a reduced draft vocabulary (its ids
// mapped to base ids through d2t), its features captured from three base layers by the session.
// Static and dynamic trees must give the AR tokens, token for token.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { getDevice } from '@hydra-ts/tensor';
import { LlamaModel } from '@hydra-ts/model';
import { createHead, type DraftHead } from '@hydra-ts/heads';
import { chain, DynamicTree, getTree } from '@hydra-ts/tree';
import { SpeculativeDecoder } from './decoder';

const modelDir = fileURLToPath(new URL('../../../models/stories260K', import.meta.url));
const device = await getDevice();
const model = await LlamaModel.load(modelDir, { device });
const decoder = new SpeculativeDecoder(model);
const N = 32;

describe('greedy speculative decoding with an EAGLE-3 head is lossless', () => {
  for (const draftVocabSize of [512, 200]) {
    it(`random EAGLE-3 head (draft vocabulary ${draftVocabSize}) × static and dynamic trees × prompts give the AR tokens`, async () => {
      const head = await createHead(model, { kind: 'eagle3', numHeads: 4, draftVocabSize, seed: 5 });
      expect((head as DraftHead).featureLayers).toEqual([1, 2, 4]);
      try {
        for (const prompt of ['Once upon a time', 'Tom had a red ball. One day']) {
          const truth = (await decoder.generate({ prompt, maxNewTokens: N })).tokenIds;
          for (const tree of [chain(4), getTree('cpu-16'), new DynamicTree({ maxNodes: 16, topK: 4 })]) {
            const r = await decoder.generate({ prompt, maxNewTokens: N, head, tree });
            expect(r.tokenIds, `eagle3 on ${tree.name}: "${prompt}"`).toEqual(truth);
          }
        }
      } finally {
        head.dispose();
      }
    });
  }
});
