// Top-k, one 256-thread workgroup per row, in two stages:
//   1. each thread keeps a sorted top-k list (private memory) of its strided slice of the row;
//   2. k merge rounds: the 256 list heads are reduced to the best (value, index) in workgroup
//      memory, written out, and its owner thread moves to its next entry.
// A row is read once, and the k rounds cost k·log2(256) barrier steps, whatever n is.
import type { Device } from '../../device';
import { FLAT_WORKGROUP, grid, kernel, params } from '../../kernel';
import { TOPK_MAX_K, topkInsertWgsl, topkMergeDeclsWgsl, topkMergeWgsl, type TopkLaunch } from './shared';

const WG = 256;

function topkKernel() {
  const cap = TOPK_MAX_K;
  return kernel('topk', ['read', 'read_write', 'read_write'], () => `
struct Params { rows: u32, n: u32, k: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<f32>;
@group(1) @binding(2) var<storage, read_write> values: array<f32>;
@group(1) @binding(3) var<storage, read_write> indices: array<i32>;

${topkMergeDeclsWgsl(WG)}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = ${FLAT_WORKGROUP};
  if (row >= p.rows) { return; }
  let base = row * p.n;
  let k = p.k;

  // Stage 1: indices rise along the slice, so strict > keeps earlier equal values first.
  var lv: array<f32, ${cap}>;
  var li: array<u32, ${cap}>;
  var c = 0u;
  for (var j = lid; j < p.n; j += ${WG}u) {
    let v = x[base + j];
    ${topkInsertWgsl('v', 'j')}
  }

  // Stage 2: k rounds of a workgroup arg-best over the heads of the 256 lists.
  ${topkMergeWgsl(WG)}
}`);
}

export function dispatchWorkgroup(device: Device, a: TopkLaunch): void {
  device.dispatch(topkKernel(), a.buffers, params(a.rows, a.n, a.k), grid(device, a.rows));
}
