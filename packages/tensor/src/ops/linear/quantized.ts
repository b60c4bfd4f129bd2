// The quantized column kernels of linear: y = x · wᵀ where w is stored as 8-bit integers in groups of 32
// along its input dimension, one f32 scale a group (the Q8_0 scheme of llama2.c's runq.c), or as
// 4-bit integers in the same groups (Q4Matrix). A first
// dispatch quantizes the rows of x (after the optional RMSNorm or SwiGLU prologue) the same way,
// so every group's dot product is an exact integer sum of dot4I8Packed calls (four products
// each), scaled once by both groups' scales. (Quantizing x inside the product kernel instead, in
// workgroup memory behind a barrier, measured ~40 % slower on llvmpipe: every workgroup redid it.)
//
// Why: a one-row product on llvmpipe costs what its per-invocation loads and the arithmetic on
// them cost. Sixteen int8 weights a vec4<u32> load, with the multiply-adds four to a call, ran the
// 1×288·288→32000 projection in about half the CPU time of packed f16 weights (bench:tensor).
// Four-bit weights halve the words again: 32 weights a load, about 1.8× the int8 kernel on that
// projection. The price is precision: x and w are each rounded to 8 (or 4) bits per group (see the README).

import { FLAT_WORKGROUP, grid, kernel, params, rowChunks, sharedRows, type Access } from '../../kernel';
import type { Binding, Device } from '../../device';
import type { Tensor } from '../../tensor';
import { q8Width, Q8_GROUP } from '../../cpu/linear-q8';
import { BIAS_WGSL, prologueOf, type ColumnConfig, type ColumnFusion, type Prologue } from './shared';
import type { QuantizedMatrix } from './quantized-matrix';

const QUANT_WG = 32;

// Quantizes each row of prologue(x) into int8 groups of 32: one workgroup per row, one group per
// invocation at a time (no barriers: the RMSNorm's sum is read by every invocation alike).
function quantizeKernel(prologue: Prologue) {
  const bindings: Access[] = ['read', 'read_write', 'read_write', ...(prologue === 'rmsnorm' ? (['read'] as const) : [])];
  return kernel(`linear-q8-quantize-${prologue}`, bindings, () => {
    const T = Array.from({ length: 8 }, (_, t) => t); // the vec4s of one group
    // prologue(x) at vec4 unit u of the row; zero past the row's end (the padding of its last group).
    const value = (u: string) => {
      if (prologue === 'rmsnorm') return `x[xr + ${u}] * inv * g[${u}]`;
      if (prologue === 'swiglu') return `silu4(x[xr + ${u}]) * x[xr + p.up + ${u}]`;
      if (prologue === 'geglu') return `gelu4(x[xr + ${u}]) * x[xr + p.up + ${u}]`;
      return `x[xr + ${u}]`;
    };
    const load = (u: string) => `select(vec4<f32>(0.0), ${value(`min(${u}, ku - 1u)`)}, ${u} < ku)`;
    const quant = (t: number) => `pack4xI8(vec4<i32>(clamp(round(v${t} * s), vec4<f32>(-127.0), vec4<f32>(127.0))))`;
    return `
// x [rows, k] f32 as vec4s (row stride p.xs; gate | up halves with swiglu, up at p.up) ->
// xq [rows, groups·2] vec4<u32> (sixteen int8 a vec4) and xsc [rows, groups] scales.
struct Params { rows: u32, k: u32, groups: u32, xs: u32, up: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(1) @binding(2) var<storage, read_write> xq: array<vec4<u32>>;
@group(1) @binding(3) var<storage, read_write> xsc: array<f32>;
${prologue === 'rmsnorm' ? '@group(1) @binding(4) var<storage, read> g: array<vec4<f32>>;' : ''}

fn silu4(v: vec4<f32>) -> vec4<f32> { return v / (vec4<f32>(1.0) + exp(-v)); }
// tanh GELU as g·σ(2·√(2/π)·(g + 0.044715·g³)), the form linear.ts uses
fn gelu4(v: vec4<f32>) -> vec4<f32> { return v / (vec4<f32>(1.0) + exp(-1.5957691216057308 * (v + 0.044715 * v * v * v))); }

@compute @workgroup_size(${QUANT_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = ${FLAT_WORKGROUP};
  if (r >= p.rows) { return; }
  let xr = r * p.xs;
  let groups = p.groups;
  let ku = p.k / 4u;
  ${prologue === 'rmsnorm' ? `var ss = 0.0;
  for (var u = 0u; u < p.k / 4u; u++) { let v = x[xr + u]; ss += dot(v, v); }
  let inv = inverseSqrt(ss / f32(p.k) + p.eps);` : ''}
  for (var gi = lid; gi < groups; gi += ${QUANT_WG}u) {
    ${T.map((t) => `let v${t} = ${load(`gi * 8u + ${t}u`)};`).join(' ')}
    let a = max(max(max(abs(v0), abs(v1)), max(abs(v2), abs(v3))), max(max(abs(v4), abs(v5)), max(abs(v6), abs(v7))));
    let m = max(max(a.x, a.y), max(a.z, a.w));
    let s = select(0.0, 127.0 / m, m > 0.0);
    let at = (r * groups + gi) * 2u;
    xq[at] = vec4<u32>(${[0, 1, 2, 3].map(quant).join(', ')});
    xq[at + 1u] = vec4<u32>(${[4, 5, 6, 7].map(quant).join(', ')});
    xsc[r * groups + gi] = m / 127.0;
  }
}`;
  });
}

