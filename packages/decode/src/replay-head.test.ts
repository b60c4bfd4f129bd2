import { afterAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { getDevice, OptionError } from '@hydra-ts/tensor';
import { LlamaModel } from '@hydra-ts/model';
import { loadHead } from '@hydra-ts/heads';
import { chain, CandidateTree } from '@hydra-ts/tree';
import { SpeculativeDecoder } from './decoder';
import { ReplayHead } from './replay-head';
import { RandomHead } from './testing';

const modelDir = fileURLToPath(new URL('../../../models/stories260K', import.meta.url));
const device = await getDevice();
const model = await LlamaModel.load(modelDir, { device });
const decoder = new SpeculativeDecoder(model);
const vocab = model.config.vocabSize;
const prompts = ['Once upon a time', 'The dog ran to the park and', 'Sam had a red ball.'];
const N = 60;
afterAll(() => model.dispose());

/** A replay head over `inner` knowing the AR continuation of every prompt; returns it with the AR outputs. */
async function replayFor(inner: ConstructorParameters<typeof ReplayHead>[0], acceptance: number[][], seed = 1) {
  const head = new ReplayHead(inner, device, vocab, { acceptance, seed });
  const ar: number[][] = [];
  for (const p of prompts) {
    const r = await decoder.generate({ prompt: p, maxNewTokens: N });
    head.setContinuation(model.tokenizer!.encode(p, { bos: true }), r.tokenIds);
    ar.push(r.tokenIds);
  }
  return { head, ar };
}

describe('ReplayHead', () => {
  it('decodes exactly as AR with every acceptance rate, on host and device proposals', async () => {
    const trained = await loadHead(model, `${modelDir}/heads/hydra-pp.safetensors`);
    const tree = CandidateTree.fromPaths([[0], [1], [0, 0], [0, 1], [1, 0], [0, 0, 0], [0, 0, 0, 0]]);
    for (const acceptance of [[[0.6, 0.1], [0.6, 0.1], [0.7], [0.75]], [[1], [1], [1], [1]], [[0], [0], [0], [0]]]) {
      const { head, ar } = await replayFor(trained, acceptance);
      for (let i = 0; i < prompts.length; i++) {
        for (const deviceProposals of [true, false]) {
          const r = await decoder.generate({ prompt: prompts[i], maxNewTokens: N, head, tree, deviceProposals });
          expect(r.tokenIds).toEqual(ar[i]);
        }
      }
    }
    trained.dispose();
  });

  it('accepts what the table says: all of a chain at rate 1, nothing at rate 0', async () => {
    const always = await replayFor(new RandomHead(4, vocab), [[1], [1], [1], [1]]);
    const r = await decoder.generate({ prompt: prompts[0], maxNewTokens: N, head: always.head, tree: chain(4) });
    // 60 tokens at 5 a step: 12 steps (the last one's root is emitted without a forward pass).
    expect(r.acceptedPerStep.slice(0, -1).every((a) => a === 5)).toBe(true);
    const never = await replayFor(new RandomHead(4, vocab), [[0], [0], [0], [0]]);
    const n = await decoder.generate({ prompt: prompts[0], maxNewTokens: N, head: never.head, tree: chain(4) });
    expect(n.meanAcceptedLength).toBe(1);
  });

  it('accepts rank r at its rate: depth-1 acceptance of a two-rank tree near 0.5 + 0.3', async () => {
    const { head } = await replayFor(new RandomHead(1, vocab), [[0.5, 0.3]], 7);
    const tree = CandidateTree.fromPaths([[0], [1]]);
    let steps = 0;
    let accepted = 0;
    for (const p of prompts) {
      const r = await decoder.generate({ prompt: p, maxNewTokens: N, head, tree });
      steps += r.steps;
      accepted += r.acceptanceByDepth[0] * r.steps;
    }
    // ~100 steps: a binomial with p = 0.8 stays within ±0.15 of it with probability > 0.999.
    expect(steps).toBeGreaterThan(60);
    expect(Math.abs(accepted / steps - 0.8)).toBeLessThan(0.15);
  });

  it('draws no right guesses for a prompt whose continuation it was not given', async () => {
    const { head } = await replayFor(new RandomHead(4, vocab), [[1], [1], [1], [1]]);
    const prompt = 'A prompt it never saw';
    const ar = await decoder.generate({ prompt, maxNewTokens: 30 });
    const r = await decoder.generate({ prompt, maxNewTokens: 30, head, tree: chain(4) });
    expect(r.tokenIds).toEqual(ar.tokenIds);
    // Its stand-in tokens (root + 1 + rank) are right only by coincidence; at rate 1 a known
    // continuation would accept all four levels at every step.
    expect(r.meanAcceptedLength).toBeLessThan(1.5);
  });

  it('rejects an acceptance table too shallow for the head or not a probability', () => {
    expect(() => new ReplayHead(new RandomHead(4, vocab), device, vocab, { acceptance: [[0.5]] })).toThrow(/1 depths/);
    expect(() => new ReplayHead(new RandomHead(1, vocab), device, vocab, { acceptance: [[0.7, 0.6]] })).toThrow(OptionError);
  });
});
