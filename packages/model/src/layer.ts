// One Llama block on the GPU: attention with RoPE over a KV cache, then a SwiGLU feed-forward,
// each behind an RMSNorm and added to the residual stream. LlamaModel stacks N of these; the
// PrefixMLP draft head runs one over the base model's hidden states.
//
// A decode step (one row) costs 9 dispatches: q and k come from one linear over [wq; wk] and are
// roped together, gate and up from one linear over [w1; w3]; the SwiGLU runs inside w2's linear and
// the residual adds inside wo's and w2's; splitting one row is a buffer copy.
import {
  attention,
  DTypeError,
  linear,
  rmsnorm,
  rope,
  scope,
  ShapeError,
  slice,
  writeRows,
  type Device,
  type Tensor,
} from '@hydra-ts/tensor';
import type { LlamaLayerWeights, RopeLayout } from './config';
import { CacheError, type LayerCache } from './cache';

/** The part of LlamaConfig one block needs. */
export interface LayerConfig {
  dim: number;
  hiddenDim: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  ropeTheta: number;
  ropeLayout: RopeLayout;
  normEps: number;
  qkvBias: boolean;
}

export interface WeightOptions {
  /** Storage of the projection matrices (norms and biases stay f32). 'f16' needs device.hasF16. */
  dtype?: 'f32' | 'f16';
}

