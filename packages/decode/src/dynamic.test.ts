// Dynamic trees (EAGLE-2's reranked drafting, growTree) with every head kind that gives draft
// probabilities: the greedy output must equal AR token for token, whatever tree each step grows.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { getDevice, OptionError, randomArray } from '@hydra-ts/tensor';
import { LlamaModel } from '@hydra-ts/model';
import { createEagleHead, createHead, loadHead, type DraftHead, type HeadKind } from '@hydra-ts/heads';
import { DynamicTree, getTree, parseDynamicTree } from '@hydra-ts/tree';
import { SpeculativeDecoder } from './decoder';
import { DecodeSession } from './session';

const modelDir = fileURLToPath(new URL('../../../models/stories260K', import.meta.url));
const device = await getDevice();
const model = await LlamaModel.load(modelDir, { device });
const decoder = new SpeculativeDecoder(model);
const prompts = ['Once upon a time', 'Tom had a red ball. One day'];
const N = 40;
const truth = new Map<string, number[]>();
async function ar(prompt: string): Promise<number[]> {
  if (!truth.has(prompt)) truth.set(prompt, (await decoder.generate({ prompt, maxNewTokens: N })).tokenIds);
  return truth.get(prompt)!;
}

async function randomHead(kind: HeadKind, seed: number): Promise<DraftHead & { dispose(): void }> {
  const head = await createHead(model, { kind, numHeads: 4, layers: kind === 'hydra++' ? 2 : 1, seed });
  let s = seed * 7919;
  for (const [, t] of head.parameters()) if (t.dtype === 'f32') t.write(randomArray(t.size, ++s, -0.3, 0.3));
  return head;
}

const specs = [new DynamicTree({ maxNodes: 16, topK: 4 }), new DynamicTree({ maxNodes: 5, topK: 2, depth: 3 }), parseDynamicTree('dynamic-32')!];

describe('dynamic trees are lossless', () => {
  for (const kind of ['medusa', 'hydra', 'hydra++', 'mlp-speculator'] as const) {
    it(`random ${kind} heads × dynamic trees × prompts give the AR tokens`, async () => {
      const head = await randomHead(kind, 4);
      for (const prompt of prompts) {
        for (const tree of specs) {
          const r = await decoder.generate({ prompt, maxNewTokens: N, head, tree });
          expect(r.tokenIds, `${kind} on ${tree.name}: "${prompt}"`).toEqual(await ar(prompt));
        }
      }
      head.dispose();
    });
  }

  it('a random EAGLE head gives the AR tokens', async () => {
    const head = await createEagleHead(model, { depth: 5, seed: 2 });
    let s = 11;
    for (const [name, t] of head.parameters()) if (!name.endsWith('norm')) t.write(randomArray(t.size, ++s, -0.3, 0.3));
    for (const prompt of prompts) {
      for (const tree of specs) {
        const r = await decoder.generate({ prompt, maxNewTokens: N, head, tree });
        expect(r.tokenIds, `eagle on ${tree.name}: "${prompt}"`).toEqual(await ar(prompt));
      }
    }
    head.dispose();
  });

  for (const file of ['medusa', 'hydra', 'hydra-pp', 'eagle']) {
    it(`the trained ${file} head: AR tokens, real multi-token steps, and at least the fixed tree's τ on the same node budget`, async () => {
      const head = await loadHead(model, `${modelDir}/heads/${file}.safetensors`);
      let dynamicAccepted = 0;
      let fixedAccepted = 0;
      for (const prompt of prompts) {
        const dyn = await decoder.generate({ prompt, maxNewTokens: N, head, tree: new DynamicTree({ maxNodes: 16 }) });
        expect(dyn.tokenIds, `${file}, dynamic-16: "${prompt}"`).toEqual(await ar(prompt));
        expect(dyn.meanAcceptedLength).toBeGreaterThan(1.5);
        const fixed = await decoder.generate({ prompt, maxNewTokens: N, head, tree: getTree('cpu-16') });
        dynamicAccepted += dyn.tokenIds.length / dyn.steps;
        fixedAccepted += fixed.tokenIds.length / fixed.steps;
      }
      // a sanity bound, not the benchmark: reranked trees should not draft much worse than a fixed one
      expect(dynamicAccepted).toBeGreaterThan(0.8 * fixedAccepted);
      head.dispose();
    });
  }

  it('with a step cost, the budget adapts per step (fewer rows where the draft is unsure) and stays lossless', async () => {
    const head = await loadHead(model, `${modelDir}/heads/hydra.safetensors`);
    const rowsSeen: number[] = [];
    // a cost that grows steeply with rows: the budget must stay small
    const tree = new DynamicTree({ maxNodes: 32, stepMs: (rows) => { rowsSeen.push(rows); return 1 + rows; } });
    for (const prompt of prompts) {
      const r = await decoder.generate({ prompt, maxNewTokens: N, head, tree });
      expect(r.tokenIds).toEqual(await ar(prompt));
    }
    expect(rowsSeen.length).toBeGreaterThan(0);
    head.dispose();
  });
});

