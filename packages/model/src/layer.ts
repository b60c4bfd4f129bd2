// One Llama block on the GPU: attention with RoPE over a KV cache, then a SwiGLU feed-forward,
// each behind an RMSNorm and added to the residual stream. LlamaModel stacks N of these; the
// PrefixMLP draft head runs one over the base model's hidden states.
//
// A block is 6 dispatches for any number of rows: q, k and v come from one linear over
// [wq; wk; wv] with the RMSNorm inside it, one ropeCache turns q and k and writes k and v into the
// cache, then attention, wo (residual added inside), [w1; w3] (its RMSNorm inside) and w2 (the
// SwiGLU of its input and the residual inside).
//
// The newer families change a step, not the order: per-head q/k RMSNorm happens inside ropeCache
// (Qwen3, Gemma 3), a sliding window and soft-capped scores inside attention (Mistral, Gemma), the
// RoPE table arrives precomputed (Llama 3.1 scaling, Gemma 3's local base), GeGLU replaces SwiGLU in
// w2's prologue (Gemma). Gemma 2/3 add a norm after attention and after the feed-forward, before
// each residual add ("sandwich" norms): 10 dispatches.
import { add, attention, DTypeError, flags, linear, Q4Matrix, Q8Matrix, QuantizedMatrix, rmsnorm, ropeCache, scope, ShapeError, type Device, type Tensor } from '@hydra-ts/tensor';
import { layerAttention, type Activation, type LlamaConfig, type LlamaLayerWeights, type RopeLayout } from './config';
import { CacheError, type LayerCache } from './cache';
import { layerRopeFrequencies } from './rope-frequencies';

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
  /** RoPE angle per position of each pair [headDim/2]; default ropeTheta^(−2i/headDim). */
  ropeFreqs?: Float64Array;
  /** Bias on the o projection (weight bo). */
  oBias?: boolean;
  /** Per-head RMSNorm of q and k (weights qNorm, kNorm [headDim]). */
  qkNorm?: boolean;
  /** Sliding attention window; null/absent: full attention. */
  window?: number | null;
  /** Feed-forward gate; default 'silu'. */
  activation?: Activation;
  /** Norms on the attention and feed-forward outputs (weights postAttnNorm, postFfnNorm). */
  sandwichNorms?: boolean;
  /** Attention score scale; default 1/√headDim. */
  attnScale?: number;
  /** Attention score soft-cap. */
  attnSoftcap?: number | null;
  /**
   * RMSNorm before attention (weight attnNorm); default true. false: q, k and v are projected from
   * the residual stream itself, as in the first layer of an EAGLE draft model (attnNorm unused).
   */
  inputNorm?: boolean;
}

/** Layer l's LayerConfig within a model: its RoPE table and window resolved from the model's config. */
export function decoderLayerConfig(c: LlamaConfig, l: number): LayerConfig {
  return { ...c, ropeFreqs: layerRopeFrequencies(c, l), window: layerAttention(c, l).window };
}

/**
 * Storage of weight matrices: f32, f16 (needs shader-f16), or int8 or 4-bit groups (Q8Matrix,
 * Q4Matrix; need device.hasPacked4x8).
 */
export const WEIGHT_DTYPES = ['f32', 'f16', 'q8', 'q4'] as const;
export type WeightDType = (typeof WEIGHT_DTYPES)[number];

export interface WeightOptions {
  /** Storage of the projection matrices (norms and biases stay f32). Default 'f32'. */
  dtype?: WeightDType;
}

