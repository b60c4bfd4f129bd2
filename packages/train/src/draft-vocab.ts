// A reduced draft vocabulary (EAGLE-3, FR-Spec): the `size` most frequent tokens of the training
// data, as base ids in increasing order (the head's d2t). Ties go to the lower id.
import { TrainOptionError } from './errors';

export function draftVocabulary(tokens: ArrayLike<number>, vocab: number, size: number): Int32Array {
  if (!Number.isInteger(size) || size < 1 || size > vocab) throw new TrainOptionError(`draftVocabSize = ${size}, expected an integer in [1, vocab = ${vocab}]`);
  const count = new Float64Array(vocab);
  for (let i = 0; i < tokens.length; i++) count[tokens[i]]++;
  const order = Array.from({ length: vocab }, (_, i) => i).sort((a, b) => count[b] - count[a] || a - b);
  return Int32Array.from(order.slice(0, size)).sort();
}

/** The fraction of `tokens` inside the draft vocabulary `ids`. */
export function draftCoverage(tokens: ArrayLike<number>, ids: ArrayLike<number>): number {
  const inside = new Set(Array.from(ids));
  let n = 0;
  for (let i = 0; i < tokens.length; i++) if (inside.has(tokens[i])) n++;
  return tokens.length > 0 ? n / tokens.length : 0;
}
