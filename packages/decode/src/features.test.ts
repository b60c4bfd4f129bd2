// Heads that declare featureLayers (EAGLE-3) get the base model's features of every committed row
// from the session's prefill and verify passes: checked against one plain forward over the tokens.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { getDevice, slice, type Tensor } from '@hydra-ts/tensor';
import { assertClose } from '@hydra-ts/tensor/testing';
import { LlamaModel } from '@hydra-ts/model';
import { createHead, type DraftHead, type ProposeRequest } from '@hydra-ts/heads';
import { getTree, chain } from '@hydra-ts/tree';
import { DecodeSession } from './session';

const modelDir = fileURLToPath(new URL('../../../models/stories260K', import.meta.url));
const device = await getDevice();
const model = await LlamaModel.load(modelDir, { device });
const dim = model.config.dim;

/** A Medusa head that also records what observe is handed, under declared feature layers. */
class FeatureProbe implements DraftHead {
  readonly name = 'probe';
  readonly rows = new Map<number, Tensor>(); // position -> [1, 3·dim]
  constructor(
    readonly inner: DraftHead & { dispose(): void },
    readonly featureLayers: readonly number[],
  ) {}
  get depth() {
    return this.inner.depth;
  }
  observe(hidden: Tensor, start: number, features?: Tensor): void {
    expect(features, 'features handed to observe').toBeDefined();
    expect(features!.shape).toEqual([hidden.shape[0], this.featureLayers.length * dim]);
    for (let i = 0; i < hidden.shape[0]; i++) {
      this.rows.get(start + i)?.dispose();
      this.rows.set(start + i, slice(features!, 0, i, i + 1));
    }
    this.inner.observe(hidden, start);
  }
  propose(req: ProposeRequest) {
    return this.inner.propose(req);
  }
  reset() {
    this.inner.reset();
  }
}

describe('feature layers reach the head', () => {
  for (const tree of [chain(3), getTree('cpu-16')]) {
    it(`every committed row's features equal a plain forward's capture (${tree.name})`, async () => {
      const inner = await createHead(model, { kind: 'medusa', numHeads: 4, seed: 1 });
      const head = new FeatureProbe(inner, [1, 2, 4]);
      const session = new DecodeSession(model, { head, tree });
      const r = await session.run({ prompt: 'Once upon a time', maxNewTokens: 24 });
      expect(r.steps).toBeGreaterThan(0);
      const tokens = session.tokens;
      const cache = model.createCache();
      const ref = model.forward(cache, { tokens, logits: 'none', capture: [1, 2, 4] });
      const want = (await ref.features!.read()) as Float32Array; // [tokens, 3·dim]
      for (let p = 0; p < tokens.length; p++) {
        const got = head.rows.get(p);
        expect(got, `position ${p} observed`).toBeDefined();
        assertClose((await got!.read()) as Float32Array, want.subarray(p * 3 * dim, (p + 1) * 3 * dim), { what: `features of position ${p}`, atol: 1e-4, rtol: 1e-4 });
      }
      for (const t of [...head.rows.values(), ref.hidden, ref.features!]) t.dispose();
      ref.logits?.dispose();
      cache.dispose();
      session.dispose();
      inner.dispose();
    });
  }
});
