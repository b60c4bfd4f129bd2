// The verified tree of a dynamic draft (EAGLE-2's rerank), built on the GPU from the drafted
// levels, so the verify pass is recorded behind the drafting with no read-back in between:
//   node      = every drafted candidate: level 1's k (children of the root), then each later
//               level's k·k (k children of each of the k frontier nodes picked at the level above)
//   score(n)  = score(parent) + min(log q(n), 0)                    (score(root) = 0)
//   kept      = the `nodes` best by score, ties to the lower node (so to the shallower one); a
//               child never scores above its parent, so every kept node's parent is kept
//   rows      = the root, then the kept nodes depth-first with children in rank order (the
//               verify pass's row layout: the rank-0 chain leads)
// Per row it returns the token, the position (start + depth), the parent row (-1 for the root)
// and the tree's attention mask among the rows (each row sees its ancestors and itself).
// Log-probabilities are finite (a log softmax of finite logits); WGSL may assume no NaN or
// infinity, so none is ranked specially. A step drafts a few hundred candidates and keeps at most FRONTIER_MAX_WIDTH, so one invocation
// builds the tree by repeated scans, as `frontier` picks a frontier.

import { ShapeError } from '../errors';
import { checkDType, checkLive, checkRank, kernel, params } from '../kernel';
import type { Tensor } from '../tensor';
import { FRONTIER_MAX_CANDIDATES, FRONTIER_MAX_WIDTH } from './frontier';

/** Most candidates a step's levels may hold together. */
export const RERANK_MAX_CANDIDATES = FRONTIER_MAX_CANDIDATES;
/** Most nodes kept (rows − 1). */
export const RERANK_MAX_NODES = FRONTIER_MAX_WIDTH - 1;

const rerankKernel = kernel('rerank-tree', ['read', 'read', 'read', 'read_write', 'read_write', 'read_write', 'read_write'], () => `
struct Params { k: u32, depth: u32, nodes: u32, root: i32, start: i32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> ids: array<i32>; // [candidates] every level's top-k ids, level after level
@group(1) @binding(2) var<storage, read> logq: array<f32>; // [candidates] their log-probabilities
@group(1) @binding(3) var<storage, read> picks: array<i32>; // [(depth - 1) · k] each level's frontier entries but the last
@group(1) @binding(4) var<storage, read_write> tokens: array<i32>; // [rows]
@group(1) @binding(5) var<storage, read_write> positions: array<i32>; // [rows]
@group(1) @binding(6) var<storage, read_write> parents: array<i32>; // [rows]
@group(1) @binding(7) var<storage, read_write> mask: array<u32>; // [rows, rows]

const NONE = 0xffffffffu;
var<private> score: array<f32, ${RERANK_MAX_CANDIDATES}>;
var<private> taken: array<u32, ${RERANK_MAX_CANDIDATES / 32}>;
var<private> kept: array<u32, ${FRONTIER_MAX_WIDTH}>; // kept[i]: the node of the i-th best (i < nodes)
var<private> keptParent: array<u32, ${FRONTIER_MAX_WIDTH}>; // its parent among kept (NONE: the root)
var<private> rowOf: array<u32, ${FRONTIER_MAX_WIDTH}>;
var<private> stack: array<u32, ${FRONTIER_MAX_WIDTH}>;

// level l >= 2 starts at node k + (l - 2)·k²
fn levelStart(l: u32) -> u32 { return select(p.k + (l - 2u) * p.k * p.k, 0u, l == 1u); }
fn levelOf(n: u32) -> u32 { return select(2u + (n - p.k) / (p.k * p.k), 1u, n < p.k); }
fn parentOf(n: u32) -> u32 {
  let l = levelOf(n);
  if (l == 1u) { return NONE; }
  let row = (n - levelStart(l)) / p.k; // the frontier node this candidate continues
  return levelStart(l - 1u) + u32(picks[(l - 2u) * p.k + row]);
}

@compute @workgroup_size(1)
fn main() {
  let total = p.k + (p.depth - 1u) * p.k * p.k;
  for (var w = 0u; w < ${RERANK_MAX_CANDIDATES / 32}u; w++) { taken[w] = 0u; }
  for (var n = 0u; n < total; n++) {
    let q = logq[n];
    let lq = min(q, 0.0); // rounding can leave log q a hair above 0
    let up = parentOf(n);
    var base = 0.0;
    if (up != NONE) { base = score[up]; }
    score[n] = base + lq;
  }
  // the best nodes, best first; nodes rise along the scan, so a strict > keeps the lowest of equal scores
  for (var i = 0u; i < p.nodes; i++) {
    var best = NONE;
    var bestScore = 0.0;
    for (var n = 0u; n < total; n++) {
      if ((taken[n / 32u] & (1u << (n % 32u))) != 0u) { continue; }
      if (best == NONE || score[n] > bestScore) { best = n; bestScore = score[n]; }
    }
    taken[best / 32u] |= 1u << (best % 32u);
    kept[i] = best;
    keptParent[i] = NONE;
    let up = parentOf(best);
    for (var j = 0u; j < i; j++) { if (kept[j] == up) { keptParent[i] = j; } }
  }
  // rows depth-first: a node's children are the kept nodes naming it, in kept order (= rank order)
  let rows = p.nodes + 1u;
  tokens[0] = p.root;
  positions[0] = p.start;
  parents[0] = -1;
  var top = 0u;
  for (var j = p.nodes; j > 0u; j--) { if (keptParent[j - 1u] == NONE) { stack[top] = j - 1u; top++; } }
  var row = 1u;
  while (top > 0u) {
    top--;
    let i = stack[top];
    rowOf[i] = row;
    tokens[row] = ids[kept[i]];
    positions[row] = p.start + i32(levelOf(kept[i]));
    var parentRow = 0;
    if (keptParent[i] != NONE) { parentRow = i32(rowOf[keptParent[i]]); }
    parents[row] = parentRow;
    row++;
    for (var j = p.nodes; j > 0u; j--) { if (keptParent[j - 1u] == i) { stack[top] = j - 1u; top++; } }
  }
  for (var e = 0u; e < rows * rows; e++) { mask[e] = 0u; }
  for (var r = 0u; r < rows; r++) {
    var a = i32(r);
    loop {
      mask[r * rows + u32(a)] = 1u;
      if (a == 0) { break; }
      a = parents[a];
    }
  }
}`);

