// Lossless decoding with every head type of @hydra-ts/heads, randomly initialised, over several
// trees and prompts: the speculative output must equal greedy AR token for token.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { flags, getDevice, OptionError, randomArray } from '@hydra-ts/tensor';
import { LlamaModel } from '@hydra-ts/model';
import { createEagleHead, createHead, type HeadKind } from '@hydra-ts/heads';
import { CandidateTree, chain, getTree } from '@hydra-ts/tree';
import { typicalVerifier } from '@hydra-ts/verify';
import { SpeculativeDecoder } from './decoder';

const modelDir = fileURLToPath(new URL('../../../models/stories260K', import.meta.url));
const device = await getDevice();
const model = await LlamaModel.load(modelDir, { device });
const decoder = new SpeculativeDecoder(model);
const prompts = ['Once upon a time', 'Tom had a red ball. One day'];
const N = 40;

/** A head of `kind` whose every parameter is overwritten with seeded random values. */
async function randomHead(kind: HeadKind, seed: number) {
  const head = await createHead(model, { kind, numHeads: 4, layers: kind === 'hydra++' ? 2 : 1, seed });
  let s = seed * 7919;
  for (const [, t] of head.parameters()) {
    if (t.dtype !== 'f32') continue;
    t.write(randomArray(t.size, ++s, -0.3, 0.3));
  }
  return head;
}

describe('greedy speculative decoding is lossless for every head type', () => {
  const truth = new Map<string, number[]>();
  for (const kind of ['medusa', 'hydra', 'hydra++'] as const) {
    it(`${kind}: random heads × trees × prompts give the AR tokens`, async () => {
      const head = await randomHead(kind, 3);
      for (const prompt of prompts) {
        if (!truth.has(prompt)) truth.set(prompt, (await decoder.generate({ prompt, maxNewTokens: N })).tokenIds);
        for (const tree of [chain(4), getTree('cpu-16'), getTree('medusa-63')]) {
          const r = await decoder.generate({ prompt, maxNewTokens: N, head, tree });
          expect(r.tokenIds, `${kind} on ${tree.name}: "${prompt}"`).toEqual(truth.get(prompt));
          expect(r.meanAcceptedLength).toBeGreaterThanOrEqual(1);
        }
      }
      head.dispose();
    });
  }

  it('typical acceptance at temperature 0 equals greedy', async () => {
    const head = await randomHead('hydra', 5);
    for (const prompt of prompts) {
      const greedy = await decoder.generate({ prompt, maxNewTokens: N, head, tree: getTree('cpu-16') });
      const typical = await decoder.generate({ prompt, maxNewTokens: N, head, tree: getTree('cpu-16'), verifier: typicalVerifier({ temperature: 0 }) });
      expect(typical.tokenIds).toEqual(greedy.tokenIds);
    }
    head.dispose();
  });
});

describe('greedy speculative decoding with an EAGLE head is lossless', () => {
  // Untrained: random fc and layer weights, so drafts are mostly rejected, yet every step must
  // rebuild the head's cache from the accepted tokens' real features.
  const branching = CandidateTree.fromPaths([[0], [1], [2], [0, 0], [0, 1], [1, 0], [0, 0, 0], [0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0, 0]], { name: 'branching' });
  const truth = new Map<string, number[]>();
  for (const deviceProposals of [true, false]) {
    it(`random EAGLE head × chain / branching / built-in trees × prompts give the AR tokens (deviceProposals ${deviceProposals})`, async () => {
      const head = await createEagleHead(model, { depth: 5, seed: 2 });
      let s = 11;
      for (const [name, t] of head.parameters()) if (!name.endsWith('norm')) t.write(randomArray(t.size, ++s, -0.3, 0.3));
      for (const prompt of [...prompts, 'The cat']) {
        if (!truth.has(prompt)) truth.set(prompt, (await decoder.generate({ prompt, maxNewTokens: N })).tokenIds);
        for (const tree of [chain(4), branching, getTree('cpu-16')]) {
          const r = await decoder.generate({ prompt, maxNewTokens: N, head, tree, deviceProposals });
          expect(r.tokenIds, `eagle on ${tree.name}: "${prompt}"`).toEqual(truth.get(prompt));
        }
      }
      head.dispose();
    });
  }
});

