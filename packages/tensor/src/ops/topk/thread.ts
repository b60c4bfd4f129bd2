// Top-k, one invocation per row: a sorted list kept by insertion, with no workgroup memory or
// barriers. For narrow rows (small vocabularies), where it is far cheaper on CPU-backed adapters
// than k merge rounds.
import type { Device } from '../../device';
import { FLAT_WORKGROUP, grid, kernel, params } from '../../kernel';
import { TOPK_MAX_K, type TopkLaunch } from './shared';

const ROW_WG = 64;
/** The widest row this variant is chosen for (it walks the row alone). */
export const THREAD_MAX_N = 4096;

const rowKernel = kernel('topk-thread', ['read', 'read_write', 'read_write'], () => `
struct Params { rows: u32, n: u32, k: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<f32>;
@group(1) @binding(2) var<storage, read_write> values: array<f32>;
@group(1) @binding(3) var<storage, read_write> indices: array<i32>;

@compute @workgroup_size(${ROW_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (${FLAT_WORKGROUP}) * ${ROW_WG}u + lid;
  if (row >= p.rows) { return; }
  var lv: array<f32, ${TOPK_MAX_K}>;
  var li: array<u32, ${TOPK_MAX_K}>;
  var len = 0u;
  let base = row * p.n;
  for (var j = 0u; j < p.n; j++) {
    let y = x[base + j];
    // Indices rise, so an equal value never displaces an earlier one: ties keep the lower index.
    if (len == p.k && !(y > lv[p.k - 1u])) { continue; }
    var pos = min(len, p.k - 1u);
    while (pos > 0u && y > lv[pos - 1u]) {
      lv[pos] = lv[pos - 1u];
      li[pos] = li[pos - 1u];
      pos--;
    }
    lv[pos] = y;
    li[pos] = j;
    if (len < p.k) { len++; }
  }
  for (var t = 0u; t < p.k; t++) {
    values[row * p.k + t] = lv[t];
    indices[row * p.k + t] = i32(li[t]);
  }
}`);

export function dispatchThread(device: Device, a: TopkLaunch): void {
  device.dispatch(rowKernel, a.buffers, params(a.rows, a.n, a.k), grid(device, Math.ceil(a.rows / ROW_WG)));
}
