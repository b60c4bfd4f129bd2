// linear with int8 weights: y = x · wᵀ where w is stored as 8-bit integers in groups of 32 along
// its input dimension, one f32 scale a group (the Q8_0 scheme of llama2.c's runq.c). Each
// workgroup first writes its rows of x (after the optional RMSNorm or SwiGLU prologue) to workgroup
// memory quantized the same way, so every group's dot product is an exact integer sum of
// dot4I8Packed calls (four products each), scaled once by both groups' scales.
//
// Why: a one-row product on llvmpipe costs what its per-invocation loads and the arithmetic on
// them cost. Sixteen int8 weights a vec4<u32> load, with the multiply-adds four to a call, ran the
// 1×288·288→32000 projection in about half the CPU time of packed f16 weights (bench:tensor).
// The price is precision: x and w are each rounded to 8 bits per group (see the README).

import { FLAT_WORKGROUP, grid, kernel, params, rowChunks, type Access } from '../kernel';
import type { Binding, Device } from '../device';
import { DisposedError, DTypeError, ShapeError } from '../errors';
import { formatShape, type Tensor } from '../tensor';
import { BIAS_WGSL } from './matmul';
import { dequantizeQ8Cpu, quantizeQ8Cpu, Q8_GROUP } from '../cpu/linear-q8';
import type { ColumnConfig, ColumnFusion } from './linear';

export { Q8_GROUP };

/**
 * A matrix [n, k] of int8 values in groups of Q8_GROUP along k, with one f32 scale a group. Owns
 * two tensors: `q` [n, k/4] u32 (four int8 a word, lowest byte first) and `scales` [n, k/32] f32.
 * linear() takes it in place of a weight tensor.
 */
export class Q8Matrix {
  readonly shape: readonly [number, number];
  /** Optional label used in error messages. */
  label?: string;

  private constructor(
    readonly q: Tensor<'u32'>,
    readonly scales: Tensor<'f32'>,
    n: number,
    k: number,
  ) {
    this.shape = Object.freeze([n, k]) as readonly [number, number];
  }

  /** Quantizes a row-major [n, k] f32 matrix (k a multiple of 32) and uploads it. */
  static quantize(device: Device, data: Float32Array, shape: readonly [number, number], label?: string): Q8Matrix {
    const [n, k] = shape;
    const name = `Q8Matrix${label ? ` ${label}` : ''}`;
    if (!device.hasPacked4x8) {
      throw new DTypeError(`${name}: int8 weights need WGSL's packed_4x8_integer_dot_product, which ${device.name} lacks`);
    }
    if (!Number.isInteger(n) || !Number.isInteger(k) || n < 0 || k <= 0 || k % Q8_GROUP !== 0) {
      throw new ShapeError(`${name}: shape ${formatShape(shape)} must be [n, k] with k a positive multiple of ${Q8_GROUP}`);
    }
    if (!(data instanceof Float32Array) || data.length !== n * k) {
      throw new ShapeError(`${name}: ${data?.length ?? 'no'} values for shape ${formatShape(shape)}, expected ${n * k}`);
    }
    const { q, scales } = quantizeQ8Cpu(data, n, k);
    const qt = device.tensor(new Uint32Array(q.buffer, q.byteOffset, q.length / 4), [n, k / 4], 'u32');
    const st = device.tensor(scales, [n, k / Q8_GROUP], 'f32');
    const m = new Q8Matrix(qt, st, n, k);
    m.label = label;
    return m;
  }

  get device(): Device {
    return this.q.device;
  }

  get disposed(): boolean {
    return this.q.disposed;
  }

  /** GPU bytes held: the int8 values and the scales. */
  get byteLength(): number {
    return this.q.byteLength + this.scales.byteLength;
  }

  describe(): string {
    return `${this.label ? `${this.label} ` : ''}q8 ${formatShape(this.shape)}`;
  }

  /** The matrix it stands for, [n, k] f32 (each value its int8 times its group's scale). */
  async read(): Promise<Float32Array> {
    if (this.disposed) throw new DisposedError(`read: ${this.describe()} was disposed`);
    const [n, k] = this.shape;
    const [q, scales] = await Promise.all([this.q.read(), this.scales.read()]);
    return dequantizeQ8Cpu({ q: new Int8Array(q.buffer, q.byteOffset, n * k), scales }, n, k);
  }

  dispose(): void {
    this.q.dispose();
    this.scales.dispose();
  }
}

