// Rotary position embedding at arbitrary per-row positions (tree rows share positions), in the
// two layouts checkpoints use: 'interleaved' (llama2.c: pairs (2i, 2i+1) of each head) and 'half'
// (Hugging Face rotate-half: pairs (i, i + headDim/2)). Pair i turns by pos · theta^(-2i/headDim).
//
// Angles reach ~3·10⁴ rad at long positions, where an f32 product pos·freq is already off by ~10⁻³
// rad, and WGSL sin/cos are only specified to 2⁻¹¹ on [-π, π] (SwiftShader is that coarse). So
// the angle is reduced in turns, exactly: freq/2π is split on the host (f64) into three f32 parts
// of 7 significant bits each plus a tail; pos·part is exact for |pos| < 2¹⁷, fract() of each is
// exact, and only the tail term rounds. sin/cos are then short Taylor polynomials on [-π/4, π/4].

import { IndexError, OptionError, ShapeError } from '../errors';
import { checkDType, checkLive, checkRank, FLAT_WORKGROUP, grid, kernel, params, shapeMismatch } from '../kernel';
import { formatShape, Tensor } from '../tensor';

const WG = 256;

export type RopeLayout = 'interleaved' | 'half';

export interface RopeOptions {
  /** Size of one head; x's second dimension is a multiple of it. Must be even. */
  headDim: number;
  /** Base of the frequencies (10000 in llama2.c). */
  theta?: number;
  /**
   * The angle per position of each pair, radians [headDim/2], in place of theta^(-2i/headDim): a
   * scaled table (Llama 3.1's, linear or NTK scaling) computed once on the host.
   */
  freqs?: ArrayLike<number>;
  layout: RopeLayout;
}

/**
 * WGSL: cos and sin of the angle pos·freq for one pair, from that pair's entry of turnTable().
 * Shared by every kernel that rotates, so they agree to the bit.
 */
export const ROTATION_WGSL = `
fn rotation(t: vec4f, position: i32) -> vec2f {
  let q = f32(position);
  // Each of the first three products is exact; fract keeps the sum small before it rounds.
  let r = fract(q * t.x) + fract(q * t.y) + fract(q * t.z) + fract(q * t.w);
  // Quarter turns: angle = (n + f)·π/2 with |f| <= 1/2, so the polynomials see |x| <= π/4.
  let u = 4.0 * r;
  let n = round(u);
  let v = (u - n) * 1.5707963267948966;
  let v2 = v * v;
  let sv = v * (1.0 + v2 * (-1.0 / 6.0 + v2 * (1.0 / 120.0 + v2 * (-1.0 / 5040.0 + v2 * (1.0 / 362880.0)))));
  let cv = 1.0 + v2 * (-0.5 + v2 * (1.0 / 24.0 + v2 * (-1.0 / 720.0 + v2 * (1.0 / 40320.0 + v2 * (-1.0 / 3628800.0)))));
  switch (i32(n) & 3) {
    case 1: { return vec2f(-sv, cv); }
    case 2: { return vec2f(-cv, -sv); }
    case 3: { return vec2f(sv, -cv); }
    default: { return vec2f(cv, sv); }
  }
}`;

function ropeKernel(layout: RopeLayout) {
  // a and b are the two elements of pair i within head h.
  const pair = layout === 'interleaved' ? 'let a = h * p.head_dim + 2u * i;\n  let b = a + 1u;' : 'let a = h * p.head_dim + i;\n  let b = a + p.half;';
  return kernel(`rope-${layout}`, ['read', 'read', 'read', 'read_write'], () => `
struct Params { pairs: u32, dim: u32, head_dim: u32, half: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<f32>;
@group(1) @binding(2) var<storage, read> pos: array<i32>;
@group(1) @binding(3) var<storage, read> turns: array<vec4f>; // [half] freq/2π split in 4 parts
@group(1) @binding(4) var<storage, read_write> out: array<f32>;
${ROTATION_WGSL}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let k = (${FLAT_WORKGROUP}) * ${WG}u + lid;
  if (k >= p.pairs) { return; }
  let pairs_per_row = p.dim / 2u;
  let row = k / pairs_per_row;
  let j = k % pairs_per_row;
  let h = j / p.half;
  let i = j % p.half;
  ${pair}
  let cs = rotation(turns[i], pos[row]);
  let c = cs.x;
  let s = cs.y;
  let base = row * p.dim;
  let xa = x[base + a];
  let xb = x[base + b];
  out[base + a] = xa * c - xb * s;
  out[base + b] = xa * s + xb * c;
}`);
}

/**
 * freq_i / 2π for each pair i, split into parts whose products with 17-bit integers are exact.
 * freq_i is freqs[i] when given, else theta^(-2i/headDim).
 */
