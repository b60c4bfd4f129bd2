// The frontier of a dynamic draft tree (EAGLE-2), chosen on the GPU so drafting needs no read-back
// between levels:
//   score[r, j] = base[r] + logq[r, j]          a candidate's path log-probability
//   picked      = the `width` best (r, j), by score, ties to the lower entry r·k + j
// It returns their scores [width] (the next level's base), their rows r [width] and entries
// r·k + j [width]. The level has at most a few hundred candidates (rows ≤ 16, k ≤ 16), so one
// invocation selects them by repeated scans (width · rows · k comparisons, microseconds) rather
// than a sort across a workgroup.

import { ShapeError } from '../errors';
import { checkDType, checkLive, checkRank, kernel, params } from '../kernel';
import type { Tensor } from '../tensor';

/** Most candidates (rows · k) one frontier call selects from. */
export const FRONTIER_MAX_CANDIDATES = 4096;
/** Most nodes it picks. */
export const FRONTIER_MAX_WIDTH = 64;

const frontierKernel = kernel('frontier', ['read', 'read', 'read_write', 'read_write', 'read_write'], () => `
struct Params { rows: u32, k: u32, width: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> logq: array<f32>; // [rows, k]
@group(1) @binding(2) var<storage, read> base: array<f32>; // [rows]
@group(1) @binding(3) var<storage, read_write> scores: array<f32>; // [width]
@group(1) @binding(4) var<storage, read_write> rows: array<i32>; // [width]
@group(1) @binding(5) var<storage, read_write> entries: array<i32>; // [width]

var<private> taken: array<u32, ${FRONTIER_MAX_CANDIDATES / 32}>;

@compute @workgroup_size(1)
fn main() {
  let n = p.rows * p.k;
  for (var w = 0u; w < ${FRONTIER_MAX_CANDIDATES / 32}u; w++) { taken[w] = 0u; }
  for (var i = 0u; i < p.width; i++) {
    var best = 0xffffffffu;
    var bestScore = 0.0;
    // entries rise along the scan, so a strict > keeps the lowest of equal scores
    for (var e = 0u; e < n; e++) {
      if ((taken[e / 32u] & (1u << (e % 32u))) != 0u) { continue; }
      let s = base[e / p.k] + logq[e];
      if (best == 0xffffffffu || s > bestScore) { best = e; bestScore = s; }
    }
    taken[best / 32u] |= 1u << (best % 32u);
    scores[i] = bestScore;
    rows[i] = i32(best / p.k);
    entries[i] = i32(best);
  }
}`);

/**
 * The `width` best candidates of a level: logq [rows, k] (each row's top-k log-probabilities),
 * base [rows] (each row's path score). Returns, best first, their scores [width] f32, rows r
 * [width] i32 and entries r·k + j [width] i32, all owned by the caller.
 */
export function frontier(logq: Tensor, base: Tensor, width: number): { scores: Tensor<'f32'>; rows: Tensor<'i32'>; entries: Tensor<'i32'> } {
  const op = 'frontier';
  const device = checkLive(op, logq, base);
  checkDType(op, 'logq', logq, 'f32');
  checkDType(op, 'base', base, 'f32');
  checkRank(op, 'logq', logq, 2);
  checkRank(op, 'base', base, 1);
  const [rows, k] = logq.shape;
  if (base.shape[0] !== rows) throw new ShapeError(`${op}: base ${base.describe()} has ${base.shape[0]} scores, expected one per row of logq ${logq.describe()}`);
  if (rows * k > FRONTIER_MAX_CANDIDATES) throw new ShapeError(`${op}: logq ${logq.describe()} holds ${rows * k} candidates, at most ${FRONTIER_MAX_CANDIDATES} are supported`);
  if (!Number.isInteger(width) || width < 1 || width > Math.min(rows * k, FRONTIER_MAX_WIDTH)) {
    throw new ShapeError(`${op}: width = ${width}, expected an integer in [1, ${Math.min(rows * k, FRONTIER_MAX_WIDTH)}] (the ${rows * k} candidates of logq ${logq.describe()}, at most ${FRONTIER_MAX_WIDTH})`);
  }
  const scores = device.empty([width], 'f32');
  const picked = device.empty([width], 'i32');
  const entries = device.empty([width], 'i32');
  device.dispatch(frontierKernel, [logq.buffer, base.buffer, scores.buffer, picked.buffer, entries.buffer], params(rows, k, width), [1, 1, 1]);
  return { scores, rows: picked, entries };
}
