import { OptionError } from '@hydra-ts/tensor';
import type { Rng } from './rng';
import { checkSamplingOptions, sampleCategorical, warpLogits } from './warp';
import { checkInput, pathTo, type Verifier, type VerifyInput, type VerifyResult } from './verifier';

export interface TypicalOptions {
  temperature: number;
  /** Hard threshold ε on a candidate's probability. */
  epsilon?: number;
  /** Entropy-scaled threshold δ: accept when p(x) > min(ε, δ·exp(−H(p))). */
  delta?: number;
}

/**
 * Medusa's typical acceptance: a candidate x is accepted when p(x) > min(ε, δ·exp(−H(p))),
 * p being the temperature-scaled base distribution at its parent row. Picks the longest accepted
 * path (ties: larger product of p along it, then the earliest) and samples the next token from p
 * at its end. Not lossless, but accepts more when the base model is unsure; at temperature 0 it
 * equals the greedy verifier.
 */
export function typicalVerifier(opts: TypicalOptions): Verifier {
  const { temperature, epsilon = 0.09, delta = 0.3 } = opts;
  checkSamplingOptions({ temperature });
  if (typeof epsilon !== 'number' || !(epsilon >= 0 && epsilon < 1)) {
    throw new OptionError(`typical epsilon = ${epsilon}; expected a number in [0, 1)`);
  }
  if (typeof delta !== 'number' || !(delta >= 0 && delta <= 1)) {
    throw new OptionError(`typical delta = ${delta}; expected a number in [0, 1]`);
  }
  const self: Verifier = {
    kind: 'typical',
    needs: 'logits',
    verify(input: VerifyInput, rng: Rng): VerifyResult {
      checkInput(input, self);
      const { tree, tokens, vocabSize: V } = input;
      const logits = input.logits!;
      const rows: (Float64Array | undefined)[] = new Array(tree.size);
      const thresholds = new Float64Array(tree.size);
      const rowAt = (i: number): Float64Array => {
        let p = rows[i];
        if (!p) {
          p = warpLogits(logits.subarray(i * V, (i + 1) * V), { temperature });
          let h = 0;
          for (let v = 0; v < V; v++) if (p[v] > 0) h -= p[v] * Math.log(p[v]);
          thresholds[i] = Math.min(epsilon, delta * Math.exp(-h));
          rows[i] = p;
        }
        return p;
      };
      const prob = new Float64Array(tree.size); // product of p along the path; 0 = not accepted
      prob[0] = 1;
      let best = 0;
      for (let i = 1; i < tree.size; i++) {
        const parent = tree.parents[i];
        if (prob[parent] === 0) continue;
        const px = rowAt(parent)[tokens[i]];
        if (px <= thresholds[parent]) continue;
        prob[i] = prob[parent] * px;
        const d = tree.positionOffsets[i];
        const bd = tree.positionOffsets[best];
        if (d > bd || (d === bd && prob[i] > prob[best])) best = i;
      }
      const path = pathTo(tree, best);
      return { path, next: sampleCategorical(rowAt(best), rng), acceptedLength: path.length };
    },
  };
  return self;
}