describe('the trained EAGLE head (models/stories260K/heads/eagle.safetensors)', () => {
  it('gives the AR tokens with real multi-token steps, the same steps on the host and on the GPU', async () => {
    const { loadHead } = await import('@hydra-ts/heads');
    const head = await loadHead(model, `${modelDir}/heads/eagle.safetensors`);
    expect(head.config.kind).toBe('eagle');
    for (const prompt of prompts) {
      const ar = (await decoder.generate({ prompt, maxNewTokens: N })).tokenIds;
      for (const tree of [getTree('cpu-16'), chain(5)]) {
        const host = await decoder.generate({ prompt, maxNewTokens: N, head, tree, deviceProposals: false });
        const dev = await decoder.generate({ prompt, maxNewTokens: N, head, tree, deviceProposals: true });
        expect(host.tokenIds, `host, ${tree.name}: "${prompt}"`).toEqual(ar);
        expect(dev.tokenIds, `device, ${tree.name}: "${prompt}"`).toEqual(ar);
        expect(dev.acceptedPerStep).toEqual(host.acceptedPerStep);
        expect(host.meanAcceptedLength).toBeGreaterThan(1.5); // trained: drafts are accepted
      }
    }
    head.dispose();
  });
});

describe('device proposals (the heads leave their tokens on the GPU)', () => {
  it('trained Hydra++ heads: the same tokens as AR and as host proposals, with one read-back per step instead of two', async () => {
    const { loadHead } = await import('@hydra-ts/heads');
    const head = await loadHead(model, `${modelDir}/heads/hydra-pp.safetensors`);
    const tree = getTree('cpu-16');
    for (const prompt of prompts) {
      const ar = (await decoder.generate({ prompt, maxNewTokens: N })).tokenIds;
      const runs = [];
      for (const deviceProposals of [true, false]) {
        const before = device.stats.readbacks;
        const r = await decoder.generate({ prompt, maxNewTokens: N, head, tree, deviceProposals });
        runs.push({ r, readbacks: device.stats.readbacks - before });
        expect(r.tokenIds, `deviceProposals ${deviceProposals}: "${prompt}"`).toEqual(ar);
      }
      const [dev, host] = runs;
      expect(dev.r.acceptedPerStep).toEqual(host.r.acceptedPerStep);
      expect(dev.r.meanAcceptedLength).toBeGreaterThan(1.5); // trained heads: real multi-token steps
      expect(dev.readbacks).toBe(dev.r.steps + 1); // the prompt's, then one per step
      expect(host.readbacks).toBe(2 * host.r.steps + 1);
    }
    head.dispose();
  });

  it('without the option flags.deviceProposals decides, and the option overrides it; a non-boolean is an OptionError', async () => {
    const { loadHead } = await import('@hydra-ts/heads');
    const head = await loadHead(model, `${modelDir}/heads/hydra-pp.safetensors`);
    const tree = getTree('cpu-16');
    const prompt = prompts[0];
    const readbacks = async (deviceProposals?: boolean) => {
      const before = device.stats.readbacks;
      const r = await decoder.generate({ prompt, maxNewTokens: N, head, tree, deviceProposals });
      return { perStep: (device.stats.readbacks - before - 1) / r.steps, tokens: r.tokenIds };
    };
    try {
      expect((await readbacks()).perStep).toBe(1);
      flags.deviceProposals = false;
      const host = await readbacks();
      expect(host.perStep).toBe(2);
      const dev = await readbacks(true);
      expect(dev.perStep).toBe(1);
      expect(dev.tokens).toEqual(host.tokens);
      await expect(decoder.generate({ prompt, maxNewTokens: 2, head, tree, deviceProposals: 'yes' as unknown as boolean })).rejects.toThrow(OptionError);
    } finally {
      flags.deviceProposals = true;
      head.dispose();
    }
  });
});