function concatRows(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Columns start..end of x [rows, width]; a single row is one buffer copy instead of a dispatch. */
function columns(x: Tensor, start: number, end: number): Tensor {
  if (x.shape[0] !== 1) return slice(x, 1, start, end);
  const flat = x.reshape([x.size]);
  const part = slice(flat, 0, start, end);
  flat.dispose();
  const row = part.reshape([1, end - start]);
  part.dispose();
  return row;
}

export class DecoderLayer {
  readonly config: LayerConfig;
  readonly device: Device;
  readonly attnNorm: Tensor; // [dim]
  readonly wqk: Tensor; // [qDim + kvDim, dim]: wq stacked on wk
  readonly bqk: Tensor | null; // [qDim + kvDim]
  readonly wv: Tensor; // [kvDim, dim]
  readonly bv: Tensor | null; // [kvDim]
  readonly wo: Tensor; // [dim, qDim]
  readonly ffnNorm: Tensor; // [dim]
  readonly w13: Tensor; // [2·hiddenDim, dim]: gate (w1) stacked on up (w3)
  readonly w2: Tensor; // [dim, hiddenDim]

  private constructor(device: Device, config: LayerConfig, t: Omit<DecoderLayer, 'config' | 'device' | 'forward' | 'dispose'>) {
    this.device = device;
    this.config = config;
    this.attnNorm = t.attnNorm;
    this.wqk = t.wqk;
    this.bqk = t.bqk;
    this.wv = t.wv;
    this.bv = t.bv;
    this.wo = t.wo;
    this.ffnNorm = t.ffnNorm;
    this.w13 = t.w13;
    this.w2 = t.w2;
  }

  /** Uploads one block's CPU weights (row-major [out, in], as LlamaLayerWeights). */
  static fromWeights(device: Device, config: LayerConfig, w: LlamaLayerWeights, opts: WeightOptions = {}): DecoderLayer {
    const c = config;
    const dtype = opts.dtype ?? 'f32';
    if (dtype === 'f16' && !device.hasF16) throw new DTypeError('DecoderLayer: dtype f16 needs the shader-f16 feature, which this device lacks');
    const qDim = c.nHeads * c.headDim;
    const kvDim = c.nKvHeads * c.headDim;
    const expect = (name: string, a: Float32Array | undefined, n: number) => {
      if (!(a instanceof Float32Array) || a.length !== n) {
        throw new ShapeError(`DecoderLayer: weight ${name} has ${a?.length ?? 'no'} elements, expected ${n}`);
      }
      return a;
    };
    const sizes = { attnNorm: c.dim, wq: qDim * c.dim, wk: kvDim * c.dim, wv: kvDim * c.dim, wo: c.dim * qDim, ffnNorm: c.dim, w1: c.hiddenDim * c.dim, w2: c.dim * c.hiddenDim, w3: c.hiddenDim * c.dim };
    for (const [name, n] of Object.entries(sizes)) expect(name, w[name as keyof typeof sizes], n);
    if (c.qkvBias) {
      expect('bq', w.bq, qDim);
      expect('bk', w.bk, kvDim);
      expect('bv', w.bv, kvDim);
    }
    const matrix = (data: Float32Array, shape: number[]) => device.tensor(data, shape, dtype);
    return new DecoderLayer(device, config, {
      attnNorm: device.tensor(w.attnNorm, [c.dim]),
      wqk: matrix(concatRows(w.wq, w.wk), [qDim + kvDim, c.dim]),
      bqk: c.qkvBias ? device.tensor(concatRows(w.bq!, w.bk!), [qDim + kvDim]) : null,
      wv: matrix(w.wv, [kvDim, c.dim]),
      bv: c.qkvBias ? device.tensor(w.bv!, [kvDim]) : null,
      wo: matrix(w.wo, [c.dim, qDim]),
      ffnNorm: device.tensor(w.ffnNorm, [c.dim]),
      w13: matrix(concatRows(w.w1, w.w3), [2 * c.hiddenDim, c.dim]),
      w2: matrix(w.w2, [c.dim, c.hiddenDim]),
    });
  }

  /**
   * x [rows, dim] (residual stream) -> [rows, dim], owned by the caller. The rows' keys and values
   * go into `cache` after its committed and pending rows; row i attends to every committed/pending
   * row and to the new rows `mask` allows (mask[i·rows + j] != 0; default causal). `positions`
   * [rows] are RoPE positions. The caller then marks the rows appended (KVCache.append).
   */
  forward(x: Tensor, cache: LayerCache, positions: Int32Array | Tensor, mask?: Uint8Array | Tensor): Tensor {
    const c = this.config;
    const rows = x.shape[0];
    if (x.rank !== 2 || x.shape[1] !== c.dim) throw new ShapeError(`DecoderLayer.forward: x ${x.describe()}, expected [rows, dim = ${c.dim}]`);
    const nPos = positions instanceof Int32Array ? positions.length : positions.size;
    if (nPos !== rows) throw new ShapeError(`DecoderLayer.forward: ${nPos} positions for ${rows} rows`);
    if (mask !== undefined) {
      const n = mask instanceof Uint8Array ? mask.length : mask.size;
      if (n !== rows * rows) throw new ShapeError(`DecoderLayer.forward: mask has ${n} entries, expected rows·rows = ${rows * rows}`);
    }
    const start = cache.length + cache.pending;
    if (start + rows > cache.capacity) {
      throw new CacheError(`DecoderLayer.forward: ${rows} new rows after ${start} cached exceed the cache capacity ${cache.capacity}`);
    }
    const qDim = c.nHeads * c.headDim;
    const kvDim = c.nKvHeads * c.headDim;
    const H = c.hiddenDim;

    return scope((t) => {
      // attention: x + wo · attn(rope(wq·xb), rope(wk·xb), wv·xb), xb = rmsnorm(x)
      // (linear's normalize option would save this dispatch, but on llvmpipe it measured slower)
      const xb = t(rmsnorm(x, this.attnNorm, c.normEps)); // [rows, dim]
      const qk = t(linear(xb, this.wqk, this.bqk ?? undefined)); // [rows, qDim + kvDim]
      const v = t(linear(xb, this.wv, this.bv ?? undefined)); // [rows, kvDim]
      // q heads and k heads turn by the same row positions, so one rope covers both.
      const qkr = t(rope(qk, positions, { headDim: c.headDim, theta: c.ropeTheta, layout: c.ropeLayout })); // [rows, qDim + kvDim]
      const q = t(columns(qkr, 0, qDim)); // [rows, qDim]
      const k = t(columns(qkr, qDim, qDim + kvDim)); // [rows, kvDim]
      writeRows(cache.k, k, start);
      writeRows(cache.v, v, start);
      const att = t(
        attention(q, cache.k, cache.v, { cachedLen: start, nHeads: c.nHeads, nKvHeads: c.nKvHeads, headDim: c.headDim, mask }),
      ); // [rows, qDim]
      const x2 = t(linear(att, this.wo, undefined, { residual: x })); // [rows, dim]

      // feed-forward: x2 + w2 · (silu(w1·xb) ⊙ w3·xb), xb = rmsnorm(x2); the SwiGLU runs inside w2's linear
      const xn = t(rmsnorm(x2, this.ffnNorm, c.normEps)); // [rows, dim]
      const hb13 = t(linear(xn, this.w13)); // [rows, 2·hiddenDim]: gate | up
      return linear(hb13, this.w2, undefined, { swiglu: true, residual: x2 }); // [rows, dim]
    });
  }

  dispose(): void {
    for (const w of [this.attnNorm, this.wqk, this.bqk, this.wv, this.bv, this.wo, this.ffnNorm, this.w13, this.w2]) w?.dispose();
  }
}
