// The heads on the real bundled model (stories260K): one decoding step as the decoder runs it.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LlamaModel } from '@hydra-ts/model';
import { slice } from '@hydra-ts/tensor';
import { CandidateTree, chain } from '@hydra-ts/tree';
import { createHead, loadHead, saveHead } from './checkpoint';
import { hydraProposeCpu, medusaProposeCpu } from './cpu-reference';
import { argmaxCpu, headsFile, randomValues } from './testdata';
import { HeadMismatchError } from './errors';

const STORIES = fileURLToPath(new URL('../../../models/stories260K/stories260K.bin', import.meta.url));
const model = await LlamaModel.load(STORIES, { tokenizer: 'tok512.bin' });
const prompt = [1, 403, 407, 261, 159, 436];

/** Runs the prompt through the base model; returns its hidden rows [n, dim] and the greedy root. */
async function prefill() {
  const cache = model.createCache();
  const { hidden, logits } = model.forward(cache, { tokens: prompt, logits: 'last' });
  cache.commit();
  const root = argmaxCpu((await logits!.read()) as Float32Array);
  logits!.dispose();
  return { cache, hidden, root, last: ((await hidden.read()) as Float32Array).slice((prompt.length - 1) * model.config.dim) };
}

describe('heads on stories260K', () => {
  it('a fresh Medusa head with the shared output layer drafts the base model\'s own next token at depth 1', async () => {
    const head = await createHead(model, { kind: 'medusa', numHeads: 2, sharedOutput: true });
    const { cache, hidden, root } = await prefill();
    head.observe(hidden, 0);
    const { tokens } = await head.propose({ tree: chain(2), root, context: prompt });
    // h_t is the last prompt token's state: an untrained head repeats the base model's choice there
    expect(tokens[1]).toBe(root);
    hidden.dispose();
    cache.dispose();
    head.dispose();
  });

  for (const kind of ['medusa', 'hydra'] as const) {
    it(`${kind}: random heads match the CPU reference and survive save/load`, async () => {
      const fresh = await createHead(model, { kind, numHeads: 3, layers: 2 });
      const c = fresh.config;
      fresh.dispose();
      const values = randomValues(c, 3);
      const head = await loadHead(model, headsFile(c, values));
      const { cache, hidden, root, last } = await prefill();
      head.observe(hidden, 0);
      const tree = CandidateTree.fromPaths([[0], [1], [2], [0, 0], [0, 1], [1, 0], [0, 0, 0]]);
      const { tokens } = await head.propose({ tree, root, context: prompt });
      const output = (await model.outputWeight.read()) as Float32Array;
      const embeddings = (await model.tokenEmbedding.read()) as Float32Array;
      const expected = kind === 'medusa' ? medusaProposeCpu(c, values, output, last, tree, root) : hydraProposeCpu(c, values, embeddings, output, last, tree, root);
      expect([...tokens]).toEqual([...expected]);
      const again = await loadHead(model, await saveHead(head));
      again.observe(hidden, 0);
      expect([...(await again.propose({ tree, root, context: prompt })).tokens]).toEqual([...tokens]);
      for (const x of [again, head, hidden, cache]) x.dispose();
    });
  }

  it('hydra++ on the model\'s own layer shape: observe the prompt, then the accepted path', async () => {
    const head = await createHead(model, { kind: 'hydra++', numHeads: 2, seed: 7 });
    expect(head.config.prefix).toMatchObject({ nHeads: model.config.nHeads, nKvHeads: model.config.nKvHeads, hiddenDim: model.config.hiddenDim });
    const { cache, hidden, root } = await prefill();
    head.observe(hidden, 0);
    const tree = CandidateTree.fromPaths([[0], [1], [0, 0]]);
    const { tokens } = await head.propose({ tree, root, context: prompt });
    expect(tokens[0]).toBe(root);
    const out = model.forward(cache, { tokens, positions: Int32Array.from(tree.positionOffsets, (o) => prompt.length + o), mask: tree.attentionMask, logits: 'none' });
    cache.commit([0]);
    const rootRow = slice(out.hidden, 0, 0, 1);
    head.observe(rootRow, prompt.length);
    expect(head.state!.shape).toEqual([1, model.config.dim]);
    for (const x of [rootRow, out.hidden, hidden, cache, head]) x.dispose();
  });

  it('a head of another model is refused', async () => {
    const c = { kind: 'medusa' as const, numHeads: 1, layers: 1, dim: 288, vocabSize: 32000, sharedOutput: true, prefix: null };
    await expect(loadHead(model, headsFile(c, randomValues(c, 1)))).rejects.toThrow(HeadMismatchError);
    await expect(loadHead(model, headsFile(c, randomValues(c, 1)))).rejects.toThrow(/dim 288, the base model has dim 64/);
  });
});
