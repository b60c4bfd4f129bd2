// linear for one row, split along k across a subgroup: y[c] = Σ_q x[q]·w[c, q] (+ bias, SiLU, + residual).
//
// The column kernel gives each lane its own output columns and walks k: every lane then loads the
// same vec4 of x on every step (on llvmpipe a load in a loop is a gather, however uniform its
// address) next to its own weights, so a third of its loads are x again. Here the S lanes of a
// subgroup split k instead: lane l keeps x's vec4s l, l + S, l + 2S, ... in registers, loaded once,
// and for each column loads the same vec4s of that weight row, then subgroupAdd sums the S partial
// dots. Every load after the first is a weight; and neighbouring lanes read neighbouring vec4s of
// one weight row, the layout a hardware GPU coalesces.
//
// It needs subgroups of one fixed size S (the register slice is compiled in), laid out along the
// workgroup's invocation index (lanes lid / S · S … + S − 1 form subgroup lid / S, as on lavapipe
// and NVIDIA's Vulkan driver; the tests check the sums), and a row of at most
// S · KSPLIT_MAX_UNITS vec4s (x must fit the registers); f32 weights, k a multiple of 4, no
// prologue. linear takes it by default where subgroups hold at least KSPLIT_DEFAULT_LANES lanes
// (hardware GPUs): on an H100 (S = 32, bench/tune-linear.ts, wall) 1×288·288→32000 ran at 949
// against 749 GFLOP/s, 1×1024·1024→32000 at 1224 against 687. On lavapipe (S = 8) it measured the
// same as the column kernel within the host's noise, so there it runs only when asked for.

import { FLAT_WORKGROUP, grid, kernel, params } from '../../kernel';
import type { Binding, Device } from '../../device';
import { BIAS_WGSL, BINDINGS } from './shared';

/** Most vec4s of x one lane holds (k ≤ S · 4 · KSPLIT_MAX_UNITS). */
export const KSPLIT_MAX_UNITS = 12;
/** Subgroup size from which linear picks the k-split kernel by itself. */
export const KSPLIT_DEFAULT_LANES = 16;
/** Output columns each subgroup computes in turn. */
const COLUMNS_PER_SUBGROUP = 16;

/** The subgroup size the k-split kernel compiles for, or null when the device's may vary or it has none. */
export function ksplitLanes(device: Device): number | null {
  const s = device.subgroups;
  return s !== null && s.minSize === s.maxSize && s.minSize >= 4 ? s.minSize : null;
}

/** Whether linear takes the k-split kernel by itself where it fits: subgroups of KSPLIT_DEFAULT_LANES or more. */
export function ksplitByDefault(device: Device): boolean {
  return (ksplitLanes(device) ?? 0) >= KSPLIT_DEFAULT_LANES;
}

/** Whether linear can take the k-split kernel for this product (one row, f32 weights, k fits). */
export function ksplitFits(device: Device, rows: number, k: number, wDtype: string): boolean {
  const lanes = ksplitLanes(device);
  return lanes !== null && rows === 1 && wDtype === 'f32' && k > 0 && k % 4 === 0 && Math.ceil(k / 4 / lanes) <= KSPLIT_MAX_UNITS;
}

function ksplitKernel(lanes: number, units: number, silu: boolean) {
  const wg = Math.min(256, 4 * lanes);
  const groups = wg / lanes;
  const T = Math.ceil(units / lanes); // vec4s of x a lane holds
  const key = `linear-ksplit-${lanes}-${units}${silu ? '-silu' : ''}`;
  return {
    wg,
    columns: groups * COLUMNS_PER_SUBGROUP,
    kern: kernel(key, [...BINDINGS, 'read'], () => {
      const R = Array.from({ length: T }, (_, t) => t);
      // Slots past the row's end hold zeros (and read a clamped weight, so every load stays in range).
      const xs = R.map((t) => `let q${t} = min(lane + ${t * lanes}u, ${units - 1}u); let x${t} = select(vec4<f32>(0.0), x[q${t}], lane + ${t * lanes}u < ${units}u);`);
      return `enable subgroups;
// x [k/4] vec4, w [n, k/4] vec4 (a slice of rows starting at output column col0).
struct Params { n: u32, col0: u32, hasBias: u32, hasRes: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(1) @binding(2) var<storage, read> w: array<vec4<f32>>;
${BIAS_WGSL}
@group(1) @binding(5) var<storage, read> residual: array<f32>;

@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) lane: u32) {
  ${xs.join('\n  ')}
  let first = (${FLAT_WORKGROUP}) * ${groups * COLUMNS_PER_SUBGROUP}u + lid / ${lanes}u;
  for (var j = 0u; j < ${COLUMNS_PER_SUBGROUP}u; j++) {
    let c = first + j * ${groups}u;
    let o = min(c, p.n - 1u) * ${units}u;
    var s = 0.0;
    ${R.map((t) => `s += dot(x${t}, w[o + q${t}]);`).join(' ')}
    let total = subgroupAdd(s);
    if (lane == 0u && c < p.n) {
      let col = p.col0 + c;
      var v = total + addBias(col);${silu ? ' v = v / (1.0 + exp(-v));' : ''}
      if (p.hasRes != 0u) { v = residual[col] + v; }
      out[col] = v;
    }
  }
}`;
    }),
  };
}

/**
 * @internal Records the k-split product of one row x [k] with the rows col0 … col0 + n − 1 of w
 * (bound from col0), into out[col0 …]; ksplitFits must hold.
 */
export function dispatchKSplit(device: Device, x: Binding, w: Binding, bias: Binding | null, out: Binding, n: number, k: number, col0: number, fuse: { residual?: Binding; silu?: boolean }): void {
  const lanes = ksplitLanes(device)!;
  const { kern, columns } = ksplitKernel(lanes, k / 4, fuse.silu === true);
  const u = params(n, col0, bias ? 1 : 0, fuse.residual ? 1 : 0);
  device.dispatch(kern, [x, w, bias ?? x, out, fuse.residual ?? x], u, grid(device, Math.ceil(n / columns)));
}
