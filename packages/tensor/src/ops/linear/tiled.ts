// The workgroup-memory tiled kernel of linear and matmul: each invocation holds a tm×tn register
// block of c, and k is staged through workgroup memory in bk slices. It is the layout hardware GPUs
// favour; on llvmpipe it measured 2-4× slower than the column kernel, so it runs only when asked
// for (path 'tiled'), tested against the same CPU twin.
import { enableF16, kernel, params, wgslFloat } from '../../kernel';
import type { Binding, Device } from '../../device';
import type { DType } from '../../tensor';
import { BIAS_WGSL, BINDINGS } from './shared';

/** Tile shape of the tiled kernel; every invocation keeps a tm×tn block of c in registers. */
export interface TileConfig {
  /** Rows of c per workgroup. */
  bm: number;
  /** Columns of c per workgroup. */
  bn: number;
  /** Depth of the k slice staged in workgroup memory per step. */
  bk: number;
  /** Rows of c per invocation. */
  tm: number;
  /** Columns of c per invocation (multiple of 4). */
  tn: number;
}

export const DEFAULT_TILE: TileConfig = { bm: 32, bn: 64, bk: 16, tm: 4, tn: 4 };

export interface TiledKernelSpec {
  transposeA: boolean;
  transposeB: boolean;
  bDtype: DType;
  tile: TileConfig;
}

/**
 * The tiled kernel. Params: m, n (columns computed by this dispatch), k, ldc (row stride of c),
 * col0 (first column of c and of bias this dispatch writes). b's rows start at its binding's offset.
 */
export function tiledKernel(s: TiledKernelSpec) {
  const { bm, bn, bk, tm, tn } = s.tile;
  const wg = (bm / tm) * (bn / tn);
  const tx = bn / tn; // invocations along n
  const key = `matmul-tiled-${s.transposeA ? 'T' : 'N'}${s.transposeB ? 'T' : 'N'}-${s.bDtype}-${bm}x${bn}x${bk}-${tm}x${tn}`;
  return kernel(key, BINDINGS, () => {
    const bt = wgslFloat(s.bDtype);
    // A tile loads: element i of the bm×bk tile, walked so neighbouring invocations read neighbouring addresses.
    const aLoad = s.transposeA
      ? `let kk = i / ${bm}u; let mm = i % ${bm}u; let gm = m0 + mm; let gk = k0 + kk;
      var v = 0.0; if (gm < p.m && gk < p.k) { v = a[gk * p.m + gm]; }`
      : `let mm = i / ${bk}u; let kk = i % ${bk}u; let gm = m0 + mm; let gk = k0 + kk;
      var v = 0.0; if (gm < p.m && gk < p.k) { v = a[gm * p.k + gk]; }`;
    const bLoad = s.transposeB
      ? `let nn = i / ${bk}u; let kk = i % ${bk}u; let gn = n0 + nn; let gk = k0 + kk;
      var v = 0.0; if (gn < p.n && gk < p.k) { v = f32(b[gn * p.k + gk]); }`
      : `let kk = i / ${bn}u; let nn = i % ${bn}u; let gn = n0 + nn; let gk = k0 + kk;
      var v = 0.0; if (gn < p.n && gk < p.k) { v = f32(b[gk * p.ldb + p.col0 + gn]); }`;
    const n4 = tn / 4;
    const accDecl: string[] = [];
    const fma: string[] = [];
    const store: string[] = [];
    for (let i = 0; i < tm; i++) {
      for (let j = 0; j < n4; j++) accDecl.push(`var acc${i}_${j} = vec4<f32>(0.0);`);
    }
    const bRead: string[] = [];
    for (let j = 0; j < n4; j++) {
      const o = `kk * ${bn}u + tx * ${tn}u + ${j * 4}u`;
      bRead.push(`let b${j} = vec4<f32>(Bs[${o}], Bs[${o} + 1u], Bs[${o} + 2u], Bs[${o} + 3u]);`);
    }
    for (let i = 0; i < tm; i++) {
      fma.push(`let a${i} = As[kk * ${bm}u + ty * ${tm}u + ${i}u];`);
      for (let j = 0; j < n4; j++) fma.push(`acc${i}_${j} = fma(vec4<f32>(a${i}), b${j}, acc${i}_${j});`);
    }
    for (let i = 0; i < tm; i++) {
      store.push(`{
    let r = m0 + ty * ${tm}u + ${i}u;
    if (r < p.m) {`);
      for (let j = 0; j < n4; j++) {
        for (let c = 0; c < 4; c++) {
          const col = `n0 + tx * ${tn}u + ${j * 4 + c}u`;
          store.push(`      if (${col} < p.n) { out[r * p.ldc + p.col0 + ${col}] = acc${i}_${j}[${c}] + addBias(p.col0 + ${col}); }`);
        }
      }
      store.push(`    }
  }`);
    }
    return `${enableF16(s.bDtype)}
struct Params { m: u32, n: u32, k: u32, ldc: u32, col0: u32, ldb: u32, hasBias: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> a: array<f32>;
@group(1) @binding(2) var<storage, read> b: array<${bt}>;
${BIAS_WGSL}

var<workgroup> As: array<f32, ${bm * bk}>; // [bk][bm]
var<workgroup> Bs: array<f32, ${bk * bn}>; // [bk][bn]

@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let n0 = wid.x * ${bn}u;
  let m0 = wid.y * ${bm}u;
  let tx = lid % ${tx}u;
  let ty = lid / ${tx}u;
  ${accDecl.join('\n  ')}
  for (var k0 = 0u; k0 < p.k; k0 += ${bk}u) {
    for (var i = lid; i < ${bm * bk}u; i += ${wg}u) {
      ${aLoad}
      As[kk * ${bm}u + mm] = v;
    }
    for (var i = lid; i < ${bk * bn}u; i += ${wg}u) {
      ${bLoad}
      Bs[kk * ${bn}u + nn] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${bk}u; kk++) {
      ${bRead.join('\n      ')}
      ${fma.join('\n      ')}
    }
    workgroupBarrier();
  }
  ${store.join('\n  ')}
}`;
  });
}

export interface TiledDispatch {
  m: number;
  n: number;
  k: number;
  /** Row stride of c. */
  ldc: number;
  /** First column of c (and of bias) written. */
  col0: number;
  /** Row stride of b when it is not transposed (b is [k, ldb]). */
  ldb: number;
}

/** Records one dispatch of the tiled kernel. */
export function dispatchTiled(device: Device, spec: TiledKernelSpec, a: Binding, b: Binding, bias: Binding | null, out: Binding, d: TiledDispatch): void {
  const k = tiledKernel(spec);
  const buffers = [a, b, bias ?? a, out];
  const gx = Math.ceil(d.n / spec.tile.bn);
  const gy = Math.ceil(d.m / spec.tile.bm);
  device.dispatch(k, buffers, params(d.m, d.n, d.k, d.ldc, d.col0, d.ldb, bias ? 1 : 0), [gx, gy]);
}
