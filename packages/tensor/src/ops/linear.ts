// linear: y = x · wᵀ + bias with w stored [out, in] (llama2.c's layout), f32 or f16 weights.
//
// One kernel family, its register block chosen by row count. On the CPU adapters we run on
// (llvmpipe, SwiftShader) the invocations of a SIMD group run in lock step, and inside a loop
// llvmpipe compiles every storage load as a gather: one scalar load per lane and 32-bit word, each
// behind an execution-mask test and a bounds test, even where all lanes read the same address.
// So each invocation owns a few output columns and every row of x in its workgroup, and each
// gathered weight feeds rows × columns FMAs; with subgroups (ColumnConfig.share) each row of x is
// loaded by one lane in 8 and broadcast, instead of by every lane. Decoding one token is then a
// vec4 stream over w; 64 rows reuse each weight load 16 times. The workgroup-memory tiled kernel of
// matmul.ts stays available as path 'tiled' (it measured 2-4× slower on llvmpipe). Weights past
// maxStorageBufferBindingSize are bound as 256-byte-aligned slices of rows, one dispatch per slice.

import { checkDType, checkLive, checkRank, enableF16, FLAT_WORKGROUP, grid, kernel, params, rowChunks, shapeMismatch, SHARE_LANES, sharedRows, wgslFloat } from '../kernel';
import type { Binding, Device } from '../device';
import { DisposedError, OptionError, ShapeError } from '../errors';
import { dtypeBytes, formatShape, type DType, type Tensor } from '../tensor';
import { BIAS_WGSL, BINDINGS, DEFAULT_TILE, dispatchTiled, type TileConfig } from './matmul';
import { add } from './elementwise';
import { silu } from './unary';
import { linearQ8, QuantizedMatrix } from './linear-q8';
import { dispatchKSplit, KSPLIT_MAX_UNITS, ksplitByDefault, ksplitFits } from './linear-ksplit';

export interface LinearOptions {
  /**
   * Largest byte range of w bound at once; defaults to the device's maxStorageBufferBindingSize.
   * Lower it to exercise the chunked path on small weights.
   */
  maxBindingBytes?: number;
  /**
   * Kernel: by default the k-split kernel where it fits (one row, f32 weights, no prologue) on
   * devices with subgroups of 16 or more lanes (see linear-ksplit.ts), else the column kernel.
   * 'columns', 'ksplit' (an OptionError where it does not fit) or the workgroup-memory 'tiled'
   * kernel of matmul choose one (tests, benchmarks).
   */
  path?: 'columns' | 'ksplit' | 'tiled';
  /** Register block of the column kernel; by default chosen from the row count (benchmarks). */
  columns?: ColumnConfig;
  /** Tile shape for the tiled path (benchmarks). */
  tile?: TileConfig;
  /** Added to the result, y = residual + (x·wᵀ + bias): [rows, out] (or [out]) f32, as y. */
  residual?: Tensor;
  /**
   * Applied to x·wᵀ + bias before the residual is added: y = residual + SiLU(x·wᵀ + bias)
   * (Medusa's residual block in one dispatch). Column path only.
   */
  activation?: 'silu';
  /**
   * RMSNorm each row of x first, y = rmsnorm(x, weight, eps)·wᵀ + bias; weight is [in] f32, eps
   * defaults to 1e-5. Saves a dispatch and a pass over x, but on llvmpipe it measured ~10% slower
   * than rmsnorm + linear for one row (the scaled x costs registers in the weight loop).
   */
  normalize?: { weight: Tensor; eps?: number };
  /** x is [rows, 2·in], gate | up: y = (silu(gate) ⊙ up)·wᵀ + bias (the SwiGLU feed-forward's down projection). */
  swiglu?: boolean;
  /**
   * As swiglu with the tanh GELU for SiLU, y = (gelu_tanh(gate) ⊙ up)·wᵀ + bias: Gemma's GeGLU
   * (`gelu_pytorch_tanh`), gelu_tanh(g) = g/2·(1 + tanh(√(2/π)·(g + 0.044715·g³))).
   */
  geglu?: boolean;
}

