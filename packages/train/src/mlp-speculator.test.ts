// An MLPSpeculator trained with the ordinary trainer on the bundled corpus: the objective goes
// down in a few steps, and greedy speculative decoding with it gives the AR tokens exactly.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { MLPSpeculatorHeads } from '@hydra-ts/heads';
import { SpeculativeDecoder } from '@hydra-ts/decode';
import { LlamaModel } from '@hydra-ts/model';
import { chain, getTree } from '@hydra-ts/tree';
import { decodeTokenFile, windows } from './data';
import { TeacherCache } from './teacher';
import { TrainableHeads } from './trainable-heads';
import { Tape } from './autograd';
import { HeadTrainer, trainConfig } from './trainer';
import { TrainOptionError } from './errors';

const MODELS = fileURLToPath(new URL('../../../models/stories260K/', import.meta.url));
const model = await LlamaModel.load(path.join(MODELS, 'stories260K.bin'), { tokenizer: 'tok512.bin' });
const corpus = decodeTokenFile(new Uint8Array(readFileSync(path.join(MODELS, 'heads/corpus.bin'))), 'corpus.bin');
const teacher = await TeacherCache.build(model, windows(corpus, 32).slice(0, 16));
afterAll(() => teacher.dispose());

describe('MLPSpeculator training', () => {
  it('trains with HeadTrainer (loss down), then decodes greedily exactly as AR on several trees', async () => {
    const c = trainConfig({ kind: 'mlp-speculator', numHeads: 4, batch: 4, length: 32, steps: 16, warmup: 1, lr: 1e-2, holdout: 0.25, evalEvery: 0 });
    const heads = await TrainableHeads.create(model, { kind: c.kind, numHeads: c.numHeads, seed: 1 });
    const tr = new HeadTrainer(heads, teacher, c);
    const before = await tr.evaluate();
    const losses: number[] = [];
    while (!tr.done) losses.push((await tr.trainStep()).loss);
    const after = await tr.evaluate();
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(after.loss).toBeLessThan(before.loss);
    const head = await heads.toHead();
    expect(head).toBeInstanceOf(MLPSpeculatorHeads);
    const decoder = new SpeculativeDecoder(model);
    for (const prompt of ['Once upon a time', 'Tom had a red ball. One day']) {
      const ar = (await decoder.generate({ prompt, maxNewTokens: 40 })).tokenIds;
      for (const tree of [chain(4), getTree('cpu-16'), getTree('medusa-63')]) {
        for (const deviceProposals of [true, false]) {
          const r = await decoder.generate({ prompt, maxNewTokens: 40, head, tree, deviceProposals });
          expect(r.tokenIds, `${tree.name}, deviceProposals ${deviceProposals}: "${prompt}"`).toEqual(ar);
          expect(r.meanAcceptedLength).toBeGreaterThanOrEqual(1);
        }
      }
    }
    head.dispose();
    tr.dispose();
    heads.dispose();
  });

  it('dropout falls on the stage states in training and nowhere in evaluation', async () => {
    const heads = await TrainableHeads.create(model, { kind: 'mlp-speculator', numHeads: 2, seed: 2 });
    const { batch } = teacher.batch([0, 1]);
    const run = async (dropout: number) => {
      const tape = new Tape(model.device);
      const out = await Promise.all(heads.forward(tape, batch, { dropout, seed: 3 }).map(async (v) => (await v.value.read()) as Float32Array));
      tape.dispose();
      return out;
    };
    const [plain, again, dropped] = [await run(0), await run(0), await run(0.5)];
    expect(again).toEqual(plain);
    for (let i = 0; i < 2; i++) {
      expect(dropped[i].every(Number.isFinite)).toBe(true);
      expect(dropped[i]).not.toEqual(plain[i]);
    }
    batch.hidden.dispose();
    heads.dispose();
  });

  it('rejects layers and a shared output, which its stages do not have', () => {
    expect(() => trainConfig({ kind: 'mlp-speculator', layers: 2 })).toThrow(TrainOptionError);
    expect(() => trainConfig({ kind: 'mlp-speculator', sharedOutput: true })).toThrow(/its stages have one layer each and their own heads/);
  });
});
