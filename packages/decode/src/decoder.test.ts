import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { getDevice, IndexError, OptionError, type Tensor } from '@hydra-ts/tensor';
import { LlamaModel } from '@hydra-ts/model';
import type { DraftHead } from '@hydra-ts/heads';
import { generate as generateAR } from './generate';
import { chain, getTree, rootOnly } from '@hydra-ts/tree';
import { greedyVerifier } from '@hydra-ts/verify';
import { SpeculativeDecoder } from './decoder';
import { OracleHead, RandomHead } from './testing';
import { memoryTreeStore } from './tune/tree-store';
import type { TunedTree, TuneOptions } from './tune/tune-tree';

const modelDir = fileURLToPath(new URL('../../../models/stories260K', import.meta.url));
const device = await getDevice();
const model = await LlamaModel.load(modelDir, { device });
const decoder = new SpeculativeDecoder(model);
const prompts = ['Once upon a time', 'Lily and Ben went to the park. They', 'The cat'];
const N = 48;

async function arTokens(prompt: string): Promise<number[]> {
  const r = await decoder.generate({ prompt, maxNewTokens: N });
  return r.tokenIds;
}

describe('SpeculativeDecoder', () => {
  it('without a head is plain greedy decoding: same tokens as generate()', async () => {
    for (const prompt of prompts) {
      const ours = await decoder.generate({ prompt, maxNewTokens: N });
      const reference = await generateAR(model, { prompt, maxNewTokens: N, temperature: 0 }).result();
      expect(ours.tokenIds).toEqual(reference.tokenIds);
      expect(ours.meanAcceptedLength).toBe(1);
    }
  });

  it("reproduces llama2.c's greedy output from BOS through the decoder", async () => {
    const expected = readFileSync(fileURLToPath(new URL('../../../models/stories260K/expected-greedy-200-steps.txt', import.meta.url)), 'utf8');
    // run.c's 200 steps are 200 forward passes from BOS, each printing the token it predicts.
    const ar = await decoder.generate({ prompt: [1], maxNewTokens: 200 });
    // llama2.c prints the pieces after BOS with the leading space of the first one stripped.
    const text = model.tokenizer!.decode([1, ...ar.tokenIds]);
    expect(text).toBe(expected);
  });

  it('an oracle head reaches τ = tree depth + 1 and stays exactly lossless (long accepted paths)', async () => {
    for (const prompt of prompts) {
      const truth = await arTokens(prompt);
      const promptIds = model.tokenizer!.encode(prompt, { bos: true });
      for (const tree of [chain(4), getTree('cpu-16'), getTree('medusa-63')]) {
        const head = new OracleHead([...promptIds, ...truth], tree.depth, model.config.vocabSize);
        const r = await decoder.generate({ prompt, maxNewTokens: N, head, tree });
        expect(r.tokenIds).toEqual(truth);
        // Every full step accepts depth+1 tokens; only the last step may be cut short.
        const full = r.acceptedPerStep.slice(0, -1);
        for (const a of full) expect(a).toBe(tree.depth + 1);
        expect(r.steps).toBeLessThanOrEqual(Math.ceil(N / (tree.depth + 1)) + 1);
      }
    }
  });

  it('a head proposing random tokens changes nothing but τ', async () => {
    for (const prompt of prompts) {
      const truth = await arTokens(prompt);
      for (const tree of [chain(3), getTree('cpu-8'), getTree('medusa-63')]) {
        const head = new RandomHead(tree.depth, model.config.vocabSize, 7);
        const r = await decoder.generate({ prompt, maxNewTokens: N, head, tree, verifier: greedyVerifier() });
        expect(r.tokenIds).toEqual(truth);
      }
    }
  });

  it('stops at max tokens exactly, at EOS/BOS, and honours AbortSignal', async () => {
    const truth = await arTokens('Once upon a time');
    for (const n of [0, 1, 2, 5]) {
      const r = await decoder.generate({ prompt: 'Once upon a time', maxNewTokens: n });
      expect(r.tokenIds).toEqual(truth.slice(0, n));
    }
    const ac = new AbortController();
    ac.abort();
    const r = await decoder.generate({ prompt: 'Once upon a time', maxNewTokens: 20, signal: ac.signal });
    expect(r.stopReason).toBe('aborted');
    expect(r.tokenIds.length).toBe(0);
  });

  it('rejects bad options with typed errors', async () => {
    const tree = chain(5);
    const head = new RandomHead(3, model.config.vocabSize);
    await expect(decoder.generate({ prompt: 'x', maxNewTokens: 4, head, tree })).rejects.toThrow(OptionError);
    await expect(decoder.generate({ prompt: 'x', maxNewTokens: -1 })).rejects.toThrow(/maxNewTokens/);
    await expect(decoder.generate({ prompt: 'x', maxNewTokens: 4, sampling: { temperature: -1 } })).rejects.toThrow(/temperature/);
    await expect(decoder.generate({ prompt: [9999], maxNewTokens: 4 })).rejects.toThrow(/out of range/);
    await expect(decoder.generate({ prompt: 0 as unknown as string, maxNewTokens: 4 })).rejects.toThrow(/prompt is number; expected a string or an array of token ids/);
  });

  it('a head whose draft distributions are malformed gets a typed error naming them', async () => {
    const tree = chain(3);
    // A head of only the required members, proposing the root repeated with the given draftProbs.
    const withProbs = (make: (n: number) => unknown): DraftHead => ({
      name: 'bad-probs',
      depth: 3,
      observe: () => {},
      reset: () => {},
      propose: async ({ tree, root }) => ({ tokens: new Int32Array(tree.size).fill(root), draftProbs: make(tree.size) as Float32Array }),
    });
    const V = model.config.vocabSize;
    await expect(decoder.generate({ prompt: 'x', maxNewTokens: 4, head: withProbs((n) => new Float32Array(n * V - 1)), tree })).rejects.toThrow(
      new RegExp(`head 'bad-probs' proposed draftProbs of ${4 * V - 1} values; expected a Float32Array \\[tree.size = 4, vocab = ${V}\\]`),
    );
    await expect(decoder.generate({ prompt: 'x', maxNewTokens: 4, head: withProbs((n) => new Array(n * V).fill(0)), tree })).rejects.toThrow(OptionError);
  });

  it('a head whose device proposal is malformed gets a typed error, not a wrong output', async () => {
    const tree = chain(3);
    const withDevice = (make: (n: number, root: number) => Tensor) =>
      Object.assign(new RandomHead(3, model.config.vocabSize), { proposeOnDevice: (req: { tree: { size: number }; root: number }) => make(req.tree.size, req.root) });
    const wrongShape = withDevice((n) => device.tensor(new Int32Array(n + 1), [n + 1], 'i32'));
    await expect(decoder.generate({ prompt: 'x', maxNewTokens: 4, head: wrongShape, tree })).rejects.toThrow(/expected an i32 tensor \[4\]/);
    const badId = withDevice((n, root) => device.tensor(Int32Array.from({ length: n }, (_, i) => (i === 0 ? root : 99999)), [n], 'i32'));
    await expect(decoder.generate({ prompt: 'x', maxNewTokens: 4, head: badId, tree })).rejects.toThrow(IndexError);
    const wrongRoot = withDevice((n, root) => device.tensor(Int32Array.from({ length: n }, () => (root + 1) % 512), [n], 'i32'));
    await expect(decoder.generate({ prompt: 'x', maxNewTokens: 4, head: wrongRoot, tree })).rejects.toThrow(/at the root/);
  });
});