/** Shape of the column kernel: wg invocations, each tc columns × tm rows of y. */
export interface ColumnConfig {
  wg: number;
  tm: number;
  tc: number;
  /** What neighbouring invocations differ in: output columns (default) or rows of x. */
  lanes?: 'cols' | 'rows';
  /** Keep vec4 partial sums (independent FMA chains) instead of summing each dot at once. */
  vacc?: boolean;
  /**
   * Rows of x shared through the subgroup: each of SHARE_LANES neighbouring lanes loads one row
   * and subgroupBroadcast hands it to the rest, instead of every lane loading every row. Needs
   * a device whose subgroups hold at least SHARE_LANES invocations (sharesRows), column lanes, and
   * tm ≤ SHARE_LANES or a multiple of it.
   */
  share?: boolean;
}

export { SHARE_LANES };

/** Whether the column kernels can share rows of x through subgroups on this device. */
export function sharesRows(device: Device): boolean {
  return device.subgroups !== null && device.subgroups.minSize >= SHARE_LANES;
}

/**
 * Register block by row count, measured on llvmpipe: one row streams w with two columns per
 * invocation; more rows reuse each weight load for up to 8 rows × 4 columns. A narrow one-row
 * product (`n` outputs, when given) gets 32-wide workgroups so both CPU threads find work. When
 * `n` is given the workgroup width is then fitted to it (fitWidth).
 */
export function columnConfig(rows: number, n = Infinity, share = false): ColumnConfig {
  return fitWidth(blockFor(rows, n, share), n);
}

function blockFor(rows: number, n: number, share: boolean): ColumnConfig {
  if (rows <= 1) return { wg: n < 4096 ? 32 : 64, tm: 1, tc: 2 };
  // Shared rows cost a broadcast, not a load, so blocks of 8 and 16 rows pay off: on lavapipe
  // 64×288·288→768 2.1× and 8×288·288→288 2.2× faster than per-lane loads (bench/tune-linear.ts).
  // Two columns a lane compile 2-3× faster than four and ran as fast or faster.
  if (share) return { wg: 32, tm: rows <= 4 ? 4 : rows < 16 ? 8 : 16, tc: 2, share };
  // Narrow products (small models, draft heads): smaller blocks give both CPU threads work. From
  // 16 rows and 256 columns on there are blocks enough for 8 rows × 4 columns an invocation, which
  // loads each weight once for twice the rows (64×288·288→288: 2.77 → 2.48 ms, 64×288·288→768:
  // 6.5 → 5.2 ms, 1024×64·64→512: 18.0 → 10.4 ms on lavapipe; fewer columns leave lanes idle).
  if (n < 1024) return rows >= 16 && n >= 256 ? { wg: 32, tm: 8, tc: 4 } : { wg: 32, tm: 4, tc: 2 };
  if (rows <= 4) return { wg: 64, tm: 4, tc: 4 };
  return { wg: 64, tm: 8, tc: 4 };
}

/** Workgroup widths fitWidth picks from: whole SIMD groups of a 256-bit CPU driver (8 lanes). */
const FIT_WIDTHS = [8, 16, 24, 32, 40, 48, 56, 64];

/**
 * The block with its workgroup width changed to the one that pads `n` least, nearest the block's
 * own width on ties (the narrower of two as near). Every invocation of the last column workgroup
 * runs whether its columns exist or not, so the padding is work thrown away: 64×288·288→288 with
 * 32 × 4 columns a workgroup computes 384 columns, with 24 × 4 exactly 288 (3.4 → 2.7 CPU-ms on
 * lavapipe, bench/tune-linear.ts, interleaved; int8 weights 3.6 → 2.7 ms, 4-bit 2.9 → 2.5 ms). One-row
 * products measured the same either way.
 */
export function fitWidth(c: ColumnConfig, n: number): ColumnConfig {
  if (!Number.isFinite(n) || c.lanes === 'rows') return c;
  const padded = (wg: number) => Math.ceil(n / (wg * c.tc)) * wg * c.tc;
  const order = [...FIT_WIDTHS].sort((a, b) => Math.abs(a - c.wg) - Math.abs(b - c.wg) || a - b);
  let wg = c.wg;
  for (const w of order) if (padded(w) < padded(wg)) wg = w;
  return wg === c.wg ? c : { ...c, wg };
}

/**
 * Register block of the quantized kernels: columnConfig's, except that a wide one-row product of
 * 4-bit weights takes 4 columns an invocation (1×288·288→32000 on lavapipe: 1.9 ms against 2.5 ms
 * with 2); either way fitted to `n`.
 */
