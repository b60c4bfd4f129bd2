// Which tree pays on this device: expected tokens per step E[τ](tree) over the step's cost,
//   tokens/s(tree, L) = 1000 · E[τ](tree) / (forward(L, tree.size rows) + heads(tree.depth) + overhead)
// at each measured context length L, against plain AR's 1000 / forward(L, 1 row). The root-only
// tree (AR) is a candidate like any other, so a device where no tree pays gets AR.
import { OptionError } from '@hydra-ts/tensor';
import { buildTreeFromAcceptance, expectedAcceptLength, MAX_TREE_NODES, rootOnly, type AcceptanceTable, type CandidateTree } from '@hydra-ts/tree';

/** Base forward time (forward over the rows with logits, argmax, read-back) by row count, after `context` committed tokens. */
export interface ForwardCost {
  context: number;
  rows: number[];
  ms: number[];
}

export interface StepCost {
  /** One table per measured context length; rows[0] must be 1 (the AR step). */
  forward: ForwardCost[];
  /** headMs[d-1]: time for the heads to fill a tree d deep; deeper trees reuse the last entry. */
  headMs: number[];
  /** Per-step time of a tree step outside the base forward and the heads (verify, commit). */
  overheadMs: number;
}

export interface TreeChoice {
  /** Candidates, root excluded (0: plain AR). */
  nodes: number;
  depth: number;
  expectedAcceptLength: number;
  /** Step time at each context of the cost table. */
  stepMs: number[];
  /** Expected tokens/s at each context. */
  tokensPerSecond: number[];
  /** Expected tokens/s over AR's at each context. */
  speedup: number[];
  /** The worst of them: the tree must pay at every context measured. */
  score: number;
}

export interface TreeRanking {
  /** Best first; plain AR (nodes 0) is among them with score 1. */
  ranked: Array<{ tree: CandidateTree; choice: TreeChoice }>;
  /** Every distinct tree size tried, by increasing size, AR first. */
  curve: TreeChoice[];
}

function checkTable(t: ForwardCost, where: string): void {
  const { rows, ms } = t;
  if (!Number.isInteger(t.context) || t.context < 0) throw new OptionError(`${where}: context ${t.context}; expected an integer >= 0`);
  if (rows.length === 0 || rows.length !== ms.length) {
    throw new OptionError(`${where} has ${rows.length} row counts and ${ms.length} times; expected the same non-zero number`);
  }
  if (rows[0] !== 1) throw new OptionError(`${where}: rows[0] = ${rows[0]}; expected 1 (the AR step every tree is compared with)`);
  rows.forEach((r, i) => {
    if (!Number.isInteger(r) || r < 1 || (i > 0 && r <= rows[i - 1])) {
      throw new OptionError(`${where}: rows[${i}] = ${r}; expected increasing integers >= 1`);
    }
    if (!Number.isFinite(ms[i]) || ms[i] <= 0) throw new OptionError(`${where}: ms[${i}] = ${ms[i]}; expected a time > 0`);
  });
}

export function checkCost(cost: StepCost): void {
  if (!Array.isArray(cost.forward) || cost.forward.length === 0) throw new OptionError('step cost: no forward tables; expected one per context length');
  cost.forward.forEach((t, i) => checkTable(t, `forward cost table ${i} (context ${t.context})`));
  if (cost.headMs.some((t) => !Number.isFinite(t) || t < 0)) throw new OptionError(`head times ${cost.headMs.join(', ')}; expected times >= 0`);
  if (!Number.isFinite(cost.overheadMs) || cost.overheadMs < 0) throw new OptionError(`overhead ${cost.overheadMs} ms; expected a time >= 0`);
}

/**
 * The measured table made non-decreasing in rows: a bigger tree never costs less than a smaller
 * one, so a row count that measured slower than a larger one (noise) takes the larger one's time.
 * The one-row (AR) entry too: an AR step slower than a tree step is noise, and taking the lower
 * time only makes AR harder to beat.
 */
export function monotoneCost(cost: ForwardCost): ForwardCost {
  const ms = [...cost.ms];
  for (let i = ms.length - 2; i >= 0; i--) ms[i] = Math.min(ms[i], ms[i + 1]);
  return { context: cost.context, rows: [...cost.rows], ms };
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
  if (cost.headMs.length === 0 || depth === 0) return 0;
  return cost.headMs[Math.min(depth, cost.headMs.length) - 1];
}

/** Expected figures of `tree` (the root alone: plain AR, no heads, no verify) under the acceptance table and step cost. */
export function treeThroughput(tree: CandidateTree, acceptProb: AcceptanceTable, cost: StepCost): TreeChoice {
  const ar = tree.size === 1;
  const tau = ar ? 1 : expectedAcceptLength(tree, acceptProb);
  const stepMs = cost.forward.map((t) => (ar ? t.ms[0] : forwardMsAt(t, tree.size) + headMsAt(cost, tree.depth) + cost.overheadMs));
  const tokensPerSecond = stepMs.map((ms) => (1000 * tau) / ms);
  const speedup = cost.forward.map((t, i) => tokensPerSecond[i] / (1000 / t.ms[0]));
  return { nodes: tree.size - 1, depth: tree.depth, expectedAcceptLength: tau, stepMs, tokensPerSecond, speedup, score: Math.min(...speedup) };
}

/**
 * Ranks plain AR and the acceptance-built tree of every node budget 1..maxNodes by their worst
 * expected speed-up over AR across the measured contexts; ties go to the smaller tree (AR first).
 */
export function rankTrees(acceptProb: AcceptanceTable, cost: StepCost, opts: { maxNodes?: number; maxDepth?: number; name?: string } = {}): TreeRanking {
  checkCost(cost);
  const maxNodes = opts.maxNodes ?? 63;
  if (!Number.isInteger(maxNodes) || maxNodes < 1 || maxNodes > MAX_TREE_NODES - 1) {
    throw new OptionError(`maxNodes ${maxNodes}: expected an integer in [1, ${MAX_TREE_NODES - 1}]`);
  }
  const table = opts.maxDepth !== undefined ? acceptProb.slice(0, opts.maxDepth) : acceptProb;
  const ar = rootOnly();
  const entries = [{ tree: ar, choice: treeThroughput(ar, table, cost) }];
  const hasAny = table.length > 0 && table[0].some((p) => p > 0);
  for (let n = 1; hasAny && n <= maxNodes; n++) {
    const tree = buildTreeFromAcceptance(table, n, { name: opts.name ?? `tuned-${n}` });
    // The builder stops early when no node has a non-zero chance; larger budgets repeat that tree.
    if (tree.size - 1 < n && entries.length > 1 && entries[entries.length - 1].choice.nodes === tree.size - 1) break;
    entries.push({ tree, choice: treeThroughput(tree, table, cost) });
  }
  const curve = entries.map((e) => e.choice);
  const ranked = [...entries].sort((a, b) => b.choice.score - a.choice.score || a.choice.nodes - b.choice.nodes);
  return { ranked, curve };
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
