// Hardware-aware tree choice: the node budget n whose acceptance-built tree gives the most
// expected tokens per second, E[τ](tree_n) / (forward(n+1 rows) + heads(depth) + overhead).
import { buildTreeFromAcceptance, expectedAcceptLength, MAX_TREE_NODES, type AcceptanceTable, type CandidateTree } from '@hydra-ts/tree';
import { UsageError } from '../errors';

/** Measured base forward time (forward + argmax + readback) per step by number of tree rows. */
export interface ForwardCost {
  rows: number[];
  ms: number[];
}

export interface StepCost {
  forward: ForwardCost;
  /** headMs[d-1]: time for the heads to fill a tree d deep; deeper trees reuse the last entry. */
  headMs: number[];
  /** Per-step time outside base and heads (verify, commit, bookkeeping). */
  overheadMs: number;
}

export interface TreeChoice {
  /** Candidates, root excluded. */
  nodes: number;
  depth: number;
  expectedAcceptLength: number;
  stepMs: number;
  tokensPerSecond: number;
}

export interface TuneResult {
  tree: CandidateTree;
  best: TreeChoice;
  /** Every distinct tree size tried, by increasing size. */
  curve: TreeChoice[];
}

function checkCost(cost: StepCost): void {
  const { rows, ms } = cost.forward;
  if (rows.length === 0 || rows.length !== ms.length) {
    throw new UsageError(`forward cost table has ${rows.length} row counts and ${ms.length} times; expected the same non-zero number`);
  }
  rows.forEach((r, i) => {
    if (!Number.isInteger(r) || r < 1 || (i > 0 && r <= rows[i - 1])) {
      throw new UsageError(`forward cost table rows[${i}] = ${r}; expected increasing integers >= 1`);
    }
    if (!Number.isFinite(ms[i]) || ms[i] <= 0) throw new UsageError(`forward cost table ms[${i}] = ${ms[i]}; expected a time > 0`);
  });
  if (cost.headMs.some((t) => !Number.isFinite(t) || t < 0)) throw new UsageError(`head times ${cost.headMs.join(', ')}; expected times >= 0`);
  if (!Number.isFinite(cost.overheadMs) || cost.overheadMs < 0) throw new UsageError(`overhead ${cost.overheadMs} ms; expected a time >= 0`);
}

/**
 * The measured table made non-decreasing: a bigger tree never costs less than a smaller one, so
 * a row count that measured slower than a larger one (noise) takes the larger one's time.
 */
export function monotoneCost(cost: ForwardCost): ForwardCost {
  const ms = [...cost.ms];
  for (let i = ms.length - 2; i >= 0; i--) ms[i] = Math.min(ms[i], ms[i + 1]);
  return { rows: [...cost.rows], ms };
}

/** Forward time for `rows` rows: piecewise linear between measurements, flat below the first, linear past the last two. */
export function forwardMsAt(cost: ForwardCost, rows: number): number {
  const { rows: xs, ms: ys } = cost;
  if (rows <= xs[0]) return ys[0];
  for (let i = 1; i < xs.length; i++) {
    if (rows <= xs[i]) return ys[i - 1] + ((ys[i] - ys[i - 1]) * (rows - xs[i - 1])) / (xs[i] - xs[i - 1]);
  }
  if (xs.length === 1) return ys[0];
  const n = xs.length - 1;
  const slope = Math.max(0, (ys[n] - ys[n - 1]) / (xs[n] - xs[n - 1]));
  return ys[n] + slope * (rows - xs[n]);
}

function headMsAt(cost: StepCost, depth: number): number {
  if (cost.headMs.length === 0) return 0;
  return cost.headMs[Math.min(depth, cost.headMs.length) - 1];
}

/** Expected tokens per second of `tree` under the acceptance table and step cost. */
export function treeThroughput(tree: CandidateTree, acceptProb: AcceptanceTable, cost: StepCost): TreeChoice {
  const tau = expectedAcceptLength(tree, acceptProb);
  const stepMs = forwardMsAt(cost.forward, tree.size) + headMsAt(cost, tree.depth) + cost.overheadMs;
  return { nodes: tree.size - 1, depth: tree.depth, expectedAcceptLength: tau, stepMs, tokensPerSecond: (1000 * tau) / stepMs };
}

/**
 * Tries every node budget 1..maxNodes and keeps the tree with the highest expected tokens per
 * second; ties go to the smaller tree (less memory, less variance).
 */
export function chooseTree(acceptProb: AcceptanceTable, cost: StepCost, opts: { maxNodes?: number; name?: string } = {}): TuneResult {
  checkCost(cost);
  const maxNodes = opts.maxNodes ?? 63;
  if (!Number.isInteger(maxNodes) || maxNodes < 1 || maxNodes > MAX_TREE_NODES - 1) {
    throw new UsageError(`--max-nodes ${maxNodes}: expected an integer in [1, ${MAX_TREE_NODES - 1}]`);
  }
  const curve: TreeChoice[] = [];
  let best: { tree: CandidateTree; choice: TreeChoice } | null = null;
  for (let n = 1; n <= maxNodes; n++) {
    const tree = buildTreeFromAcceptance(acceptProb, n, { name: opts.name });
    // The builder stops early when no node has a non-zero chance; larger budgets repeat that tree.
    if (tree.size - 1 < n && curve.length > 0 && curve[curve.length - 1].nodes === tree.size - 1) break;
    const choice = treeThroughput(tree, acceptProb, cost);
    curve.push(choice);
    if (!best || choice.tokensPerSecond > best.choice.tokensPerSecond * (1 + 1e-12)) best = { tree, choice };
  }
  return { tree: best!.tree, best: best!.choice, curve };
}

/**
 * acceptProb[d][r] from counts: accepted[d][r] of seen[d][r] times a rank-r child at depth d+1
 * was offered under an accepted parent. Rows are scaled to sum to at most 1 (ranks are exclusive;
 * unequal sample sizes can push a raw row over). Ranks never seen get 0.
 */
export function acceptanceFromCounts(accepted: number[][], seen: number[][]): number[][] {
  return seen.map((row, d) => {
    const p = row.map((n, r) => (n > 0 ? accepted[d][r] / n : 0));
    const sum = p.reduce((a, b) => a + b, 0);
    return sum > 1 ? p.map((x) => x / sum) : p;
  });
}