export function quantConfig(bits: 8 | 4, rows: number, n: number, share = false): ColumnConfig {
  return fitWidth(bits === 4 && rows <= 1 && n >= 4096 ? { wg: 64, tm: 1, tc: 4 } : blockFor(rows, n, share), n);
}

// Column kernel: every invocation owns tc output columns (its weight rows) and all tm rows of x
// of its workgroup, so each weight load feeds tm FMAs. Each lane loads every row of x itself, or
// (share) lane l of each 8 loads row l and subgroupBroadcast hands it on: on llvmpipe a broadcast
// from a constant lane is one register shuffle, a load in a loop a gather of 8 lanes × 4 words.
// The scalar variant takes any strides, so matmul's transposed operands use it too; the vec4
// variant needs rows of x and w contiguous in k.
//
// Decoding is bound by the per-lane weight loads, whose cost on llvmpipe scales with the number of
// 32-bit words loaded, so f16 weights are read as packed pairs (vec4<u32>: 8 weights a load), not
// as vec4<f16>. The optional prologue (RMSNorm of each x row, or SwiGLU of x's gate | up halves)
// and epilogue (SiLU, then a residual added) save the dispatches and memory passes of separate ops: x is
// already read whole by every workgroup, so its inverse RMS costs one extra pass over the row.

/** Workgroup memory for a staged prologue, in vec4s (16 KiB, WebGPU's guaranteed minimum). */
const STAGE_VEC4 = 1024;
/** @internal Whether prologues are staged in workgroup memory where they fit (A/B switch). */
export const stagePrologue = { enabled: true };

/** What the column kernel does to x before the product. */
type Prologue = 'none' | 'rmsnorm' | 'swiglu' | 'geglu';

// Storage bindings: x, w, bias, out, residual (any buffer when absent), norm weight (rmsnorm only).
const FUSED_BINDINGS = [...BINDINGS, 'read'] as const;
const NORM_BINDINGS = [...BINDINGS, 'read', 'read'] as const;

