import type { CandidateTree } from '@hydra-ts/tree';
import { VerifyError } from './errors';
import type { Rng } from './rng';

/** CPU data read back from the base model's tree forward pass. */
export interface VerifyInput {
  tree: CandidateTree;
  /** [tree.size] token at each node; node 0 holds the root token. */
  tokens: Int32Array;
  vocabSize: number;
  /** [tree.size] base-model argmax at each row (all the greedy verifier needs). */
  argmax?: Int32Array;
  /** [tree.size, vocab] raw base-model logits at each row. */
  logits?: Float32Array;
  /**
   * [tree.size, vocab] the draft distribution each node's token was sampled from (row 0 unused);
   * null/undefined when candidates were picked deterministically (top-k).
   */
  draftProbs?: Float32Array | null;
}

export interface VerifyResult {
  /** Accepted node indices from the root (always 0) down. */
  path: number[];
  /** The token that follows the last accepted node: the next step's root. */
  next: number;
  /** path.length: tokens this step adds (accepted candidates plus the root). */
  acceptedLength: number;
}

export interface Verifier {
  readonly kind: 'greedy' | 'typical' | 'sample';
  /** Which readback the verifier needs from the tree forward pass. */
  readonly needs: 'argmax' | 'logits';
  verify(input: VerifyInput, rng: Rng): VerifyResult;
}

/** Checks shapes and ids against the tree and vocabulary; message names the field at fault. */
export function checkInput(input: VerifyInput, verifier: Pick<Verifier, 'kind' | 'needs'>): void {
  const who = `${verifier.kind} verifier`;
  const { tree, tokens, vocabSize: V } = input;
  if (!tree || typeof tree.size !== 'number') throw new VerifyError(`${who}: input.tree must be a CandidateTree`);
  const n = tree.size;
  if (!Number.isInteger(V) || V < 1) throw new VerifyError(`${who}: vocabSize = ${V}; expected an integer >= 1`);
  const checkIds = (name: string, ids: Int32Array | undefined) => {
    if (!(ids instanceof Int32Array)) throw new VerifyError(`${who}: input.${name} must be an Int32Array [tree.size = ${n}]`);
    if (ids.length !== n) {
      throw new VerifyError(`${who}: input.${name} has ${ids.length} entries; expected tree.size = ${n} (tree '${tree.name}')`);
    }
    for (let i = 0; i < n; i++) {
      if (ids[i] < 0 || ids[i] >= V) throw new VerifyError(`${who}: input.${name}[${i}] = ${ids[i]}; expected a token id in [0, ${V})`);
    }
  };
  checkIds('tokens', tokens);
  if (verifier.needs === 'argmax') checkIds('argmax', input.argmax);
  const checkRows = (name: string, rows: Float32Array | null | undefined) => {
    if (!(rows instanceof Float32Array)) {
      throw new VerifyError(`${who}: input.${name} must be a Float32Array [tree.size = ${n}, vocab = ${V}]`);
    }
    if (rows.length !== n * V) {
      throw new VerifyError(`${who}: input.${name} has ${rows.length} values; expected tree.size * vocab = ${n} * ${V} = ${n * V}`);
    }
  };
  if (verifier.needs === 'logits') checkRows('logits', input.logits);
  if (input.draftProbs != null) checkRows('draftProbs', input.draftProbs);
}

/** Node indices from the root to `node`. */
export function pathTo(tree: CandidateTree, node: number): number[] {
  const path: number[] = [];
  for (let j = node; j !== -1; j = tree.parents[j]) path.push(j);
  return path.reverse();
}
