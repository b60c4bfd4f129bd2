// Dynamic draft trees (EAGLE-2, Li et al. 2024): the tree is grown each step from the draft
// head's own confidence instead of being fixed in advance.
//
//   score(n)  = Σ log q(x_m | path to m)  over the nodes m on the path root → n   (score(root) = 0)
//   expand    : at each depth, every expanded node's top-k children are drafted with their
//               log-probabilities; the k best new nodes by score are expanded at the next depth
//   rerank    : all drafted nodes, best score first; the first N form the verified tree
//
// A child never scores above its parent (log q <= 0), so the best N nodes always include their
// ancestors (ties go to the shallower node). exp(score(n)) estimates the chance that n's whole
// path is accepted, so 1 + Σ_{i<=N} exp(score_i) estimates the tokens a step yields; with a
// measured step cost the budget N is chosen per step to maximise tokens per millisecond.
import { CandidateTree, MAX_RANK, MAX_TREE_NODES } from './candidate-tree';
import { TreeError } from './errors';

export interface DynamicTreeOptions {
  /** Levels drafted per step; default the head's depth (capped at 6, as EAGLE-2 drafts). */
  depth?: number;
  /**
   * Children drafted per expanded node, and nodes expanded per level; default ⌈√maxNodes⌉ in
   * [2, 8] (4 for 16 candidates, 6 for 32): each level drafts topK² candidates, most of which a
   * small budget never keeps.
   */
  topK?: number;
  /** Most candidates verified per step (root excluded); default 32. */
  maxNodes?: number;
  /**
   * Step time in ms for a verify pass of `rows` rows (root included), drafting and overhead
   * included. Given, each step verifies the N <= maxNodes best nodes that maximise expected tokens
   * per ms; omitted, every step verifies maxNodes.
   */
  stepMs?: (rows: number) => number;
  /**
   * The budget follows this device's measured step cost: a decoder given such a tree without
   * stepMs attaches the tuner's cost table (dynamicTreeFor in @hydra-ts/decode). What 'dynamic' means.
   */
  measured?: boolean;
  /** Shown in statistics; default 'dynamic' (measured or with stepMs) or 'dynamic-<maxNodes>'. */
  name?: string;
}

/** The default number of candidates a dynamic tree verifies per step. */
export const DYNAMIC_DEFAULT_NODES = 32;
/** The default top-k for a budget of `maxNodes` candidates (see DynamicTreeOptions.topK). */
export function defaultTopK(maxNodes: number): number {
  return Math.min(8, Math.max(2, Math.ceil(Math.sqrt(maxNodes))));
}
/** EAGLE-2 drafts at most this deep by default; deeper levels rarely survive the rerank. */
const DEFAULT_MAX_DEPTH = 6;

/** How a dynamic tree is grown each step; the tree itself is made per step by growTree. */
export class DynamicTree {
  readonly kind = 'dynamic';
  readonly name: string;
  /** Levels drafted per step; null: the head's depth (capped at 6). */
  readonly depth: number | null;
  readonly topK: number;
  readonly maxNodes: number;
  readonly stepMs: ((rows: number) => number) | null;
  readonly measured: boolean;

  constructor(opts: DynamicTreeOptions = {}) {
    const { depth, maxNodes = DYNAMIC_DEFAULT_NODES, stepMs } = opts;
    const topK = opts.topK ?? (Number.isInteger(maxNodes) && maxNodes >= 1 ? defaultTopK(maxNodes) : 1);
    if (depth !== undefined && (!Number.isInteger(depth) || depth < 1 || depth > MAX_TREE_NODES - 1)) {
      throw new TreeError(`dynamic tree: depth = ${String(depth)}; expected an integer in [1, ${MAX_TREE_NODES - 1}]`);
    }
    if (!Number.isInteger(topK) || topK < 1 || topK > MAX_RANK) throw new TreeError(`dynamic tree: topK = ${String(topK)}; expected an integer in [1, ${MAX_RANK}]`);
    if (!Number.isInteger(maxNodes) || maxNodes < 1 || maxNodes > MAX_TREE_NODES - 1) {
      throw new TreeError(`dynamic tree: maxNodes = ${String(maxNodes)}; expected an integer in [1, ${MAX_TREE_NODES - 1}]`);
    }
    if (stepMs !== undefined && typeof stepMs !== 'function') throw new TreeError(`dynamic tree: stepMs must be a function of the row count`);
    this.depth = depth ?? null;
    this.topK = topK;
    this.maxNodes = maxNodes;
    this.stepMs = stepMs ?? null;
    this.measured = opts.measured ?? false;
    this.name = opts.name ?? (stepMs || this.measured ? 'dynamic' : `dynamic-${maxNodes}`);
  }

  /** Levels drafted for a head that fills `headDepth` levels. */
  depthFor(headDepth: number): number {
    return Math.min(this.depth ?? DEFAULT_MAX_DEPTH, headDepth);
  }