function columnKernel(wDtype: DType, vec4: boolean, packed: boolean, c: ColumnConfig, prologue: Prologue, silu: boolean, stage: boolean, share: boolean) {
  const { wg, tm, tc } = c;
  const byRow = c.lanes === 'rows';
  const key = `linear-cols-${wDtype}-${packed ? 'p16' : vec4 ? 'v4' : 's'}-${wg}-${tm}x${tc}-${byRow ? 'rows' : 'cols'}${c.vacc ? '-vacc' : ''}-${prologue}${silu ? '-silu' : ''}${stage ? '-staged' : ''}${share ? '-shared' : ''}`;
  const cs = byRow ? 1 : wg; // column stride between an invocation's columns
  const rs = byRow ? wg : 1; // row stride between an invocation's rows
  return kernel(key, prologue === 'rmsnorm' ? NORM_BINDINGS : FUSED_BINDINGS, () => {
    const wt = wgslFloat(wDtype);
    const I = Array.from({ length: tm }, (_, i) => i);
    const J = Array.from({ length: tc }, (_, j) => j);
    // Each loop step consumes S x units (vec4 or scalar): 2 for packed f16 (8 weights), else 1.
    const S = packed ? [0, 1] : [0];

    const conv = vec4 ? 'vec4<f32>' : 'f32';
    const vacc = vec4 && c.vacc === true;
    const mac = (i: number, j: number, s: number) =>
      vec4 && !vacc ? `acc${i}_${j} += dot(xv${s}, w${j}_${s});` : `acc${i}_${j} = fma(xv${s}, w${j}_${s}, acc${i}_${j});`;
    const total = (i: number, j: number) => (vacc ? `dot(acc${i}_${j}, vec4<f32>(1.0))` : `acc${i}_${j}`);
    const store: string[] = [];
    for (const i of I) {
      for (const j of J) {
        const r = `r0 + ${i * rs}u`;
        const col = `c + ${j * cs}u`;
        store.push(`if (${r} < p.rows && ${col} < p.n) { let o = (${r}) * p.ldc + p.col0 + ${col}; var v = ${total(i, j)} + addBias(p.col0 + ${col});${silu ? ' v = v / (1.0 + exp(-v));' : ''} if (p.hasRes != 0u) { v = residual[o] + v; } out[o] = v; }`);
      }
    }
    const units = vec4 ? 'p.k / 4u' : 'p.k';
    // x at row offset `row` (an expression), unit u.
    const xAt = (row: string, u: string) => `x[${row} + (${u})${vec4 ? '' : ' * p.saq'}]`;
    const unit = (s: number) => (packed ? `2u * q + ${s}u` : 'q');
    // `let name = prologue(x[row, unit u])` with the row's inverse RMS `inv`: the same statement in
    // the inner loop and when staged.
    const prologueOf = (name: string, row: string, inv: string, u: string) => {
      if (prologue === 'rmsnorm') return `let ${name} = ${xAt(row, u)} * ${inv} * g[${u}];`;
      if (prologue === 'swiglu') return `let g${name} = ${xAt(row, u)}; let ${name} = g${name} / (1.0 + exp(-g${name})) * ${xAt(row, `${u} + p.up`)};`;
      // g/2·(1 + tanh(t)) = g·σ(2t): one exp, and no overflow to NaN for large |g|
      if (prologue === 'geglu') return `let g${name} = ${xAt(row, u)}; let ${name} = g${name} / (1.0 + exp(-1.5957691216057308 * (g${name} + 0.044715 * g${name} * g${name} * g${name}))) * ${xAt(row, `${u} + p.up`)};`;
      return `let ${name} = ${xAt(row, u)};`;
    };
    // Shared rows (sharedRows): each lane loads one row of its group, from x or the staged rows.
    const shared = sharedRows(tm);
    const sharedLoads = share
      ? shared.groups
          .map((g) => S.map((s) => (stage ? `let xo${g}_${s} = xs[min(${shared.row(g)}, ${tm - 1}u) * ${units} + ${unit(s)}];` : `let xo${g}_${s} = ${xAt(`xl${g}`, unit(s))};`)).join(' '))
          .join(' ')
      : '';
    const xLoad = (i: number, s: number) =>
      share
        ? `let xv${s} = ${shared.broadcast((g) => `xo${g}_${s}`, i)};`
        : stage
          ? `let xv${s} = xs[${i}u * ${units} + ${unit(s)}];`
          : prologueOf(`xv${s}`, `x${i}`, `inv${i}`, unit(s));
    const wLoad = (j: number) =>
      packed
        ? `let u${j} = w[o${j} + q]; let w${j}_0 = vec4<f32>(unpack2x16float(u${j}.x), unpack2x16float(u${j}.y)); let w${j}_1 = vec4<f32>(unpack2x16float(u${j}.z), unpack2x16float(u${j}.w));`
        : `let w${j}_0 = ${conv}(w[o${j} + q${vec4 ? '' : ' * p.sbq'}]);`;
    // The inverse RMS of a row: one pass over the row before the product (as rmsnorm computes it).
    const invRms = (row: string, inv: string) => `var ss = 0.0;
    for (var q = 0u; q < ${units}; q++) { let v = ${xAt(row, 'q')}; ss += ${vec4 ? 'dot(v, v)' : 'v * v'}; }
    ${inv} = inverseSqrt(ss / f32(p.k) + p.eps);`;
    const norm = prologue === 'rmsnorm' && !stage ? I.map((i) => `var inv${i} = 0.0; { ${invRms(`x${i}`, `inv${i}`)} }`).join('\n  ') : '';
    // Staged prologue: the workgroup writes its rows' prologue(x) to workgroup memory once, and
    // the product reads it from there, instead of every lane redoing it in the inner loop. Lanes
    // take rows (inverse RMS) and then elements (prologue) in turn: two loops whatever tm is.
    const staged = !stage
      ? ''
      : `${prologue === 'rmsnorm' ? `for (var r = lid; r < ${tm}u; r += ${wg}u) { let xr = min(r0 + r, p.rows - 1u) * p.sar; ${invRms('xr', 'invs[r]')} }
  workgroupBarrier();` : ''}
  for (var e = lid; e < ${tm}u * ${units}; e += ${wg}u) { let i = e / (${units}); let q = e - i * (${units}); let xr = min(r0 + i, p.rows - 1u) * p.sar; ${prologueOf('v', 'xr', 'invs[i]', 'q')} xs[e] = v; }
  workgroupBarrier();`;
    return `${packed ? '' : enableF16(wDtype)}${share ? 'enable subgroups;\n' : ''}
// x[r, q] at r·sar + q·saq, w[c, q] at c·sbc + q·sbq (in vec4 units for the vec4 variant; in
// vec4<u32> units of 8 halves for w when packed). up: offset of the up half of x (swiglu).
struct Params { rows: u32, n: u32, k: u32, ldc: u32, col0: u32, hasBias: u32, sar: u32, saq: u32, sbc: u32, sbq: u32, hasRes: u32, up: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<${vec4 ? 'vec4<f32>' : 'f32'}>;
@group(1) @binding(2) var<storage, read> w: array<${packed ? 'vec4<u32>' : vec4 ? `vec4<${wt}>` : wt}>;
${BIAS_WGSL}
@group(1) @binding(5) var<storage, read> residual: array<f32>;
${prologue === 'rmsnorm' ? `@group(1) @binding(6) var<storage, read> g: array<${conv}>;` : ''}
${stage ? `var<workgroup> xs: array<vec4<f32>, ${STAGE_VEC4}>;` : ''}
${stage && prologue === 'rmsnorm' ? `var<workgroup> invs: array<f32, ${tm}>;` : ''}

@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32${share ? ', @builtin(subgroup_invocation_id) lane: u32' : ''}) {
  let c = ${byRow ? `(${FLAT_WORKGROUP}) * ${tc}u` : `(${FLAT_WORKGROUP}) * ${wg * tc}u + lid`};
  let r0 = ${byRow ? `wid.z * ${wg * tm}u + lid` : `wid.z * ${tm}u`};
  // Clamped indices keep every load in range; results of clamped rows and columns are not stored.
  ${J.map((j) => `let o${j} = min(c + ${j * cs}u, p.n - 1u) * p.sbc;`).join('\n  ')}
  ${stage ? '' : share ? shared.offsets('p.rows', 'p.sar') : I.map((i) => `let x${i} = min(r0 + ${i * rs}u, p.rows - 1u) * p.sar;`).join('\n  ')}
  ${norm}
  ${staged}
  ${I.flatMap((i) => J.map((j) => `var acc${i}_${j} = ${vacc ? 'vec4<f32>(0.0)' : '0.0'};`)).join('\n  ')}
  for (var q = 0u; q < ${packed ? 'p.k / 8u' : units}; q++) {
    ${J.map(wLoad).join('\n    ')}
    ${sharedLoads}
    ${I.map((i) => `{ ${S.map((s) => xLoad(i, s)).join(' ')} ${S.map((s) => J.map((j) => mac(i, j, s)).join(' ')).join(' ')} }`).join('\n    ')}
  }
  ${store.join('\n  ')}
}`;
  });
}

