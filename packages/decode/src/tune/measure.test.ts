import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getDevice } from '@hydra-ts/tensor';
import { LlamaModel } from '@hydra-ts/model';
import { fileURLToPath } from 'node:url';
import { SpeculativeDecoder } from '../decoder';
import { OracleHead } from '../testing';
import type { DraftHead, Proposal, ProposeRequest } from '@hydra-ts/heads';
import { getTree } from '@hydra-ts/tree';
import { measureAcceptance, measureForwardCost, measureHeadCost, repsWithin, typical } from './measure';

const prompt = 'The frog and the turtle decided to race across the pond.';
let model: LlamaModel;
let sequence: number[];

beforeAll(async () => {
  model = await LlamaModel.load(fileURLToPath(new URL('../../../../models/stories260K', import.meta.url)), { device: await getDevice() });
  const ar = await new SpeculativeDecoder(model).generate({ prompt, maxNewTokens: 40 });
  sequence = [...model.tokenizer!.encode(prompt, { bos: true }), ...ar.tokenIds];
});
afterAll(() => model?.dispose());

/** The oracle with its rank-0 and rank-1 guesses swapped at one depth. */
class SwappedOracle implements DraftHead {
  readonly name = 'swapped';
  readonly sequential = false;
  constructor(
    private readonly inner: OracleHead,
    readonly depth: number,
    private readonly swapDepth: number,
  ) {}
  observe(): void {}
  async propose(req: ProposeRequest): Promise<Proposal> {
    const p = await this.inner.propose(req);
    const t = req.tree;
    for (const i of t.nodesAtDepth(this.swapDepth)) {
      const sibling = t.nodes[t.nodes[i].parent].children.find((c) => t.nodes[c].rank === 1);
      if (t.nodes[i].rank === 0 && sibling !== undefined) [p.tokens[i], p.tokens[sibling]] = [p.tokens[sibling], p.tokens[i]];
    }
    return p;
  }
  rollback(): void {}
  reset(): void {}
  dispose(): void {}
}

describe('calibration on stories260K', () => {
  const tree = getTree('medusa-63');

  it('scores an oracle head as always right at rank 0 and never below', async () => {
    const oracle = new OracleHead(sequence, tree.depth, model.config.vocabSize);
    const c = await measureAcceptance(model, oracle, [prompt], tree, 40);
    for (let d = 0; d < tree.depth; d++) {
      expect(c.seen[d][0]).toBeGreaterThan(0);
      expect(c.accepted[d][0]).toBe(c.seen[d][0]);
      expect(c.accepted[d].slice(1).every((n) => n === 0)).toBe(true);
    }
    // Every step accepts the full depth, so depth 1 is seen once per step that had a continuation.
    expect(c.steps).toBeLessThanOrEqual(Math.ceil(40 / (tree.depth + 1)) + 1);
  });

  it('puts the acceptance at the rank and depth where the right token was', async () => {
    const head = new SwappedOracle(new OracleHead(sequence, tree.depth, model.config.vocabSize), tree.depth, 2);
    const c = await measureAcceptance(model, head, [prompt], tree, 40);
    expect(c.accepted[0][0]).toBe(c.seen[0][0]);
    expect(c.accepted[1][0]).toBe(0);
    expect(c.accepted[1][1]).toBe(c.seen[1][1]);
    expect(c.seen[1][1]).toBeGreaterThan(0);
  });

  it('times the forward pass for each requested row count at each context length', async () => {
    const before = model.device.stats.dispatches;
    const tables = await measureForwardCost(model, [1, 3, 17], { contexts: [5, 40], minReps: 1, maxReps: 1 });
    expect(tables.map((t) => t.context)).toEqual([5, 40]);
    for (const t of tables) {
      expect(t.rows).toEqual([1, 3, 17]);
      expect(t.ms.every((ms) => ms > 0 && Number.isFinite(ms))).toBe(true);
    }
    expect(model.device.stats.dispatches).toBeGreaterThan(before);
  });

  it('times the heads for each depth they fill', async () => {
    const oracle = new OracleHead(sequence, 3, model.config.vocabSize);
    const ms = await measureHeadCost(model, oracle, { minReps: 1, maxReps: 1 });
    expect(ms).toHaveLength(3);
    expect(ms.every((t) => t >= 0 && Number.isFinite(t))).toBe(true);
  });

  it('stops scoring prompts once its time budget is spent, after the first', async () => {
    const oracle = new OracleHead(sequence, tree.depth, model.config.vocabSize);
    const c = await measureAcceptance(model, oracle, [prompt, prompt, prompt], tree, 8, { budgetMs: 0 });
    expect(c.prompts).toBe(1);
  });
});

describe('measurement helpers', () => {
  it('takes the lower quartile of timings', () => {
    expect(typical([5, 1, 4, 2, 3])).toBe(2);
    expect(typical([7])).toBe(7);
  });

  it('fits repetitions to a budget within bounds', () => {
    expect(repsWithin(100, 10)).toBe(10);
    expect(repsWithin(100, 1000)).toBe(3);
    expect(repsWithin(1e6, 1)).toBe(15);
    expect(repsWithin(100, 0)).toBe(15);
  });
});