  /** The same growth with another budget rule (e.g. a measured step cost). */
  with(opts: Pick<DynamicTreeOptions, 'stepMs' | 'maxNodes' | 'name'>): DynamicTree {
    return new DynamicTree({ depth: this.depth ?? undefined, topK: this.topK, maxNodes: this.maxNodes, stepMs: this.stepMs ?? undefined, measured: this.measured, name: this.name, ...opts });
  }
}

/**
 * A dynamic tree by name: 'dynamic' (the budget from the device's measured cost, at most 32
 * candidates), 'dynamic-<N>' (N candidates every step), either with '-k<K>' (K children per
 * expanded node and K nodes expanded per level; default ⌈√N⌉ in [2, 8]) and '-d<D>' (D levels drafted; default
 * the head's depth, capped at 6). Null for other names.
 */
export function parseDynamicTree(name: string): DynamicTree | null {
  const m = /^dynamic(?:-(\d+))?(?:-k(\d+))?(?:-d(\d+))?$/.exec(name);
  if (!m) return null;
  const topK = m[2] === undefined ? undefined : Number(m[2]);
  if (topK !== undefined && (topK < 1 || topK > MAX_RANK)) throw new TreeError(`tree '${name}': top-${topK}; expected -k<K> with K in [1, ${MAX_RANK}]`);
  const depth = m[3] === undefined ? undefined : Number(m[3]);
  if (depth !== undefined && (depth < 1 || depth > MAX_TREE_NODES - 1)) throw new TreeError(`tree '${name}': depth ${depth}; expected -d<D> with D in [1, ${MAX_TREE_NODES - 1}]`);
  if (m[1] === undefined) return new DynamicTree({ measured: true, topK, depth, name });
  const n = Number(m[1]);
  if (n < 1 || n > MAX_TREE_NODES - 1) throw new TreeError(`tree '${name}': ${n} candidates; expected dynamic-<N> with N in [1, ${MAX_TREE_NODES - 1}]`);
  return new DynamicTree({ maxNodes: n, topK, depth, name });
}

/** One level's drafted children: for each expanded node (a row), its k best tokens and their log-probabilities. */
export interface LevelCandidates {
  /** [rows, k] token ids, best first. */
  ids: Int32Array;
  /** [rows, k] log q of each, <= 0. */
  logProbs: Float32Array;
}

/**
 * Drafts one level. `picks` null: the root's children (one row). Otherwise the nodes to expand,
 * as entries (row · k + rank) of the previous level's candidates, in the order of the rows
 * returned.
 */
export type ExpandLevel = (picks: Int32Array | null, k: number) => Promise<LevelCandidates>;

/** Every level of a step's drafting, the frontier chosen where it was drafted (e.g. on the GPU, with `frontier`). */
export interface DraftedLevels {
  /** levels[l]: the candidates at depth l + 1; its rows are the nodes expanded there. */
  levels: LevelCandidates[];
  /** picks[l]: the entries of levels[l] expanded at depth l + 2, in the order of levels[l + 1]'s rows. */
  picks: Int32Array[];
}

/** Drafts every level at once, choosing each frontier itself (the k best by path score, ties to the lower entry). */
export type DraftAllLevels = (k: number) => Promise<DraftedLevels>;

export interface GrownTree {
  tree: CandidateTree;
  /** [tree.size] the token of each node, tokens[0] = root. */
  tokens: Int32Array;
  /** [tree.size] score of each node (root 0). */
  scores: Float32Array;
  /** Nodes drafted before the rerank (root excluded). */
  drafted: number;
  /** 1 + Σ exp(score) over the verified nodes: the tokens the step is expected to yield. */
  expectedTokens: number;
}

interface Drafted {
  parent: number[];
  token: number[];
  score: number[];
  depth: number[];
  rank: number[];
}

/**
 * The frontier rule: the `width` best of `scores` (a level's candidates, entry order), ties to
 * the lower entry. The host twin of the `frontier` GPU op.
 */
export function frontierOf(scores: ArrayLike<number>, width: number): Int32Array {
  const order = Array.from({ length: scores.length }, (_, e) => e).sort((a, b) => scores[b] - scores[a] || a - b);
  return Int32Array.from(order.slice(0, width));
}

/** Adds a level's candidates (rows = the nodes `rows`) to the drafted nodes; returns their ids in entry order. */
function addLevel(d: Drafted, rows: readonly number[], level: number, c: LevelCandidates, k: number): number[] {
  if (c.ids.length !== rows.length * k || c.logProbs.length !== rows.length * k) {
    throw new TreeError(`dynamic tree: level ${level} drafted ${c.ids.length} tokens and ${c.logProbs.length} log-probabilities; expected ${rows.length} rows × top-${k} = ${rows.length * k}`);
  }
  const fresh: number[] = [];
  rows.forEach((parent, j) => {
    for (let r = 0; r < k; r++) {
      const lp = c.logProbs[j * k + r];
      fresh.push(d.parent.length);
      d.parent.push(parent);
      d.token.push(c.ids[j * k + r]);
      d.score.push(d.score[parent] + (lp > 0 ? 0 : lp)); // rounding can leave log q a hair above 0
      d.depth.push(level);
      d.rank.push(r);
    }
  });
  return fresh;
}