/** Element strides of the column kernel's operands; absent means both contiguous in k. */
export interface ColumnStrides {
  sar: number;
  saq: number;
  sbc: number;
  sbq: number;
}

/** @internal What the column kernel fuses around the product (see LinearOptions). */
export interface ColumnFusion {
  residual?: Binding;
  norm?: { weight: Binding; eps: number };
  /** x holds gate | up halves of width k each; the product uses silu(gate)·up. */
  swiglu?: boolean;
  /** As swiglu with gelu_tanh(gate)·up. */
  geglu?: boolean;
  /** SiLU of the product plus bias, before the residual. */
  silu?: boolean;
}

/** @internal Records one dispatch of the column kernel: out[r, col0 + c] = Σ_q x[r, q]·w[c, q] (+ bias), SiLU'd if asked (+ residual). */
export function dispatchColumns(device: Device, wDtype: DType, x: Binding, w: Binding, bias: Binding | null, out: Binding, rows: number, n: number, k: number, ldc: number, col0: number, c: ColumnConfig, strides?: ColumnStrides, fuse: ColumnFusion = {}): void {
  const vec4 = !strides && k % 4 === 0;
  const packed = vec4 && wDtype === 'f16' && k % 8 === 0;
  const prologue: Prologue = fuse.norm ? 'rmsnorm' : fuse.swiglu ? 'swiglu' : fuse.geglu ? 'geglu' : 'none';
  const stage = stagePrologue.enabled && prologue !== 'none' && vec4 && !packed && c.lanes !== 'rows' && (c.tm * k) / 4 <= STAGE_VEC4;
  // An unstaged prologue works on x as loaded, row by row: those blocks keep their per-lane loads.
  const share = c.share === true && (prologue === 'none' || stage);
  const kern = columnKernel(wDtype, vec4, packed, c, prologue, fuse.silu === true, stage, share);
  const ld = vec4 ? k / 4 : k;
  const xRow = fuse.swiglu || fuse.geglu ? 2 * ld : ld;
  const st = strides ?? { sar: xRow, saq: 1, sbc: packed ? k / 8 : ld, sbq: 1 };
  const byRow = c.lanes === 'rows';
  const [gx, gy] = grid(device, Math.ceil(n / (byRow ? c.tc : c.wg * c.tc)));
  const gz = Math.ceil(rows / (byRow ? c.wg * c.tm : c.tm));
  const buffers = [x, w, bias ?? x, out, fuse.residual ?? x];
  if (fuse.norm) buffers.push(fuse.norm.weight);
  const u = params(rows, n, k, ldc, col0, bias ? 1 : 0, st.sar, st.saq, st.sbc, st.sbq, fuse.residual ? 1 : 0, ld, { f32: fuse.norm?.eps ?? 0 });
  device.dispatch(kern, buffers, u, [gx, gy, gz]);
}

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

