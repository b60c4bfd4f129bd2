import { buildTreeFromAcceptance, buildTreeWithShape, PRIOR_ACCEPTANCE } from './acceptance';
import { CandidateTree, MAX_TREE_NODES } from './candidate-tree';
import { TreeError } from './errors';

/** A single path of n top-1 guesses: plain (Medusa-1 style) speculative decoding of n tokens. */
export function chain(n: number): CandidateTree {
  if (!Number.isInteger(n) || n < 1 || n > MAX_TREE_NODES - 1) {
    throw new TreeError(`chain length ${n}; expected an integer in [1, ${MAX_TREE_NODES - 1}]`);
  }
  return CandidateTree.fromPaths(
    Array.from({ length: n }, (_, d) => new Array<number>(d + 1).fill(0)),
    { name: `chain-${n}` },
  );
}

/** The root alone: one verified row per step, i.e. plain autoregressive decoding. */
export function rootOnly(): CandidateTree {
  return CandidateTree.fromPaths([], { name: 'root', rootOnly: true });
}

/**
 * Built-in trees.
 * - 'medusa-63': 63 candidates with the per-depth shape of Medusa's mc_sim_7b_63 (10/28/23/2
 *   nodes at depths 1..4), filled greedily by PRIOR_ACCEPTANCE path products, so low ranks get
 *   the most children. Meant for GPUs, where 64 rows cost about as much as one.
 * - 'cpu-8', 'cpu-16', 'cpu-24': the best 8/16/24 candidates under PRIOR_ACCEPTANCE, for devices
 *   where each verified row has a real cost.
 */
export const trees: Readonly<Record<string, CandidateTree>> = Object.freeze({
  'medusa-63': buildTreeWithShape(PRIOR_ACCEPTANCE, [10, 28, 23, 2], { name: 'medusa-63' }),
  'cpu-8': buildTreeFromAcceptance(PRIOR_ACCEPTANCE, 8, { name: 'cpu-8' }),
  'cpu-16': buildTreeFromAcceptance(PRIOR_ACCEPTANCE, 16, { name: 'cpu-16' }),
  'cpu-24': buildTreeFromAcceptance(PRIOR_ACCEPTANCE, 24, { name: 'cpu-24' }),
});

/** A built-in tree by name, or 'chain-<n>'. */
export function getTree(name: string): CandidateTree {
  const m = /^chain-(\d+)$/.exec(name);
  if (m) return chain(Number(m[1]));
  const tree = Object.prototype.hasOwnProperty.call(trees, name) ? trees[name] : undefined;
  if (!tree) {
    throw new TreeError(`unknown tree '${name}'; expected one of ${Object.keys(trees).join(', ')} or chain-<n>`);
  }
  return tree;
}