export interface RerankedTree {
  /** [rows] i32: each row's token (row 0 the root). */
  tokens: Tensor<'i32'>;
  /** [rows] i32: start + the row's depth. */
  positions: Tensor<'i32'>;
  /** [rows] i32: each row's parent row, -1 for the root. */
  parents: Tensor<'i32'>;
  /** [rows, rows] u32: row i sees row j where mask[i·rows + j] = 1. */
  mask: Tensor<'u32'>;
}

export interface RerankOptions {
  /** Children per expanded node and nodes expanded per level. */
  k: number;
  /** Levels drafted. */
  depth: number;
  /** Nodes kept (rows = nodes + 1). */
  nodes: number;
  /** The root's token. */
  root: number;
  /** The root's position. */
  start: number;
}

/**
 * The verified tree of a dynamic draft (see the file header). ids [candidates] i32 and logq
 * [candidates] f32: level 1's k candidates, then each later level's [k, k] (rows in its frontier's
 * order); picks [(depth - 1)·k] i32: each level's frontier as entries of that level. Returns
 * tensors of nodes + 1 rows, owned by the caller.
 */
export function rerankTree(ids: Tensor, logq: Tensor, picks: Tensor, opts: RerankOptions): RerankedTree {
  const op = 'rerankTree';
  const device = checkLive(op, ids, logq, picks);
  checkDType(op, 'ids', ids, 'i32');
  checkDType(op, 'logq', logq, 'f32');
  checkDType(op, 'picks', picks, 'i32');
  for (const [name, t] of [['ids', ids], ['logq', logq], ['picks', picks]] as const) checkRank(op, name, t, 1);
  const { k, depth, nodes, root, start } = opts;
  for (const [name, v, min] of [['k', k, 1], ['depth', depth, 1], ['nodes', nodes, 1], ['root', root, 0], ['start', start, 0]] as const) {
    if (!Number.isInteger(v) || v < min) throw new ShapeError(`${op}: ${name} = ${v}, expected an integer >= ${min}`);
  }
  const total = k + (depth - 1) * k * k;
  if (ids.size !== total || logq.size !== total) {
    throw new ShapeError(`${op}: ids ${ids.describe()} and logq ${logq.describe()} must hold k + (depth − 1)·k² = ${total} candidates (k ${k}, depth ${depth})`);
  }
  if (picks.size !== Math.max(depth - 1, 0) * k && !(depth === 1 && picks.size >= 1)) {
    throw new ShapeError(`${op}: picks ${picks.describe()} must hold (depth − 1)·k = ${(depth - 1) * k} frontier entries (a one-level draft: any one-entry tensor)`);
  }
  if (total > RERANK_MAX_CANDIDATES) throw new ShapeError(`${op}: ${total} candidates (k ${k}, depth ${depth}); at most ${RERANK_MAX_CANDIDATES} are supported`);
  if (nodes > Math.min(total, RERANK_MAX_NODES)) throw new ShapeError(`${op}: nodes = ${nodes}, expected at most min(candidates ${total}, ${RERANK_MAX_NODES})`);
  const rows = nodes + 1;
  const tokens = device.empty([rows], 'i32');
  const positions = device.empty([rows], 'i32');
  const parents = device.empty([rows], 'i32');
  const mask = device.empty([rows, rows], 'u32');
  device.dispatch(rerankKernel, [ids.buffer, logq.buffer, picks.buffer, tokens.buffer, positions.buffer, parents.buffer, mask.buffer], params(k, depth, nodes, root, start), [1, 1, 1]);
  return { tokens, positions, parents, mask };
}