interface Checked {
  device: Device;
  rows: number;
  k: number;
  n: number;
  outShape: number[];
}

function checkLinear(op: string, x: Tensor, weight: Tensor | QuantizedMatrix, bias: Tensor | undefined, gated?: 'swiglu' | 'geglu'): Checked {
  if (weight instanceof QuantizedMatrix && weight.disposed) throw new DisposedError(`${op}: input ${weight.describe()} was disposed`);
  const w = weight instanceof QuantizedMatrix ? weight.q : weight; // for the checks below: the device and a description
  const device = bias ? checkLive(op, x, w, bias) : checkLive(op, x, w);
  checkRank(op, 'x', x, 1, 2);
  checkDType(op, 'x', x, 'f32');
  if (!(weight instanceof QuantizedMatrix)) {
    checkRank(op, 'w', weight, 2);
    checkDType(op, 'w', weight, 'f32', 'f16');
  }
  const xk = x.shape[x.rank - 1];
  const k = gated ? xk / 2 : xk;
  const rows = x.rank === 2 ? x.shape[0] : 1;
  const [n, kw] = weight.shape;
  const wShape: [string, { shape: readonly number[] }] = ['w', weight];
  if (gated && kw * 2 !== xk) {
    throw shapeMismatch(op, `with ${gated}, x's last dimension ${xk} must be twice w's input dimension ${kw} (gate | up halves; w is [out, in])`, ['x', x], wShape);
  }
  if (kw !== k) throw shapeMismatch(op, `x's last dimension ${k} differs from w's input dimension ${kw} (w is [out, in])`, ['x', x], wShape);
  if (bias) {
    checkDType(op, 'bias', bias, 'f32');
    if (bias.rank !== 1 || bias.shape[0] !== n) throw shapeMismatch(op, `bias must be [${n}] (w's output dimension)`, wShape, ['bias', bias]);
  }
  const outShape = x.rank === 2 ? [rows, n] : [n];
  const limit = device.limits.maxStorageBufferBindingSize;
  if (x.byteLength > limit || rows * n * 4 > limit) {
    throw new ShapeError(`${op}: x ${formatShape(x.shape)} or its output ${formatShape(outShape)} exceeds maxStorageBufferBindingSize (${limit} bytes); split the rows`);
  }
  return { device, rows, k, n, outShape };
}

/**
 * y = x · wᵀ + bias. x is [rows, in] (or [in]) f32, w is [out, in] f32 or f16 (or a
 * QuantizedMatrix, int8 or 4-bit: x is then quantized to int8 groups too), bias is [out]; returns y [rows, out] (or
 * [out]) f32, accumulated in f32.
 */