/** Grows a step's tree from `root` (see the file header), drafting `depth` levels through `expand` and choosing each frontier here. */
export async function growTree(root: number, spec: DynamicTree, depth: number, expand: ExpandLevel): Promise<GrownTree> {
  const k = spec.topK;
  const d: Drafted = { parent: [-1], token: [root], score: [0], depth: [0], rank: [-1] };
  let rows = [0]; // the nodes expanded at this level, in the order of expand's rows
  let picks: Int32Array | null = null;
  for (let level = 1; level <= depth; level++) {
    const fresh = addLevel(d, rows, level, await expand(picks, k), k);
    if (level === depth) break;
    picks = frontierOf(fresh.map((n) => d.score[n]), Math.min(k, fresh.length));
    rows = Array.from(picks, (e) => fresh[e]);
  }
  return rerank(d, spec);
}

/** The step's tree from levels drafted with their frontiers already chosen (DraftAllLevels). */
export function treeFromLevels(root: number, spec: DynamicTree, drafted: DraftedLevels): GrownTree {
  const k = spec.topK;
  const d: Drafted = { parent: [-1], token: [root], score: [0], depth: [0], rank: [-1] };
  let rows = [0];
  drafted.levels.forEach((c, l) => {
    const fresh = addLevel(d, rows, l + 1, c, k);
    if (l + 1 === drafted.levels.length) return;
    const picks = drafted.picks[l];
    if (!picks || picks.length !== drafted.levels[l + 1].ids.length / k) {
      throw new TreeError(`dynamic tree: level ${l + 2} expands ${drafted.levels[l + 1].ids.length / k} nodes but ${picks?.length ?? 0} were picked`);
    }
    rows = Array.from(picks, (e) => {
      if (!(e >= 0 && e < fresh.length)) throw new TreeError(`dynamic tree: level ${l + 1} pick ${e}, expected an entry of its ${fresh.length} candidates`);
      return fresh[e];
    });
  });
  return rerank(d, spec);
}

/** The best N drafted nodes as a CandidateTree (see the file header for N). */
function rerank(d: Drafted, spec: DynamicTree): GrownTree {
  const order = d.score
    .map((_, n) => n)
    .filter((n) => n > 0 && Number.isFinite(d.score[n]))
    .sort((a, b) => d.score[b] - d.score[a] || d.depth[a] - d.depth[b] || a - b);
  const drafted = d.score.length - 1;
  // parents come first in that order; keep a node only if its parent was kept (and siblings in rank order)
  const kept = new Set<number>([0]);
  const chosen: number[] = [];
  for (const n of order) {
    if (chosen.length >= spec.maxNodes) break;
    if (kept.has(d.parent[n])) {
      kept.add(n);
      chosen.push(n);
    }
  }
  let count = chosen.length;
  if (spec.stepMs) {
    let gain = 1;
    let best = 1 / spec.stepMs(1);
    count = 0;
    chosen.forEach((n, i) => {
      gain += Math.exp(d.score[n]);
      const rate = gain / spec.stepMs!(i + 2);
      if (rate > best) {
        best = rate;
        count = i + 1;
      }
    });
  }
  const nodes = chosen.slice(0, count);
  // ranks along each path, siblings renumbered 0.. in rank order (a tree's ranks index a top-k list)
  const siblingRank = new Map<number, number>();
  const byParent = new Map<number, number[]>();
  for (const n of nodes) {
    const list = byParent.get(d.parent[n]) ?? [];
    list.push(n);
    byParent.set(d.parent[n], list);
  }
  for (const list of byParent.values()) list.sort((a, b) => d.rank[a] - d.rank[b]).forEach((n, r) => siblingRank.set(n, r));
  const pathOf = (n: number): number[] => {
    const path: number[] = [];
    for (let m = n; m > 0; m = d.parent[m]) path.push(siblingRank.get(m)!);
    return path.reverse();
  };
  const paths = nodes.map(pathOf);
  const tree = CandidateTree.fromPaths(paths, { name: spec.name, rootOnly: true });
  const nodeOfPath = new Map(paths.map((p, i) => [p.join(','), nodes[i]]));
  const tokens = new Int32Array(tree.size);
  const scores = new Float32Array(tree.size);
  tokens[0] = d.token[0];
  let expectedTokens = 1;
  for (let i = 1; i < tree.size; i++) {
    const n = nodeOfPath.get(tree.nodes[i].path.join(','))!;
    tokens[i] = d.token[n];
    scores[i] = d.score[n];
    expectedTokens += Math.exp(d.score[n]);
  }
  return { tree, tokens, scores, drafted, expectedTokens };
}