export function turnTable(headDim: number, theta: number, freqs?: ArrayLike<number>): Float32Array {
  const half = headDim / 2;
  const out = new Float32Array(half * 4);
  for (let i = 0; i < half; i++) {
    let rest = (freqs ? freqs[i] : Math.pow(theta, (-2 * i) / headDim)) / (2 * Math.PI);
    for (let part = 0; part < 3; part++) {
      const hi = keepBits(rest, 7);
      out[i * 4 + part] = hi;
      rest -= hi;
    }
    out[i * 4 + 3] = rest;
  }
  return out;
}

/** v rounded to `bits` significant bits (exactly representable in f32). */
function keepBits(v: number, bits: number): number {
  if (v === 0) return 0;
  const e = Math.floor(Math.log2(Math.abs(v))) - bits + 1;
  const q = Math.pow(2, e);
  return Math.round(v / q) * q;
}

/** @internal Checks a head size (positive, even), a layout, a theta and a frequency table, as rope and ropeCache take them. */
export function checkRopeOptions(op: string, headDim: number, layout: RopeLayout, theta: number, freqs?: ArrayLike<number>): void {
  if (!Number.isInteger(headDim) || headDim <= 0) throw new OptionError(`${op}: headDim must be a positive integer, got ${headDim}`);
  if (headDim % 2 !== 0) throw new ShapeError(`${op}: headDim ${headDim} is odd; rotary pairs need an even head size`);
  if (layout !== 'interleaved' && layout !== 'half') throw new OptionError(`${op}: layout must be 'interleaved' or 'half', got '${String(layout)}'`);
  if (!Number.isFinite(theta) || theta <= 1) throw new OptionError(`${op}: theta must be a finite number > 1, got ${theta}`);
  if (freqs !== undefined) {
    if (freqs.length !== headDim / 2) throw new ShapeError(`${op}: freqs has ${freqs.length} entries, expected headDim/2 = ${headDim / 2}`);
    for (let i = 0; i < freqs.length; i++) {
      if (!(Number.isFinite(freqs[i]) && freqs[i] >= 0)) throw new OptionError(`${op}: freqs[${i}] = ${freqs[i]}, expected a finite number >= 0`);
    }
  }
}

/**
 * @internal Checks positions for the rows of x (called `name`): an i32 tensor [rows] on x's device,
 * or host integers in [0, 2³¹), one per row.
 */
export function checkPositions(op: string, positions: Tensor | ArrayLike<number>, name: string, x: Tensor): void {
  const rows = x.shape[0];
  if (positions instanceof Tensor) {
    checkLive(op, x, positions);
    checkDType(op, 'positions', positions, 'i32');
    checkRank(op, 'positions', positions, 1);
    if (positions.shape[0] !== rows) throw shapeMismatch(op, `positions must have one entry per row of ${name}`, [name, x], ['positions', positions]);
    return;
  }
  if (positions.length !== rows) throw new ShapeError(`${op}: ${positions.length} positions for ${name} ${formatShape(x.shape)}, expected ${rows}`);
  for (let r = 0; r < rows; r++) {
    const v = positions[r];
    if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) throw new IndexError(`${op}: position ${v} at row ${r} is not an integer in [0, 2^31)`);
  }
}

/**
 * Rotates pairs of each head of x ([rows, nHeads·headDim]) by its row's position. `positions` is
 * an i32 tensor [rows] or a host array (validated: integers in [0, 2³¹)). Positions are exact up to
 * 2¹⁷; a GPU tensor's negative positions rotate backwards. Returns a new tensor the caller owns.
 */
export function rope(x: Tensor, positions: Tensor | ArrayLike<number>, options: RopeOptions): Tensor<'f32'> {
  const op = 'rope';
  const posTensor = positions instanceof Tensor ? positions : null;
  const device = posTensor ? checkLive(op, x, posTensor) : checkLive(op, x);
  checkDType(op, 'x', x, 'f32');
  checkRank(op, 'x', x, 2);
  const [rows, dim] = x.shape;
  const { headDim, layout } = options;
  const theta = options.theta ?? 10000;
  checkRopeOptions(op, headDim, layout, theta, options.freqs);
  if (dim % headDim !== 0) throw new ShapeError(`${op}: x [${rows}, ${dim}] second dimension is not a multiple of headDim ${headDim}`);
  checkPositions(op, positions, 'x', x);
  const out = device.empty([rows, dim], 'f32'); // [rows, dim]
  if (rows === 0 || dim === 0) return out;
  const pos = posTensor ?? device.tensor(positions as ArrayLike<number>, [rows], 'i32');
  const turns = device.tensor(turnTable(headDim, theta, options.freqs), [headDim / 2, 4]);
  const pairs = (rows * dim) / 2;
  device.dispatch(ropeKernel(layout), [x.buffer, pos.buffer, turns.buffer, out.buffer], params(pairs, dim, headDim, headDim / 2), grid(device, Math.ceil(pairs / WG)));
  // Buffers released here go back to the pool only after the recorded dispatch is submitted.
  turns.dispose();
  if (pos !== posTensor) pos.dispose();
  return out;
}