/** Workgroup memory for the quantized rows of x: k bytes of values and k/8 of scales a row. */
const STAGE_BYTES = 16384;

/** Rows of x a workgroup takes: the row block asked for, halved until the quantized rows fit. */
export function q8RowBlock(tm: number, k: number): number {
  let rows = tm;
  while (rows > 1 && rows * k * (9 / 8) > STAGE_BYTES) rows = Math.floor(rows / 2);
  return rows;
}

type Prologue = 'none' | 'rmsnorm' | 'swiglu';

function q8Kernel(wg: number, tm: number, tc: number, groups: number, prologue: Prologue, silu: boolean) {
  const key = `linear-q8-${wg}-${tm}x${tc}-g${groups}-${prologue}${silu ? '-silu' : ''}`;
  const bindings: Access[] = ['read', 'read', 'read', 'read_write', 'read', 'read', ...(prologue === 'rmsnorm' ? (['read'] as const) : [])];
  return kernel(key, bindings, () => {
    const I = Array.from({ length: tm }, (_, i) => i);
    const J = Array.from({ length: tc }, (_, j) => j);
    const T = Array.from({ length: 8 }, (_, t) => t); // vec4s of one group
    // prologue(x) for the vec4 at unit u of row i (row start xr).
    const load = (u: string) => {
      if (prologue === 'rmsnorm') return `x[xr + ${u}] * inv * g[${u}]`;
      if (prologue === 'swiglu') return `silu4(x[xr + ${u}]) * x[xr + p.up + ${u}]`;
      return `x[xr + ${u}]`;
    };
    const quant = (t: number) => `pack4xI8(vec4<i32>(clamp(round(v${t} * s), vec4<f32>(-127.0), vec4<f32>(127.0))))`;
    const store: string[] = [];
    for (const i of I) {
      for (const j of J) {
        const col = `c + ${j * wg}u`;
        store.push(`if (r0 + ${i}u < p.rows && ${col} < p.n) { let o = (r0 + ${i}u) * p.ldc + p.col0 + ${col}; var v = acc${i}_${j} + addBias(p.col0 + ${col});${silu ? ' v = v / (1.0 + exp(-v));' : ''} if (p.hasRes != 0u) { v = residual[o] + v; } out[o] = v; }`);
      }
    }
    return `
// x [rows, k] f32 as vec4s (row stride p.xs; gate | up halves with swiglu, up at p.up), w [n, k/16]
// vec4<u32> (sixteen int8 a load), ws [n, groups] scales. Groups of 32 along k: ${groups}.
struct Params { rows: u32, n: u32, k: u32, ldc: u32, col0: u32, hasBias: u32, hasRes: u32, xs: u32, up: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(1) @binding(2) var<storage, read> w: array<vec4<u32>>;
${BIAS_WGSL}
@group(1) @binding(5) var<storage, read> ws: array<f32>;
@group(1) @binding(6) var<storage, read> residual: array<f32>;
${prologue === 'rmsnorm' ? '@group(1) @binding(7) var<storage, read> g: array<vec4<f32>>;' : ''}
var<workgroup> xq: array<vec4<u32>, ${tm * groups * 2}>; // row i, group gi: two vec4<u32> at (i·groups + gi)·2
var<workgroup> xsc: array<f32, ${tm * groups}>;

fn silu4(v: vec4<f32>) -> vec4<f32> { return v / (vec4<f32>(1.0) + exp(-v)); }

@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = (${FLAT_WORKGROUP}) * ${wg * tc}u + lid;
  let r0 = wid.z * ${tm}u;
  // Quantize this workgroup's rows of prologue(x), one group of 32 per invocation at a time.
  for (var i = 0u; i < ${tm}u; i++) {
    let xr = min(r0 + i, p.rows - 1u) * p.xs;
    ${prologue === 'rmsnorm' ? `var ss = 0.0;
    for (var u = 0u; u < p.k / 4u; u++) { let v = x[xr + u]; ss += dot(v, v); }
    let inv = inverseSqrt(ss / f32(p.k) + p.eps);` : ''}
    for (var gi = lid; gi < ${groups}u; gi += ${wg}u) {
      ${T.map((t) => `let v${t} = ${load(`gi * 8u + ${t}u`)};`).join(' ')}
      let a = max(max(max(abs(v0), abs(v1)), max(abs(v2), abs(v3))), max(max(abs(v4), abs(v5)), max(abs(v6), abs(v7))));
      let m = max(max(a.x, a.y), max(a.z, a.w));
      let s = select(0.0, 127.0 / m, m > 0.0);
      let at = (i * ${groups}u + gi) * 2u;
      xq[at] = vec4<u32>(${[0, 1, 2, 3].map(quant).join(', ')});
      xq[at + 1u] = vec4<u32>(${[4, 5, 6, 7].map(quant).join(', ')});
      xsc[i * ${groups}u + gi] = m / 127.0;
    }
  }
  workgroupBarrier();
  ${J.map((j) => `let c${j} = min(c + ${j * wg}u, p.n - 1u); let o${j} = c${j} * ${groups * 2}u; let so${j} = c${j} * ${groups}u;`).join('\n  ')}
  ${I.flatMap((i) => J.map((j) => `var acc${i}_${j} = 0.0;`)).join(' ')}
  for (var gi = 0u; gi < ${groups}u; gi++) {
    ${J.map((j) => `let a${j} = w[o${j} + 2u * gi]; let b${j} = w[o${j} + 2u * gi + 1u]; let s${j} = ws[so${j} + gi];`).join('\n    ')}
    ${I.map((i) => `{ let xa = xq[(${i}u * ${groups}u + gi) * 2u]; let xb = xq[(${i}u * ${groups}u + gi) * 2u + 1u]; let sx = xsc[${i}u * ${groups}u + gi];
      ${J.map((j) => `acc${i}_${j} = fma(f32(dot4I8Packed(a${j}.x, xa.x) + dot4I8Packed(a${j}.y, xa.y) + dot4I8Packed(a${j}.z, xa.z) + dot4I8Packed(a${j}.w, xa.w) + dot4I8Packed(b${j}.x, xb.x) + dot4I8Packed(b${j}.y, xb.y) + dot4I8Packed(b${j}.z, xb.z) + dot4I8Packed(b${j}.w, xb.w)) * sx, s${j}, acc${i}_${j});`).join('\n      ')} }`).join('\n    ')}
  }
  ${store.join('\n  ')}
}`;
  });
}

