// The column kernel of linear (f32 or f16 weights): y[r, c] = Σ_q x[r, q]·w[c, q] (+ bias, SiLU, + residual).
//
// On the CPU adapters we run on (llvmpipe, SwiftShader) the invocations of a SIMD group run in
// lock step, and inside a loop llvmpipe compiles every storage load as a gather: one scalar load
// per lane and 32-bit word, each behind an execution-mask test and a bounds test, even where all
// lanes read the same address. So each invocation owns a few output columns and every row of x in
// its workgroup, and each gathered weight feeds rows × columns FMAs; with subgroups
// (ColumnConfig.share) each row of x is loaded by one lane in 8 and broadcast, instead of by every
// lane. Decoding one token is then a vec4 stream over w; 64 rows reuse each weight load 16 times.
import { enableF16, FLAT_WORKGROUP, grid, kernel, params, sharedRows, wgslFloat } from '../../kernel';
import type { Binding, Device } from '../../device';
import type { DType } from '../../tensor';
import { flags } from '../../flags';
import { BIAS_WGSL, BINDINGS, prologueOf, type ColumnConfig, type ColumnFusion, type ColumnStrides, type Prologue } from './shared';

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

/** @internal Records one dispatch of the column kernel: out[r, col0 + c] = Σ_q x[r, q]·w[c, q] (+ bias), SiLU'd if asked (+ residual). */
export function dispatchColumns(device: Device, wDtype: DType, x: Binding, w: Binding, bias: Binding | null, out: Binding, rows: number, n: number, k: number, ldc: number, col0: number, c: ColumnConfig, strides?: ColumnStrides, fuse: ColumnFusion = {}): void {
  const vec4 = !strides && k % 4 === 0;
  const packed = vec4 && wDtype === 'f16' && k % 8 === 0;
  const prologue = prologueOf(fuse);
  const stage = flags.stagePrologue && prologue !== 'none' && vec4 && !packed && c.lanes !== 'rows' && (c.tm * k) / 4 <= STAGE_VEC4;
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
