import { afterAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { getDevice, OptionError } from '@hydra-ts/tensor';
import { LlamaModel } from '@hydra-ts/model';
import { loadHead } from '@hydra-ts/heads';
import { CandidateTree } from '@hydra-ts/tree';
import { SpeculativeDecoder } from '../decoder';
import { tuneTree, type TuneProgress } from './tune-tree';

const modelDir = fileURLToPath(new URL('../../../../models/stories260K', import.meta.url));
const model = await LlamaModel.load(modelDir, { device: await getDevice() });
const head = await loadHead(model, `${modelDir}/heads/hydra-pp.safetensors`);
afterAll(() => {
  head.dispose();
  model.dispose();
});
const prompts = ['The frog and the turtle decided to race across the pond.', 'Mia found a red box under her bed.'];

describe('tuneTree', () => {
  it('returns a valid tree within the heads depth, with AR among the timed candidates, that decodes exactly as AR', async () => {
    const progress: TuneProgress[] = [];
    const r = await tuneTree(model, head, { prompts, budgetMs: 1500, maxNewTokens: 24, onProgress: (p) => progress.push(p) });
    expect(progress.map((p) => p.phase)).toEqual(['forward', 'heads', 'acceptance', 'check']);
    // The cost table: one per context (16 and half of the 512-token context), AR's one row first.
    expect(r.cost.forward.map((t) => t.context)).toEqual([16, 256]);
    for (const t of r.cost.forward) {
      expect(t.rows[0]).toBe(1);
      expect(t.ms.every((ms) => ms > 0)).toBe(true);
    }
    expect(r.cost.headMs).toHaveLength(head.depth);
    expect(r.checked[0].nodes).toBe(0);
    expect(r.checked.length).toBeGreaterThanOrEqual(2);
    expect(r.checked.every((c) => c.measuredTokensPerSecond > 0)).toBe(true);
    // The choice is the fastest timed candidate, a tree only when it beat AR by the margin.
    const chosen = r.checked.find((c) => c.nodes === r.tree.size - 1)!;
    expect(chosen).toBeDefined();
    if (!r.ar) expect(chosen.measuredSpeedup).toBeGreaterThan(1.02);
    else expect(r.tree.size).toBe(1);
    // Acceptance rows are probabilities of exclusive ranks.
    for (const row of r.acceptProb) expect(row.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(1 + 1e-9);
    expect(r.acceptProb[0][0]).toBeGreaterThan(0.3); // trained heads' top-1 at depth 1 (0.64 over 8 prompts in RESULTS.md)

    if (!r.ar) {
      expect(r.tree.depth).toBeLessThanOrEqual(head.depth);
      const again = CandidateTree.fromJSON(JSON.stringify(r.tree.toJSON()));
      expect(again.toJSON()).toEqual(r.tree.toJSON());
      const dec = new SpeculativeDecoder(model);
      for (const prompt of prompts) {
        const ar = await dec.generate({ prompt, maxNewTokens: 40 });
        const spec = await dec.generate({ prompt, maxNewTokens: 40, head, tree: again });
        expect(spec.tokenIds).toEqual(ar.tokenIds);
      }
    }
  });

  it('picks AR without timing any tree when the given acceptance says no guess is ever right', async () => {
    const r = await tuneTree(model, head, { acceptance: [[0, 0], [0, 0], [0, 0], [0, 0]], budgetMs: 300, rows: [1, 2, 4], contexts: [8] });
    expect(r.ar).toBe(true);
    expect(r.tree.size).toBe(1);
    expect(r.checked.map((c) => c.nodes)).toEqual([0]);
  });

  it('rejects bad options with typed errors', async () => {
    await expect(tuneTree(model, head, { rows: [2, 4] })).rejects.toThrow(/starting at 1/);
    await expect(tuneTree(model, head, { contexts: [600] })).rejects.toThrow(OptionError);
    await expect(tuneTree(model, head, { budgetMs: 0 })).rejects.toThrow(/budgetMs 0/);
    await expect(tuneTree(model, head, { prompts: [] })).rejects.toThrow(/prompts is empty/);
  });
});
