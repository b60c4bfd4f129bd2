// Greedy speculative decoding stays lossless on a base model with int8 or 4-bit weights: its tree
// passes give each row the logits a one-row step would (the norms of quantized models run inside
// the products).
import { describe, expect, it } from 'vitest';
import { getDevice } from '@hydra-ts/tensor';
import { LlamaModel, randomCheckpoint, type LlamaConfig } from '@hydra-ts/model';
import { chain, getTree } from '@hydra-ts/tree';
import { SpeculativeDecoder } from './decoder';
import { OracleHead } from './testing';

const device = await getDevice();
const it8 = device.hasPacked4x8 ? it : it.skip;

const config: LlamaConfig = {
  architecture: 'llama',
  dim: 64,
  hiddenDim: 128,
  nLayers: 2,
  nHeads: 4,
  nKvHeads: 4,
  headDim: 16,
  vocabSize: 64,
  maxSeqLen: 160,
  ropeTheta: 10000,
  ropeLayout: 'interleaved',
  normEps: 1e-5,
  tiedEmbeddings: true,
  qkvBias: false,
  bosId: 1,
  eosId: 2,
};

describe('speculative decoding on quantized weights', () => {
  it8.each(['q8', 'q4'] as const)('gives the AR tokens of the %s model for every tree, with partly right proposals', async (dtype) => {
    const { weights } = randomCheckpoint(config, 11, 0.08);
    const model = LlamaModel.fromWeights(device, config, weights, undefined, { dtype });
    const decoder = new SpeculativeDecoder(model);
    const prompt = [1, 17, 33, 5, 60];
    const N = 96;
    const ar = await decoder.generate({ prompt, maxNewTokens: N });
    expect(ar.tokenIds.length).toBeGreaterThan(20);
    for (const tree of [chain(3), getTree('cpu-16'), getTree('medusa-63')]) {
      const head = new OracleHead([...prompt, ...ar.tokenIds], tree.depth, config.vocabSize, { hitRate: 0.7, seed: 7 });
      const r = await decoder.generate({ prompt, maxNewTokens: N, head, tree });
      expect(r.tokenIds, tree.name).toEqual(ar.tokenIds);
      expect(r.meanAcceptedLength).toBeGreaterThan(1.3);
    }
    model.dispose();
  });
});