/** @internal linear() with a Q8Matrix: checks done by linear, fusions as the column kernel's. */
export function linearQ8(device: Device, x: Tensor, w: Q8Matrix, bias: Tensor | undefined, out: Tensor, rows: number, n: number, k: number, c: ColumnConfig, maxBinding: number, fuse: ColumnFusion): void {
  const groups = k / Q8_GROUP;
  const tm = q8RowBlock(c.tm, k);
  if (tm * k * (9 / 8) > STAGE_BYTES) {
    throw new ShapeError(`linear: ${w.describe()}: an input dimension of ${k} does not fit one workgroup's 16 KiB once quantized (at most ${Math.floor(STAGE_BYTES / (9 / 8) / Q8_GROUP) * Q8_GROUP})`);
  }
  const prologue: Prologue = fuse.norm ? 'rmsnorm' : fuse.swiglu ? 'swiglu' : 'none';
  const kern = q8Kernel(c.wg, tm, c.tc, groups, prologue, fuse.silu === true);
  // Scales are k/8 bytes a row: slices start where both the values and the scales are 256-byte aligned.
  let scaleStep = 1;
  while (((k / 8) * scaleStep) % 256 !== 0) scaleStep *= 2;
  const ld = k / 4;
  for (const [c0, cn] of rowChunks('linear', w.q, k, n, maxBinding, scaleStep)) {
    const whole = c0 === 0 && cn === n;
    const qb: Binding = whole ? w.q.buffer : { buffer: w.q.buffer, offset: c0 * k, size: cn * k };
    const sb: Binding = whole ? w.scales.buffer : { buffer: w.scales.buffer, offset: (c0 * k) / 8, size: (cn * k) / 8 };
    const buffers: Binding[] = [x.buffer, qb, (bias ?? x).buffer, out.buffer, sb, fuse.residual ?? x.buffer];
    if (fuse.norm) buffers.push(fuse.norm.weight);
    const u = params(rows, cn, k, n, c0, bias ? 1 : 0, fuse.residual ? 1 : 0, fuse.swiglu ? 2 * ld : ld, ld, { f32: fuse.norm?.eps ?? 0 });
    const [gx, gy] = grid(device, Math.ceil(cn / (c.wg * c.tc)));
    device.dispatch(kern, buffers, u, [gx, gy, Math.ceil(rows / tm)]);
  }
}