function concatRows(...parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export class DecoderLayer {
  readonly config: LayerConfig;
  readonly device: Device;
  readonly attnNorm: Tensor; // [dim]
  readonly wqkv: Tensor | QuantizedMatrix; // [qDim + 2·kvDim, dim]: wq, wk and wv stacked
  readonly bqkv: Tensor | null; // [qDim + 2·kvDim]
  readonly wo: Tensor | QuantizedMatrix; // [dim, qDim]
  readonly ffnNorm: Tensor; // [dim]
  readonly w13: Tensor | QuantizedMatrix; // [2·hiddenDim, dim]: gate (w1) stacked on up (w3)
  readonly w2: Tensor | QuantizedMatrix; // [dim, hiddenDim]
  readonly bo: Tensor | null; // [dim]
  readonly qNorm: Tensor | null; // [headDim]
  readonly kNorm: Tensor | null; // [headDim]
  readonly postAttnNorm: Tensor | null; // [dim]
  readonly postFfnNorm: Tensor | null; // [dim]

  private constructor(device: Device, config: LayerConfig, t: Omit<DecoderLayer, 'config' | 'device' | 'forward' | 'dispose' | 'weightBytes'>) {
    this.device = device;
    this.config = config;
    this.attnNorm = t.attnNorm;
    this.wqkv = t.wqkv;
    this.bqkv = t.bqkv;
    this.wo = t.wo;
    this.ffnNorm = t.ffnNorm;
    this.w13 = t.w13;
    this.w2 = t.w2;
    this.bo = t.bo;
    this.qNorm = t.qNorm;
    this.kNorm = t.kNorm;
    this.postAttnNorm = t.postAttnNorm;
    this.postFfnNorm = t.postFfnNorm;
  }

  /** Uploads one block's CPU weights (row-major [out, in], as LlamaLayerWeights). */
  static fromWeights(device: Device, config: LayerConfig, w: LlamaLayerWeights, opts: WeightOptions = {}): DecoderLayer {
    const c = config;
    const dtype = opts.dtype ?? 'f32';
    checkWeightDType('DecoderLayer', device, dtype);
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
    if (c.oBias) expect('bo', w.bo, c.dim);
    if (c.qkNorm) {
      expect('qNorm', w.qNorm, c.headDim);
      expect('kNorm', w.kNorm, c.headDim);
    }
    if (c.sandwichNorms) {
      expect('postAttnNorm', w.postAttnNorm, c.dim);
      expect('postFfnNorm', w.postFfnNorm, c.dim);
    }
    const optional = (a: Float32Array | undefined, on: boolean | undefined, shape: number[]) => (on && a ? device.tensor(a, shape) : null);
    const matrix = (data: Float32Array, shape: [number, number]) => uploadMatrix(device, data, shape, dtype);
    return new DecoderLayer(device, config, {
      attnNorm: device.tensor(w.attnNorm, [c.dim]),
      wqkv: matrix(concatRows(w.wq, w.wk, w.wv), [qDim + 2 * kvDim, c.dim]),
      bqkv: c.qkvBias ? device.tensor(concatRows(w.bq!, w.bk!, w.bv!), [qDim + 2 * kvDim]) : null,
      wo: matrix(w.wo, [c.dim, qDim]),
      ffnNorm: device.tensor(w.ffnNorm, [c.dim]),
      w13: matrix(concatRows(w.w1, w.w3), [2 * c.hiddenDim, c.dim]),
      w2: matrix(w.w2, [c.dim, c.hiddenDim]),
      bo: optional(w.bo, c.oBias, [c.dim]),
      qNorm: optional(w.qNorm, c.qkNorm, [c.headDim]),
      kNorm: optional(w.kNorm, c.qkNorm, [c.headDim]),
      postAttnNorm: optional(w.postAttnNorm, c.sandwichNorms, [c.dim]),
      postFfnNorm: optional(w.postFfnNorm, c.sandwichNorms, [c.dim]),
    });
  }

  /**
   * x [rows, dim] (residual stream) -> [rows, dim], owned by the caller. The rows' keys and values
   * go into `cache` after its committed and pending rows; row i attends to every committed/pending
   * row and to the new rows `mask` allows (mask[i·rows + j] != 0; default causal; a mask [rows, W]
   * wider than the rows covers the last W keys, pending rows before the new ones included). `positions`
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
      if (n % rows !== 0 || n < rows * rows) throw new ShapeError(`DecoderLayer.forward: mask has ${n} entries, expected rows·W = ${rows}·W with W >= rows (W > rows: it covers pending rows too)`);
    }
    const start = cache.length + cache.pending;
    if (start + rows > cache.capacity) {
      throw new CacheError(`DecoderLayer.forward: ${rows} new rows after ${start} cached exceed the cache capacity ${cache.capacity}`);
    }
    // quantized weights always take the norm inside the product: the kernel quantizes each normed row
    // once per workgroup, and the same arithmetic for any row count keeps a row's logits the same in
    // a one-row step and in a tree (one rounding step of int8 moves them far more than f32's).
    // When the RMSNorms run inside the next linear: flags.fuseNormMaxRows / fuseNormMaxDim say why.
    const fuseNorm = this.wqkv instanceof QuantizedMatrix || (rows <= flags.fuseNormMaxRows && c.dim <= flags.fuseNormMaxDim);
    // y = w · rmsnorm(x) + b, the norm inside the linear or as a dispatch of its own.
    const normed = (x: Tensor, norm: Tensor, w: Tensor | QuantizedMatrix, b: Tensor | null) => {
      if (fuseNorm) return linear(x, w, b ?? undefined, { normalize: { weight: norm, eps: c.normEps } });
      const xn = rmsnorm(x, norm, c.normEps);
      try {
        return linear(xn, w, b ?? undefined);
      } finally {
        xn.dispose();
      }
    };

    return scope((t) => {
      // attention: x + wo · attn(rope(wq·xb), rope(wk·xb), wv·xb), xb = rmsnorm(x) (xb = x without inputNorm)
      const qkv = t(c.inputNorm === false ? linear(x, this.wqkv, this.bqkv ?? undefined) : normed(x, this.attnNorm, this.wqkv, this.bqkv)); // [rows, qDim + 2·kvDim]
      // q and k (each head RMS-normed first, with qkNorm) turn by the rows' positions; k and v go into the cache at rows start..
      const qkNorm = this.qNorm && this.kNorm ? { q: this.qNorm, k: this.kNorm, eps: c.normEps } : undefined;
      const rope = { nHeads: c.nHeads, nKvHeads: c.nKvHeads, headDim: c.headDim, theta: c.ropeTheta, freqs: c.ropeFreqs, layout: c.ropeLayout, qkNorm };
      const q = t(ropeCache(qkv, positions, cache.k, cache.v, start, rope)); // [rows, qDim]
      const window = c.window ?? undefined;
      const att = t(
        attention(q, cache.k, cache.v, {
          cachedLen: start, nHeads: c.nHeads, nKvHeads: c.nKvHeads, headDim: c.headDim, mask,
          scale: c.attnScale, softcap: c.attnSoftcap ?? undefined, window, positions: window !== undefined ? positions : undefined,
        }),
      ); // [rows, qDim]
      const bo = this.bo ?? undefined;
      const gate = c.activation === 'gelu_tanh' ? { geglu: true } : { swiglu: true };
      if (!this.postAttnNorm || !this.postFfnNorm) {
        const x2 = t(linear(att, this.wo, bo, { residual: x })); // [rows, dim]

        // feed-forward: x2 + w2 · (silu(w1·xn) ⊙ w3·xn), xn = rmsnorm(x2); the SwiGLU runs inside w2's linear
        const hb13 = t(normed(x2, this.ffnNorm, this.w13, null)); // [rows, 2·hiddenDim]: gate | up
        return linear(hb13, this.w2, undefined, { ...gate, residual: x2 }); // [rows, dim]
      }
      // Sandwich norms: x2 = x + rmsnorm(wo·att), out = x2 + rmsnorm(w2 · gate(w13 · rmsnorm(x2)))
      const o = t(linear(att, this.wo, bo)); // [rows, dim]
      const x2 = t(add(x, t(rmsnorm(o, this.postAttnNorm, c.normEps)))); // [rows, dim]
      const hb13 = t(normed(x2, this.ffnNorm, this.w13, null)); // [rows, 2·hiddenDim]: gate | up
      const f = t(linear(hb13, this.w2, undefined, gate)); // [rows, dim]
      return add(x2, t(rmsnorm(f, this.postFfnNorm, c.normEps))); // [rows, dim]
    });
  }

  /** Bytes of this block's weights on the device. */
  get weightBytes(): number {
    return [this.attnNorm, this.wqkv, this.bqkv, this.wo, this.ffnNorm, this.w13, this.w2, this.bo, this.qNorm, this.kNorm, this.postAttnNorm, this.postFfnNorm].reduce((n, w) => n + (w?.byteLength ?? 0), 0);
  }

  dispose(): void {
    for (const w of [this.attnNorm, this.wqkv, this.bqkv, this.wo, this.ffnNorm, this.w13, this.w2, this.bo, this.qNorm, this.kNorm, this.postAttnNorm, this.postFfnNorm]) w?.dispose();
  }
}

/** Throws a DTypeError when `device` cannot store weights as `dtype`. */
export function checkWeightDType(who: string, device: Device, dtype: unknown): void {
  if (!(WEIGHT_DTYPES as readonly unknown[]).includes(dtype)) throw new DTypeError(`${who}: dtype ${String(dtype)}; expected one of ${WEIGHT_DTYPES.map((d) => `'${d}'`).join(', ')}`);
  if (dtype === 'f16' && !device.hasF16) throw new DTypeError(`${who}: dtype f16 needs the shader-f16 feature, which ${device.name} lacks`);
  if (isQuantized(dtype) && !device.hasPacked4x8) throw new DTypeError(`${who}: dtype ${dtype} needs WGSL's packed_4x8_integer_dot_product, which ${device.name} lacks`);
}

/** A row-major [out, in] weight matrix on the device, stored as `dtype` (quantized on the CPU for q8 and q4). */
export function uploadMatrix(device: Device, data: Float32Array, shape: readonly [number, number], dtype: WeightDType, label?: string): Tensor | QuantizedMatrix {
  if (dtype === 'q8') return Q8Matrix.quantize(device, data, shape, label);
  if (dtype === 'q4') return Q4Matrix.quantize(device, data, shape, label);
  return device.tensor(data, shape, dtype);
}

/** Whether a weight dtype stores the matrices as integer groups (Q8Matrix, Q4Matrix). */
export function isQuantized(dtype: unknown): dtype is 'q8' | 'q4' {
  return dtype === 'q8' || dtype === 'q4';
}