describe('dynamic trees: misuse', () => {
  it('a head without draftLevels is an OptionError naming it', () => {
    const head: DraftHead = { name: 'plain', depth: 3, observe() {}, propose: async (r) => ({ tokens: new Int32Array(r.tree.size) }), reset() {} };
    expect(() => new DecodeSession(model, { head, tree: new DynamicTree() })).toThrow(OptionError);
    expect(() => new DecodeSession(model, { head, tree: new DynamicTree() })).toThrow(/plain.*draftLevels/);
  });
});

describe('dynamic trees: frontiers picked on the GPU', () => {
  it('draw and rerank the same trees as picking each frontier and reranking on the host, in one read-back a step (trained Hydra, Hydra++, EAGLE and EAGLE-3 heads)', async () => {
    for (const file of ['hydra', 'hydra-pp', 'eagle', 'eagle3']) {
      const head = await loadHead(model, `${modelDir}/heads/${file}.safetensors`);
      // the same head, offering only level-by-level expansion (the frontier then comes from growTree's host twin)
      const hostPicks: DraftHead = {
        name: head.name,
        depth: head.depth,
        featureLayers: (head as DraftHead).featureLayers, // EAGLE-3 drafts from captured base layers
        observe: (h, s, f) => head.observe(h, s, f),
        propose: (r) => head.propose(r),
        reset: () => head.reset(),
        draftLevels: (r) => {
          const d = head.draftLevels!(r);
          return { expand: d.expand, dispose: () => d.dispose() };
        },
      };
      const tree = new DynamicTree({ maxNodes: 24, topK: 6 });
      for (const prompt of prompts) {
        const before = device.stats.readbacks;
        const dev = await decoder.generate({ prompt, maxNewTokens: N, head, tree });
        const devReads = device.stats.readbacks - before;
        const host = await decoder.generate({ prompt, maxNewTokens: N, head: hostPicks, tree });
        expect(dev.tokenIds).toEqual(await ar(prompt));
        expect(host.tokenIds).toEqual(dev.tokenIds);
        expect(dev.acceptedPerStep, `${file}: "${prompt}"`).toEqual(host.acceptedPerStep);
        // the prompt's read, then one a step: the tree is reranked on the GPU and read back with the verify pass
        expect(devReads).toBe(1 + dev.steps);
        // sampled: the verifier reads the logits of the GPU-built tree's rows (node order restored)
        const sampling = { temperature: 0.8 };
        const devS = await decoder.generate({ prompt, maxNewTokens: N, head, tree, sampling, seed: 5 });
        const hostS = await decoder.generate({ prompt, maxNewTokens: N, head: hostPicks, tree, sampling, seed: 5 });
        expect(devS.tokenIds).toEqual(hostS.tokenIds);
      }
      head.dispose();
    }
  });
});
