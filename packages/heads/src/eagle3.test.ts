import { describe, expect, it } from 'vitest';
import { parseSafetensors } from '@hydra-ts/model';
import { getDevice, randomArray, slice, type Tensor } from '@hydra-ts/tensor';
import { assertClose } from '@hydra-ts/tensor/testing';
import { CandidateTree } from '@hydra-ts/tree';
import { loadHead, saveHead } from './checkpoint';
import { headConfigFor } from './config';
import { eagle3LogitsCpu, topkCpu } from './cpu-reference';
import type { Eagle3Head } from './eagle3';
import { HeadStateError } from './errors';
import { baseConfig, fakeBase, headsFile, randomValues } from './testdata';

const device = await getDevice();

describe('EAGLE-3 head', () => {
  const config = baseConfig({ nLayers: 5 });
  const dim = config.dim;
  const n = 9;
  const F = randomArray(n * 3 * dim, 21, -1.5, 1.5); // F_0 .. F_8 [n, 3·dim]
  const context = [1, 5, 9, 30, 4, 17, 2, 11, 23];
  const rope = { theta: config.ropeTheta, layout: config.ropeLayout, eps: config.normEps };

  for (const draftVocabSize of [37, 20]) {
    const c = headConfigFor(config, { kind: 'eagle3', numHeads: 4, draftVocabSize });
    const values = randomValues(c, 5);
    const d2t = Float32Array.from({ length: draftVocabSize }, (_, i) => Math.floor((i * 37) / draftVocabSize));
    values.set('eagle3.d2t', d2t);

    it(`draft logits of committed rows and path nodes equal the CPU equations (draft vocabulary ${draftVocabSize} of 37)`, async () => {
      const base = fakeBase(device, config, 3);
      const head = (await loadHead(base, headsFile(c, values))) as Eagle3Head;
      expect(head.featureLayers).toEqual([1, 2, 4]);
      const features = device.tensor(F, [n, 3 * dim]);
      const check = async (L: number, root: number, path: number[], what: string) => {
        const t: Tensor = head.chainLogits({ context: context.slice(0, L), root }, path);
        const got = (await t.read()) as Float32Array;
        t.dispose();
        const want = eagle3LogitsCpu(c, values, base.embeddings, rope, F.subarray(0, L * 3 * dim), context.slice(0, L), root, path);
        want.forEach((row, j) => assertClose(got.subarray(j * draftVocabSize, (j + 1) * draftVocabSize), row, { what: `${what}, row ${j}`, atol: 1e-4, rtol: 1e-4 }));
      };
      const hidden = device.zeros([n, dim]);
      const part = (a: number, b: number) => [slice(hidden, 0, a, b), slice(features, 0, a, b)] as const;
      let [h, f] = part(0, 5);
      expect(() => head.observe(h, 0)).toThrow(HeadStateError);
      head.observe(h, 0, f);
      await check(5, context[5], [3, 8, 0], 'prompt of 5');
      [h, f] = part(5, 7);
      head.observe(h, 5, f);
      await check(7, 29, [1], 'after a step of 2');
      [h, f] = part(7, 9);
      head.observe(h, 7, f);
      await check(9, 4, [36, 2, 2, 7], 'after row 6 changed its token');
      head.rollback(6);
      [h, f] = part(6, 9);
      head.observe(h, 6, f);
      await check(9, 4, [36], 'after rollback(6)');
      for (const x of [features, hidden, head, base]) x.dispose();
    });

    it(`tree proposals are the CPU drafting's top-k mapped through d2t, base ids in d2t (draft vocabulary ${draftVocabSize})`, async () => {
      const base = fakeBase(device, config, 7);
      const head = (await loadHead(base, headsFile(c, values))) as Eagle3Head;
      const L = 6;
      const features = device.tensor(F.subarray(0, L * 3 * dim), [L, 3 * dim]);
      const hidden = device.zeros([L, dim]);
      head.observe(hidden, 0, features);
      const ctx = context.slice(0, L);
      const tree = CandidateTree.fromPaths([[0], [1], [2], [0, 0], [0, 1], [1, 0], [2, 0], [0, 0, 0], [0, 1, 0], [0, 0, 0, 0]], { name: 'branching' });
      const root = 13;
      const want = new Int32Array(tree.size);
      want[0] = root;
      for (let node = 1; node < tree.size; node++) {
        const path: number[] = [];
        for (let p = tree.nodes[node].parent; p > 0; p = tree.nodes[p].parent) path.unshift(want[p]);
        const z = eagle3LogitsCpu(c, values, base.embeddings, rope, F.subarray(0, L * 3 * dim), ctx, root, path)[path.length];
        want[node] = d2t[topkCpu(z, tree.nodes[node].rank + 1)[tree.nodes[node].rank]];
      }
      const { tokens } = await head.propose({ tree, root, context: ctx });
      expect([...tokens]).toEqual([...want]);
      const ids = new Set(d2t);
      for (const t of tokens.slice(1)) expect(ids.has(t)).toBe(true);
      const order = Int32Array.from({ length: tree.size }, (_, i) => i);
      const onDevice = head.proposeOnDevice!({ tree, root, context: ctx, order })!;
      expect([...((await onDevice.read()) as Int32Array)]).toEqual([...want]);
      onDevice.dispose();
      // the saved file loads as the same head
      const saved = await saveHead(head);
      const file = parseSafetensors(saved, 'saved');
      expect(file.tensors.get('eagle3.d2t')!.dtype).toBe('I32');
      expect([...file.tensors.get('eagle3.d2t')!.data]).toEqual([...d2t]);
      const again = (await loadHead(base, saved)) as Eagle3Head;
      again.observe(hidden, 0, features);
      expect([...(await again.propose({ tree, root, context: ctx })).tokens]).toEqual([...want]);
      for (const x of [features, hidden, head, again, base]) x.dispose();
    });
  }
});