// The product: each invocation owns tc columns (their weight rows) and the tm rows of its
// workgroup. Every invocation reads the quantized rows of x itself, or (share) one lane in
// SHARE_LANES reads each row and subgroupBroadcast hands it to the others (sharedRows).
// A group of int8 weights is two vec4<u32> loads; of 4-bit weights one, whose nibble planes are
// int8 words of w + 8: their sums with x are corrected by 8·Σx of the group (once per row).
function productKernel(bits: 8 | 4, c: ColumnConfig, silu: boolean) {
  const { wg, tm, tc } = c;
  const share = c.share === true;
  const key = `linear-q${bits}-${wg}-${tm}x${tc}${silu ? '-silu' : ''}${share ? '-shared' : ''}`;
  return kernel(key, ['read', 'read', 'read', 'read_write', 'read', 'read', 'read'], () => {
    const I = Array.from({ length: tm }, (_, i) => i);
    const J = Array.from({ length: tc }, (_, j) => j);
    const shared = sharedRows(tm);
    const store: string[] = [];
    for (const i of I) {
      for (const j of J) {
        const col = `c + ${j * wg}u`;
        store.push(`if (r0 + ${i}u < p.rows && ${col} < p.n) { let o = (r0 + ${i}u) * p.ldc + p.col0 + ${col}; var v = acc${i}_${j} + addBias(p.col0 + ${col});${silu ? ' v = v / (1.0 + exp(-v));' : ''} if (p.hasRes != 0u) { v = residual[o] + v; } out[o] = v; }`);
      }
    }
    const per = bits === 8 ? 2 : 1; // vec4<u32> of w a group
    const load = (j: number) =>
      bits === 8
        ? `let a${j} = w[o${j} + 2u * gi]; let b${j} = w[o${j} + 2u * gi + 1u]; let s${j} = ws[so${j} + gi];`
        : `let n${j} = w[o${j} + gi]; let a${j} = n${j} & vec4<u32>(0x0F0F0F0Fu); let b${j} = (n${j} >> vec4<u32>(4u)) & vec4<u32>(0x0F0F0F0Fu); let s${j} = ws[so${j} + gi];`;
    // int8: a holds values 0..15 of the group, b 16..31; 4-bit: a.e and b.e the low and high planes of word e.
    const x8 = ['xa.x', 'xa.y', 'xa.z', 'xa.w', 'xb.x', 'xb.y', 'xb.z', 'xb.w'];
    const w8 = bits === 8 ? ['a.x', 'a.y', 'a.z', 'a.w', 'b.x', 'b.y', 'b.z', 'b.w'] : ['a.x', 'b.x', 'a.y', 'b.y', 'a.z', 'b.z', 'a.w', 'b.w'];
    const dot = (j: number) => w8.map((wv, e) => `dot4I8Packed(${wv.replace(/^([ab])/, `$1${j}`)}, ${x8[e]})`).join(' + ');
    const offset = bits === 4 ? ` - 8 * (${x8.map((v) => `dot4I8Packed(${v}, 0x01010101u)`).join(' + ')})` : '';
    // Row i's quantized group gi: its own loads, or broadcasts of what its lane loaded (sharedRows).
    const rowOf = (i: number) => {
      if (!share) return `let xa = xq[(x${i} + gi) * 2u]; let xb = xq[(x${i} + gi) * 2u + 1u]; let sx = xsc[x${i} + gi];`;
      return ['xa', 'xb', 'sx'].map((v) => `let ${v} = ${shared.broadcast((g) => `${v}${g}`, i)};`).join(' ');
    };
    return `${share ? 'enable subgroups;' : ''}
// xq [rows, groups·2] vec4<u32> and xsc [rows, groups] (quantized x), w [n, groups·${per}] vec4<u32>
// and ws [n, groups] (${bits}-bit weights): out = Σ_groups (Σ xq·w) · xsc · ws (+ bias, SiLU, + residual).
struct Params { rows: u32, n: u32, groups: u32, ldc: u32, col0: u32, hasBias: u32, hasRes: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> xq: array<vec4<u32>>;
@group(1) @binding(2) var<storage, read> w: array<vec4<u32>>;
${BIAS_WGSL}
@group(1) @binding(5) var<storage, read> ws: array<f32>;
@group(1) @binding(6) var<storage, read> residual: array<f32>;
@group(1) @binding(7) var<storage, read> xsc: array<f32>;

@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32${share ? ', @builtin(subgroup_invocation_id) lane: u32' : ''}) {
  let c = (${FLAT_WORKGROUP}) * ${wg * tc}u + lid;
  let r0 = wid.z * ${tm}u;
  let G = p.groups;
  ${share ? shared.offsets('p.rows', 'G') : I.map((i) => `let x${i} = min(r0 + ${i}u, p.rows - 1u) * G;`).join(' ')}
  ${J.map((j) => `let c${j} = min(c + ${j * wg}u, p.n - 1u); let o${j} = c${j} * G * ${per}u; let so${j} = c${j} * G;`).join('\n  ')}
  ${I.flatMap((i) => J.map((j) => `var acc${i}_${j} = 0.0;`)).join(' ')}
  for (var gi = 0u; gi < G; gi++) {
    ${J.map(load).join('\n    ')}
    ${share ? shared.groups.map((g) => `let xa${g} = xq[(xl${g} + gi) * 2u]; let xb${g} = xq[(xl${g} + gi) * 2u + 1u]; let sx${g} = xsc[xl${g} + gi];`).join('\n    ') : ''}
    ${I.map((i) => `{ ${rowOf(i)}
      ${J.map((j) => `acc${i}_${j} = fma(f32(${dot(j)}${offset}) * sx, s${j}, acc${i}_${j});`).join('\n      ')} }`).join('\n    ')}
  }
  ${store.join('\n  ')}
}`;
  });
}

