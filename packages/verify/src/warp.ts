import { OptionError } from '@hydra-ts/tensor';
import { VerifyError } from './errors';
import type { Rng } from './rng';

/** How the base model's logits become the distribution a token is sampled from. */
export interface SamplingOptions {
  /** 0 = greedy (one-hot at the argmax); otherwise logits are divided by it. */
  temperature: number;
  /** Keep the k largest logits (ties at the k-th value are kept); undefined = all. */
  topK?: number;
  /** Keep the most probable tokens until their mass reaches topP (at least one); undefined = 1. */
  topP?: number;
}

export function checkSamplingOptions(opts: SamplingOptions): void {
  const { temperature, topK, topP } = opts;
  if (typeof temperature !== 'number' || !Number.isFinite(temperature) || temperature < 0) {
    throw new OptionError(`temperature = ${temperature}; expected a finite number >= 0 (0 = greedy)`);
  }
  if (topK !== undefined && (!Number.isInteger(topK) || topK < 1)) {
    throw new OptionError(`topK = ${topK}; expected an integer >= 1 (or leave it unset for no limit)`);
  }
  if (topP !== undefined && (typeof topP !== 'number' || !(topP > 0 && topP <= 1))) {
    throw new OptionError(`topP = ${topP}; expected a number in (0, 1]`);
  }
}

/** Index of the largest logit (the first on ties). */
export function argmaxOf(logits: ArrayLike<number>): number {
  let best = 0;
  for (let v = 1; v < logits.length; v++) if (logits[v] > logits[best]) best = v;
  return best;
}

/**
 * The sampling distribution for one row of logits: temperature, then top-k, then top-p.
 * Returns [vocab] probabilities summing to 1. Used by the sampling verifier and by plain
 * autoregressive sampling alike, so both draw from the same distribution.
 */
export function warpLogits(logits: ArrayLike<number>, opts: SamplingOptions): Float64Array {
  const V = logits.length;
  if (V === 0) throw new VerifyError('logits row is empty; expected [vocab] values');
  let max = -Infinity;
  for (let v = 0; v < V; v++) {
    const z = logits[v];
    if (Number.isNaN(z) || z === Infinity) {
      throw new VerifyError(`logits[${v}] = ${z}; expected a finite value or -Infinity`);
    }
    if (z > max) max = z;
  }
  if (max === -Infinity) throw new VerifyError('every logit in the row is -Infinity; nothing can be sampled');
  const p = new Float64Array(V);
  if (opts.temperature === 0) {
    p[argmaxOf(logits)] = 1;
    return p;
  }
  let floor = -Infinity; // logits below this are cut by top-k
  if (opts.topK !== undefined && opts.topK < V) {
    const sorted = Float64Array.from(logits).sort();
    floor = sorted[V - opts.topK];
  }
  let sum = 0;
  for (let v = 0; v < V; v++) {
    const z = logits[v];
    const e = z >= floor ? Math.exp((z - max) / opts.temperature) : 0;
    p[v] = e;
    sum += e;
  }
  for (let v = 0; v < V; v++) p[v] /= sum;
  if (opts.topP !== undefined && opts.topP < 1) {
    const sorted = Float64Array.from(p).sort(); // ascending
    let mass = 0;
    let kept = 0;
    while (kept < V && (kept === 0 || mass < opts.topP)) mass += sorted[V - 1 - kept++];
    const cut = sorted[V - kept]; // smallest kept probability
    let tiesLeft = kept;
    for (let v = 0; v < V; v++) if (p[v] > cut) tiesLeft--;
    // Keep everything above the cut and, of the tokens exactly at it, the lowest ids.
    for (let v = 0; v < V; v++) {
      if (p[v] > cut) p[v] /= mass;
      else if (p[v] === cut && tiesLeft > 0) {
        tiesLeft--;
        p[v] /= mass;
      } else p[v] = 0;
    }
  }
  return p;
}

/** Draw an index from (not necessarily normalised) non-negative weights. */
export function sampleCategorical(probs: ArrayLike<number>, rng: Rng): number {
  let total = 0;
  for (let v = 0; v < probs.length; v++) total += probs[v];
  let u = rng.next() * total;
  let last = -1;
  for (let v = 0; v < probs.length; v++) {
    if (probs[v] <= 0) continue;
    if (u < probs[v]) return v;
    u -= probs[v];
    last = v;
  }
  if (last < 0) throw new VerifyError('cannot sample: every probability is zero');
  return last; // u ran past the end by rounding
}

/** Plain autoregressive sampling of one token from one row of logits. */
export function sampleFromLogits(logits: ArrayLike<number>, opts: SamplingOptions, rng: Rng): number {
  checkSamplingOptions(opts);
  return sampleCategorical(warpLogits(logits, opts), rng);
}
