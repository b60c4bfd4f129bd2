import { VerifyError } from './errors';
import type { Rng } from './rng';
import { checkSamplingOptions, sampleCategorical, warpLogits, type SamplingOptions } from './warp';
import { checkInput, type Verifier, type VerifyInput, type VerifyResult } from './verifier';

/**
 * How the target distribution p changes after a candidate x drawn from draft q is rejected.
 * The exact rule is normalize(max(0, p − q)); q null means a deterministic candidate (q one-hot).
 */
export type ResidualRule = (p: Float64Array, q: Float32Array | null, x: number) => void;

export const subtractDraft: ResidualRule = (p, q, x) => {
  if (q === null) {
    p[x] = 0;
  } else {
    for (let v = 0; v < p.length; v++) p[v] = Math.max(0, p[v] - q[v]);
  }
  let sum = 0;
  for (let v = 0; v < p.length; v++) sum += p[v];
  // sum = 0 only when p = q, where rejection has probability 0 (reachable by rounding alone): keep p.
  if (sum > 0) for (let v = 0; v < p.length; v++) p[v] /= sum;
};

/**
 * Recursive rejection sampling down the tree. `residual` is a parameter only so tests can
 * run deliberately wrong rules and show the losslessness test catches them.
 */
export function treeRejectionSample(
  input: VerifyInput,
  opts: SamplingOptions,
  rng: Rng,
  residual: ResidualRule = subtractDraft,
): VerifyResult {
  const { tree, tokens, vocabSize: V } = input;
  const logits = input.logits!;
  const draft = input.draftProbs ?? null;
  const path = [0];
  let node = 0;
  for (;;) {
    const p = warpLogits(logits.subarray(node * V, (node + 1) * V), opts); // [vocab] target at this position
    let accepted = -1;
    for (const child of tree.nodes[node].children) {
      const x = tokens[child];
      const q = draft ? draft.subarray(child * V, (child + 1) * V) : null;
      let ratio = p[x];
      if (q) {
        const qx = q[x];
        if (!(qx > 0)) {
          throw new VerifyError(
            `sample verifier: draftProbs[${child}, ${x}] = ${qx} but node ${child} holds token ${x}; ` +
              'a token must have positive probability under the draft row it was sampled from',
          );
        }
        ratio = p[x] >= qx ? 1 : p[x] / qx;
      }
      if (rng.next() < ratio) {
        accepted = child;
        break;
      }
      residual(p, q, x);
    }
    if (accepted < 0) {
      const next = sampleCategorical(p, rng);
      return { path, next, acceptedLength: path.length };
    }
    path.push(accepted);
    node = accepted;
  }
}

/**
 * Lossless speculative sampling over the tree (recursive rejection sampling over siblings, as
 * in SpecInfer and EAGLE): the emitted tokens are distributed exactly as sampling the base model
 * token by token with the same SamplingOptions. Works with deterministic (top-k) candidates and
 * with candidates sampled from input.draftProbs.
 */
export function samplingVerifier(opts: SamplingOptions): Verifier {
  checkSamplingOptions(opts);
  const warp = { temperature: opts.temperature, topK: opts.topK, topP: opts.topP };
  const self: Verifier = {
    kind: 'sample',
    needs: 'logits',
    verify(input: VerifyInput, rng: Rng): VerifyResult {
      checkInput(input, self);
      return treeRejectionSample(input, warp, rng);
    },
  };
  return self;
}