export function linear(x: Tensor, w: Tensor | QuantizedMatrix, bias?: Tensor, options: LinearOptions = {}): Tensor<'f32'> {
  const op = 'linear';
  const { device, rows, k, n, outShape } = checkLinear(op, x, w, bias, options.swiglu === true ? 'swiglu' : options.geglu === true ? 'geglu' : undefined);
  const maxBinding = options.maxBindingBytes ?? device.limits.maxStorageBufferBindingSize;
  if (!(Number.isInteger(maxBinding) && maxBinding >= 256)) {
    throw new OptionError(`linear: maxBindingBytes ${maxBinding} must be an integer ≥ 256`);
  }
  if (options.path !== undefined && !['columns', 'ksplit', 'tiled'].includes(options.path)) {
    throw new OptionError(`linear: path must be 'columns', 'ksplit' or 'tiled', got ${JSON.stringify(options.path)}`);
  }
  const fuse = checkFusion(x, k, outShape, options.path ?? 'columns', options);
  const quantized = w instanceof QuantizedMatrix;
  const fits = !quantized && !options.columns && !fuse.norm && !fuse.swiglu && !fuse.geglu && ksplitFits(device, rows, k, w.dtype);
  if (options.path === 'ksplit' && !fits) {
    throw new OptionError(`linear: path 'ksplit' needs one row, f32 weights, k a multiple of 4 and at most ${KSPLIT_MAX_UNITS * 4} per subgroup lane, subgroups of one size, and no columns, normalize, swiglu or geglu option; got ${rows} row(s), k ${k}, ${quantized ? 'quantized' : w.dtype} weights on ${device.name}`);
  }
  const path = options.path ?? (fits && ksplitByDefault(device) ? 'ksplit' : 'columns');
  if (rows === 0 || n === 0) return device.empty(outShape, 'f32');
  if (k === 0) {
    let y = bias ? copyRows(device, bias, rows, outShape) : device.zeros(outShape, 'f32');
    if (fuse.silu) {
      const s = silu(y);
      y.dispose();
      y = s;
    }
    if (!options.residual) return y;
    const sum = add(options.residual, y);
    y.dispose();
    return sum;
  }
  const columns = options.columns && checkColumns(device, options.columns);
  const out = device.empty(outShape, 'f32'); // [rows, out]
  if (w instanceof QuantizedMatrix) {
    if (path !== 'columns') throw new OptionError(`linear: quantized weights (${w.describe()}) have only the column path, got path '${path}'`);
    linearQ8(device, x, w, bias, out, rows, n, k, columns ?? quantConfig(w.bits, rows, n, sharesRows(device)), maxBinding, fuse);
    return out;
  }
  const wBytes = dtypeBytes(w.dtype);
  for (const [c0, cn] of rowChunks('linear', w, k * wBytes, n, maxBinding)) {
    const offset = c0 * k * wBytes;
    const size = Math.min(Math.ceil((cn * k * wBytes) / 4) * 4, w.buffer.size - offset);
    const wb: Binding = c0 === 0 && cn === n ? w.buffer : { buffer: w.buffer, offset, size };
    const bb = bias ? bias.buffer : null;
    if (path === 'ksplit') {
      dispatchKSplit(device, x.buffer, wb, bb, out.buffer, cn, k, c0, fuse);
    } else if (path === 'columns') {
      dispatchColumns(device, w.dtype, x.buffer, wb, bb, out.buffer, rows, cn, k, n, c0, columns ?? columnConfig(rows, cn, sharesRows(device)), undefined, fuse);
    } else {
      const spec = { transposeA: false, transposeB: true, bDtype: w.dtype, tile: options.tile ?? DEFAULT_TILE };
      dispatchTiled(device, spec, x.buffer, wb, bb, out.buffer, { m: rows, n: cn, k, ldc: n, col0: c0, ldb: k });
    }
  }
  return out;
}

/** Validates a register block given to linear (LinearOptions.columns). */
function checkColumns(device: Device, c: ColumnConfig): ColumnConfig {
  const op = 'linear';
  const whole = (v: unknown, max: number) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= max;
  if (!whole(c.wg, device.limits.maxComputeInvocationsPerWorkgroup) || !whole(c.tm, 64) || !whole(c.tc, 16)) {
    throw new OptionError(`${op}: columns ${JSON.stringify(c)} needs whole wg in [1, ${device.limits.maxComputeInvocationsPerWorkgroup}], tm in [1, 64] and tc in [1, 16]`);
  }
  if (c.share) {
    if (!sharesRows(device)) throw new OptionError(`${op}: columns.share needs subgroups of at least ${SHARE_LANES} invocations; ${device.name} has ${device.subgroups ? `subgroups of ${device.subgroups.minSize}-${device.subgroups.maxSize}` : 'no subgroups feature'}`);
    if (c.lanes === 'rows') throw new OptionError(`${op}: columns.share needs lanes 'cols', got lanes 'rows'`);
    if (c.tm > SHARE_LANES && c.tm % SHARE_LANES !== 0) throw new OptionError(`${op}: columns.share needs tm ≤ ${SHARE_LANES} or a multiple of ${SHARE_LANES}, got tm ${c.tm}`);
    if (c.wg % SHARE_LANES !== 0) throw new OptionError(`${op}: columns.share needs wg a multiple of ${SHARE_LANES} (whole groups of loading lanes), got wg ${c.wg}`);
  }
  return c;
}

