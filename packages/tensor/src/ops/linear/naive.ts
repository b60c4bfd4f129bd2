// The one-invocation-per-output baseline of linear: each invocation walks its own row of w.
// linear is measured against it (bench:tensor); no selection ever picks it.
import { enableF16, FLAT_WORKGROUP, grid, kernel, params, wgslFloat } from '../../kernel';
import type { Binding, Device } from '../../device';
import type { DType } from '../../tensor';
import { BIAS_WGSL, BINDINGS } from './shared';

const NAIVE_WG = 64;

function naiveKernel(wDtype: DType) {
  return kernel(`linear-naive-${wDtype}`, BINDINGS, () => `${enableF16(wDtype)}
struct Params { rows: u32, n: u32, k: u32, hasBias: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<f32>;
@group(1) @binding(2) var<storage, read> w: array<${wgslFloat(wDtype)}>;
${BIAS_WGSL}

@compute @workgroup_size(${NAIVE_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (${FLAT_WORKGROUP}) * ${NAIVE_WG}u + lid;
  if (i >= p.rows * p.n) { return; }
  let r = i / p.n;
  let o = i % p.n;
  var sum = 0.0;
  for (var q = 0u; q < p.k; q++) { sum += x[r * p.k + q] * f32(w[o * p.k + q]); }
  out[i] = sum + addBias(o);
}`);
}

/** @internal Records out[r, o] = Σ_q x[r, q]·w[o, q] + bias[o], one invocation an output. */
export function dispatchNaive(device: Device, wDtype: DType, x: Binding, w: Binding, bias: Binding | null, out: Binding, rows: number, n: number, k: number): void {
  device.dispatch(naiveKernel(wDtype), [x, w, bias ?? x, out], params(rows, n, k, bias ? 1 : 0), grid(device, Math.ceil((rows * n) / NAIVE_WG)));
}