/**
 * @internal linear() with a QuantizedMatrix (linear has checked the shapes): one dispatch quantizes
 * the rows of prologue(x) to int8 groups, then one product dispatch per slice of w's rows.
 */
export function dispatchQuantized(device: Device, x: Tensor, w: QuantizedMatrix, bias: Tensor | undefined, out: Tensor, rows: number, n: number, k: number, c: ColumnConfig, maxBinding: number, fuse: ColumnFusion): void {
  const width = q8Width(k); // values of a quantized row
  const rowBytes = (width * w.bits) / 8;
  const groups = width / Q8_GROUP;
  const prologue = prologueOf(fuse);
  const ld = k / 4;
  const xq = device.empty([rows, width / 4], 'u32');
  const xsc = device.empty([rows, groups], 'f32');
  try {
    const qb: Binding[] = [x.buffer, xq.buffer, xsc.buffer];
    if (fuse.norm) qb.push(fuse.norm.weight);
    device.dispatch(quantizeKernel(prologue), qb, params(rows, k, groups, fuse.swiglu || fuse.geglu ? 2 * ld : ld, ld, { f32: fuse.norm?.eps ?? 0 }), grid(device, rows));
    const kern = productKernel(w.bits, c, fuse.silu === true);
    // Scales are width/8 bytes a row: slices start where both the values and the scales are 256-byte aligned.
    for (const [c0, cn] of rowChunks('linear', w.q, rowBytes, n, maxBinding, width / 8)) {
      const whole = c0 === 0 && cn === n;
      const wb: Binding = whole ? w.q.buffer : { buffer: w.q.buffer, offset: c0 * rowBytes, size: cn * rowBytes };
      const sb: Binding = whole ? w.scales.buffer : { buffer: w.scales.buffer, offset: (c0 * width) / 8, size: (cn * width) / 8 };
      const buffers: Binding[] = [xq.buffer, wb, (bias ?? xsc).buffer, out.buffer, sb, fuse.residual ?? xsc.buffer, xsc.buffer];
      const u = params(rows, cn, groups, n, c0, bias ? 1 : 0, fuse.residual ? 1 : 0);
      const [gx, gy] = grid(device, Math.ceil(cn / (c.wg * c.tc)));
      device.dispatch(kern, buffers, u, [gx, gy, Math.ceil(rows / c.tm)]);
    }
  } finally {
    xq.dispose();
    xsc.dispose();
  }
}