/** Validates the fused prologue/epilogue options of linear. */
function checkFusion(x: Tensor, k: number, outShape: number[], path: string, o: LinearOptions): ColumnFusion {
  const op = 'linear';
  const { residual, normalize, swiglu, geglu, activation } = o;
  if (swiglu !== undefined && typeof swiglu !== 'boolean') throw new OptionError(`${op}: option swiglu must be a boolean, got ${String(swiglu)}`);
  if (geglu !== undefined && typeof geglu !== 'boolean') throw new OptionError(`${op}: option geglu must be a boolean, got ${String(geglu)}`);
  if (swiglu && geglu) throw new OptionError(`${op}: options swiglu and geglu cannot be combined`);
  if (activation !== undefined && activation !== 'silu') throw new OptionError(`${op}: option activation must be 'silu' or absent, got ${JSON.stringify(activation)}`);
  if (!residual && !normalize && !swiglu && !geglu && !activation) return {};
  if (path === 'tiled') throw new OptionError(`${op}: options residual, normalize, swiglu, geglu and activation need path 'columns' or 'ksplit', got path '${path}'`);
  if (normalize && (swiglu || geglu)) throw new OptionError(`${op}: options normalize and ${swiglu ? 'swiglu' : 'geglu'} cannot be combined`);
  const fuse: ColumnFusion = { swiglu: swiglu === true, geglu: geglu === true, silu: activation === 'silu' };
  if (residual) {
    checkLive(op, x, residual);
    checkDType(op, 'residual', residual, 'f32');
    if (residual.shape.join() !== outShape.join()) throw shapeMismatch(op, `residual must have the output's shape ${formatShape(outShape)}`, ['x', x], ['residual', residual]);
    fuse.residual = residual.buffer;
  }
  if (normalize) {
    const { weight, eps = 1e-5 } = normalize;
    checkLive(op, x, weight);
    checkDType(op, 'normalize.weight', weight, 'f32');
    if (weight.rank !== 1 || weight.shape[0] !== k) throw shapeMismatch(op, `normalize.weight must be [${k}] (x's last dimension)`, ['x', x], ['normalize.weight', weight]);
    if (!Number.isFinite(eps) || eps < 0) throw new OptionError(`${op}: normalize.eps must be a finite number >= 0, got ${eps}`);
    fuse.norm = { weight: weight.buffer, eps };
  }
  return fuse;
}

/** y[r] = bias for every row (linear with an empty input dimension). */
function copyRows(device: Device, bias: Tensor, rows: number, outShape: number[]): Tensor<'f32'> {
  const out = device.empty(outShape, 'f32');
  for (let r = 0; r < rows; r++) device.copyBuffer(bias.buffer, 0, out.buffer, r * bias.byteLength, bias.byteLength);
  return out;
}

/** The one-invocation-per-output baseline linear() is measured against. Same contract as linear. */
export function linearNaive(x: Tensor, w: Tensor, bias?: Tensor): Tensor<'f32'> {
  const op = 'linearNaive';
  const { device, rows, k, n, outShape } = checkLinear(op, x, w, bias);
  const limit = device.limits.maxStorageBufferBindingSize;
  if (w.byteLength > limit) throw new ShapeError(`linearNaive: w ${formatShape(w.shape)} exceeds maxStorageBufferBindingSize (${limit} bytes); use linear`);
  const out = device.empty(outShape, 'f32'); // [rows, out]
  if (rows * n === 0) return out;
  const kern = naiveKernel(w.dtype);
  device.dispatch(kern, [x.buffer, w.buffer, (bias ?? x).buffer, out.buffer], params(rows, n, k, bias ? 1 : 0), grid(device, Math.ceil((rows * n) / NAIVE_WG)));
  return out;
}
