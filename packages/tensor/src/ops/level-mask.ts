// The attention mask of one level of a draft tree's rows, built on the GPU from the previous
// level's, so a draft layer runs each level of a dynamic tree whose frontier was picked on the GPU
// with no read-back. The rows so far (P of them, earlier levels kept as pending cache rows) are
// the mask's first columns, the level's own n rows the last:
//   out[i, b]     = prev[parents[i], b]     b < P   a new row sees what its parent row sees
//   out[i, P + i] = 1                               and itself
// and 0 elsewhere; prev [m, P] is the previous level's mask rows (its rows are the parents, each
// seeing itself and its ancestors). Without prev (the first level, whose parent is the committed
// root every row sees), out is the identity [n, n].

import { ShapeError } from '../errors';
import { checkDType, checkLive, checkRank, FLAT_WORKGROUP, grid, kernel, params } from '../kernel';
import type { Tensor } from '../tensor';

const WG = 64;

const levelMaskKernel = kernel('tree-level-mask', ['read', 'read', 'read_write'], () => `
struct Params { prevRows: u32, prevCols: u32, fresh: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> prev: array<u32>; // [m, P]
@group(1) @binding(2) var<storage, read> parents: array<i32>; // [n]
@group(1) @binding(3) var<storage, read_write> out: array<u32>; // [n, P + n]

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let width = p.prevCols + p.fresh;
  let e = (${FLAT_WORKGROUP}) * ${WG}u + lid;
  if (e >= p.fresh * width) { return; }
  let i = e / width;
  let b = e % width;
  var seen = b == p.prevCols + i;
  let parent = parents[i];
  // a parent outside prev (only a caller's bad index) leaves the row seeing itself alone
  if (b < p.prevCols && parent >= 0 && u32(parent) < p.prevRows) { seen = prev[u32(parent) * p.prevCols + b] != 0u; }
  out[e] = select(0u, 1u, seen);
}`);

/**
 * The mask rows [n, P + n] u32 of a tree level of n = parents.size rows (see the file header):
 * prev [m, P] u32 or i32, the previous level's mask rows (null for the first level), parents [n]
 * i32, each new row's parent among prev's rows. Owned by the caller.
 */
export function levelMask(prev: Tensor | null, parents: Tensor): Tensor<'u32'> {
  const op = 'levelMask';
  const device = prev ? checkLive(op, prev, parents) : checkLive(op, parents);
  checkDType(op, 'parents', parents, 'i32');
  checkRank(op, 'parents', parents, 1);
  if (prev) {
    checkDType(op, 'prev', prev, 'u32', 'i32');
    checkRank(op, 'prev', prev, 2);
  }
  const [m, P] = prev ? prev.shape : [0, 0];
  if (prev && P < m) throw new ShapeError(`${op}: prev ${prev.describe()} must be a level's mask rows [m, P] over P >= m rows so far (its own among them)`);
  const n = parents.size;
  const out = device.empty([n, P + n], 'u32');
  // without prev the binding is never read: any live buffer serves
  device.dispatch(levelMaskKernel, [(prev ?? parents).buffer, parents.buffer, out.buffer], params(m, P, n), grid(device, Math.ceil((n * (P + n)) / WG)));
  return out;
}