describe('SpeculativeDecoder with a head and no tree', () => {
  /** A tuner that records its calls and returns `tree` (null: AR is fastest). */
  const tunerOf = (tree: ReturnType<typeof chain> | null, calls: number[]) => async (_m: LlamaModel, _h: unknown, _o: TuneOptions): Promise<TunedTree> => {
    calls.push(1);
    const t = tree ?? rootOnly();
    const expected = { nodes: t.size - 1, depth: t.depth, expectedAcceptLength: 2, stepMs: [1], tokensPerSecond: [1], speedup: [1.5], score: 1.5 };
    return { tree: t, ar: tree === null, expected, checked: [], cost: { forward: [], headMs: [], overheadMs: 0 }, acceptProb: [], curve: [expected], calibration: null, elapsedMs: 0 };
  };

  it('decodes with the tree defaultTreeFor tunes (then reads from the cache), and equals AR', async () => {
    const store = memoryTreeStore();
    const calls: number[] = [];
    for (const prompt of prompts) {
      const ar = await arTokens(prompt);
      const head = new OracleHead([...model.tokenizer!.encode(prompt, { bos: true }), ...ar], 3, model.config.vocabSize);
      const r = await decoder.generate({ prompt, maxNewTokens: N, head, defaultTree: { store, tuner: tunerOf(chain(3), calls) } });
      expect(r.tokenIds).toEqual(ar);
      expect(r.meanAcceptedLength).toBeGreaterThan(1); // the head ran, on the tuned chain
    }
    expect(calls).toHaveLength(1); // tuned once, then cached
  });

  it('runs as AR, without the head, where the tuner found no tree faster than AR', async () => {
    const prompt = prompts[0]!;
    const ar = await arTokens(prompt);
    const head = new OracleHead([...model.tokenizer!.encode(prompt, { bos: true }), ...ar], 3, model.config.vocabSize);
    const r = await decoder.generate({ prompt, maxNewTokens: N, head, defaultTree: { store: memoryTreeStore(), tuner: tunerOf(null, []) } });
    expect(r.tokenIds).toEqual(ar);
    expect(r.meanAcceptedLength).toBe(1);
  });
});
