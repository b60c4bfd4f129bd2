import { CandidateTree, MAX_TREE_NODES } from './candidate-tree';
import { TreeError } from './errors';

/**
 * acceptProb[d][r]: probability that head d's rank-r guess is the base model's token, given
 * the parent was accepted (depth d+1 in the tree). The true token is one token, so at most one
 * rank is right: each row must sum to at most 1.
 */
export type AcceptanceTable = readonly (readonly number[])[];

/**
 * Assumed acceptance rates used to shape the built-in trees before any measurement: head d's
 * top-1 accuracy falls with distance (0.60, 0.40, 0.30, 0.24, 0.20) and lower ranks decay like
 * 1/(r+1)², roughly what Medusa and Hydra report for 7B chat models. Replace with measured rates
 * (buildTreeFromAcceptance) to tune a tree for a given model and device.
 */
export const PRIOR_ACCEPTANCE: AcceptanceTable = [0.6, 0.4, 0.3, 0.24, 0.2].map((top1) =>
  Array.from({ length: 10 }, (_, r) => top1 / (r + 1) ** 2),
);

function checkAcceptance(acceptProb: AcceptanceTable): void {
  if (!Array.isArray(acceptProb) || acceptProb.length === 0) {
    throw new TreeError('acceptProb must be a non-empty [depth][rank] array of probabilities');
  }
  acceptProb.forEach((row, d) => {
    if (!Array.isArray(row) || row.length === 0) {
      throw new TreeError(`acceptProb[${d}] must be a non-empty array of per-rank probabilities`);
    }
    let sum = 0;
    row.forEach((p, r) => {
      if (typeof p !== 'number' || !Number.isFinite(p) || p < 0 || p > 1) {
        throw new TreeError(`acceptProb[${d}][${r}] = ${p}; expected a probability in [0, 1]`);
      }
      sum += p;
    });
    if (sum > 1 + 1e-9) {
      throw new TreeError(
        `acceptProb[${d}] sums to ${sum}; ranks of one head are exclusive events, so a row must sum to at most 1`,
      );
    }
  });
}

/**
 * Expected tokens per step (= acceptedLength, root included) when node guesses are right with
 * the given per-(depth, rank) probabilities: 1 + Σ over nodes of the product along its path.
 */
export function expectedAcceptLength(tree: CandidateTree, acceptProb: AcceptanceTable): number {
  checkAcceptance(acceptProb);
  const reach = new Float64Array(tree.size); // P(node and all its ancestors accepted)
  reach[0] = 1;
  let total = 1;
  for (let i = 1; i < tree.size; i++) {
    const { depth, rank, parent } = tree.nodes[i];
    const row = acceptProb[depth - 1];
    if (row === undefined || rank >= row.length) {
      throw new TreeError(
        `tree '${tree.name}' has a rank-${rank} node at depth ${depth}, but acceptProb` +
          (row === undefined ? ` has only ${acceptProb.length} depths` : `[${depth - 1}] has only ${row.length} ranks`),
      );
    }
    reach[i] = reach[parent] * row[rank];
    total += reach[i];
  }
  return total;
}

interface Candidate {
  path: number[];
  value: number;
}

// Higher expected acceptance first; then shallower, then lexicographically smaller, so builds are deterministic.
function better(a: Candidate, b: Candidate): boolean {
  if (a.value !== b.value) return a.value > b.value;
  if (a.path.length !== b.path.length) return a.path.length < b.path.length;
  for (let k = 0; k < a.path.length; k++) if (a.path[k] !== b.path[k]) return a.path[k] < b.path[k];
  return false;
}

function childrenOf(c: Candidate, acceptProb: AcceptanceTable): Candidate[] {
  const row = acceptProb[c.path.length];
  if (row === undefined) return [];
  return row.map((p, r) => ({ path: [...c.path, r], value: c.value * p }));
}

function checkBudget(nodeBudget: number): void {
  if (!Number.isInteger(nodeBudget) || nodeBudget < 1 || nodeBudget > MAX_TREE_NODES - 1) {
    throw new TreeError(`nodeBudget = ${nodeBudget}; expected an integer in [1, ${MAX_TREE_NODES - 1}] (candidates, root excluded)`);
  }
}

/**
 * The tree of at most nodeBudget candidates (root excluded) with the highest expected accepted
 * length: greedily adds the frontier node whose path product of acceptProb is largest. Since a
 * child never beats its parent, this picks the best prefix-closed set of that size. Nodes with
 * zero expected acceptance are never added.
 */
export function buildTreeFromAcceptance(
  acceptProb: AcceptanceTable,
  nodeBudget: number,
  opts: { name?: string } = {},
): CandidateTree {
  checkAcceptance(acceptProb);
  checkBudget(nodeBudget);
  const chosen: number[][] = [];
  let frontier = childrenOf({ path: [], value: 1 }, acceptProb);
  while (chosen.length < nodeBudget && frontier.length > 0) {
    let best = 0;
    for (let k = 1; k < frontier.length; k++) if (better(frontier[k], frontier[best])) best = k;
    const pick = frontier[best];
    if (pick.value <= 0) break;
    chosen.push(pick.path);
    frontier.splice(best, 1);
    frontier = frontier.concat(childrenOf(pick, acceptProb));
  }
  if (chosen.length === 0) throw new TreeError('acceptProb gives every depth-1 guess probability 0: no tree to build');
  return CandidateTree.fromPaths(chosen, { name: opts.name ?? `accept-${chosen.length}` });
}

/**
 * Like buildTreeFromAcceptance but with a fixed node count per depth: depth d+1 takes the
 * perDepth[d] best children of the nodes chosen at depth d. Used to reproduce a known tree shape.
 */
export function buildTreeWithShape(
  acceptProb: AcceptanceTable,
  perDepth: readonly number[],
  opts: { name?: string } = {},
): CandidateTree {
  checkAcceptance(acceptProb);
  if (perDepth.length > acceptProb.length) {
    throw new TreeError(`perDepth has ${perDepth.length} depths but acceptProb only ${acceptProb.length}`);
  }
  checkBudget(perDepth.reduce((a, b) => a + b, 0));
  const chosen: number[][] = [];
  let level: Candidate[] = [{ path: [], value: 1 }];
  perDepth.forEach((count, d) => {
    const options = level.flatMap((c) => childrenOf(c, acceptProb));
    if (!Number.isInteger(count) || count < 1 || count > options.length) {
      throw new TreeError(`perDepth[${d}] = ${count}; expected an integer in [1, ${options.length}] for this acceptProb`);
    }
    options.sort((a, b) => (better(a, b) ? -1 : better(b, a) ? 1 : 0));
    level = options.slice(0, count);
    for (const c of level) chosen.push(c.path);
  });
  return CandidateTree.fromPaths(chosen, { name: opts.name ?? `shape-${perDepth.join('-')}` });
}
