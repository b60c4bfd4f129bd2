// EAGLE-3 (Li et al. 2025, "EAGLE-3: Scaling up Inference Acceleration of Large Language Models via
// Training-Time Test"): the EAGLE drafting (eagle.ts: host-picked frontiers, ancestry masks, the
// head's own KV cache, rollback) with another draft layer and its own output layer.
//
//   a     = W_fc F_i                    committed row i: F_i = [F_low; F_mid; F_high] of position i
//   a     = m(parent)                   tree node n: its parent's output, token x_n, position L-1+d
//   u     = [rms(e(x)) · input_norm ; rms(a) · hidden_norm]                        [2·dim]
//   o     = a + Wo attn(rope(Wq u), rope(Wk u), Wv u)
//   m     = o + W2 (silu(W1 n) ⊙ W3 n),  n = rms(o) · ffn_norm
//   draft = lm_head (rms(m) · norm)      [draftVocabSize]; base token = d2t[draft id]
//
// The layer's input row is [e; a] side by side [rows, 2·dim]: the tree rows are run again per depth
// (as in eagle.ts), so the row carries both halves. RoPE and eps are the base model's.
import { layerRopeFrequencies } from '@hydra-ts/model';
import { attention, concat, linear, rmsnorm, ropeCache, scope, slice, type Tensor } from '@hydra-ts/tensor';
import type { HeadConfig } from './config';
import type { HeadBase } from './draft-head';
import { EagleHead } from './eagle';
import { HeadOptionError, HeadStateError } from './errors';
import type { Keep } from './sequential-heads';

export class Eagle3Head extends EagleHead {
  /** [qDim + 2·kvDim, 2·dim] wq, wk, wv stacked. */
  private readonly wqkv: Tensor;
  private readonly wo: Tensor; // [dim, qDim]
  private readonly w13: Tensor; // [2·hiddenDim, dim] gate (w1) stacked on up (w3)
  private readonly w2: Tensor; // [dim, hiddenDim]
  private readonly ropeFreqs: Float64Array | undefined;

  /** `params`: eagle3.fc.weight, the norms and lm_head (f32 tensors); `values`: every eagle3.* value on the CPU. */
  constructor(base: HeadBase, config: HeadConfig, params: Map<string, Tensor>, values: Map<string, Float32Array>) {
    if (!config.eagle3) throw new HeadStateError(`eagle3 heads need config.eagle3 (the draft layer's shape)`);
    super(base, config, params, values);
    const e = config.eagle3;
    const get = (n: string) => {
      const v = values.get(`eagle3.${n}`);
      if (!v) throw new HeadStateError(`eagle3: parameter eagle3.${n} is missing`);
      return v;
    };
    const join = (...parts: Float32Array[]) => {
      const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of parts) (out.set(p, at), (at += p.length));
      return out;
    };
    const qDim = e.nHeads * e.headDim;
    const kvDim = e.nKvHeads * e.headDim;
    const dim = config.dim;
    const d = this.device;
    this.wqkv = d.tensor(join(get('wq'), get('wk'), get('wv')), [qDim + 2 * kvDim, 2 * dim]);
    this.wo = d.tensor(get('wo'), [dim, qDim]);
    this.w13 = d.tensor(join(get('w1'), get('w3')), [2 * e.hiddenDim, dim]);
    this.w2 = d.tensor(get('w2'), [dim, e.hiddenDim]);
    this.ropeFreqs = layerRopeFrequencies(base.config, 0);
  }

  /** The base layers whose inputs the head drafts from: the decoder captures them and passes them to observe. */
  get featureLayers(): readonly number[] {
    return this.config.eagle3!.featureLayers;
  }

  override parameters(): Map<string, Tensor> {
    const all = new Map(this.params);
    this.exposed = true;
    all.set('eagle3.wqkv', this.wqkv);
    all.set('eagle3.wo', this.wo);
    all.set('eagle3.w13', this.w13);
    all.set('eagle3.w2', this.w2);
    return all;
  }

  override async readParameters(): Promise<Map<string, Float32Array>> {
    const e = this.config.eagle3!;
    const dim = this.config.dim;
    const out = new Map<string, Float32Array>();
    for (const [k, v] of this.params) out.set(k, (await v.read()) as Float32Array);
    const qkv = (await this.wqkv.read()) as Float32Array;
    const q = e.nHeads * e.headDim * 2 * dim;
    const kv = e.nKvHeads * e.headDim * 2 * dim;
    out.set('eagle3.wq', qkv.slice(0, q));
    out.set('eagle3.wk', qkv.slice(q, q + kv));
    out.set('eagle3.wv', qkv.slice(q + kv));
    out.set('eagle3.wo', (await this.wo.read()) as Float32Array);
    const w13 = (await this.w13.read()) as Float32Array;
    out.set('eagle3.w1', w13.slice(0, e.hiddenDim * dim));
    out.set('eagle3.w3', w13.slice(e.hiddenDim * dim));
    out.set('eagle3.w2', (await this.w2.read()) as Float32Array);
    out.set('eagle3.d2t', Float32Array.from(this.vocabulary!.ids));
    return out;
  }

  override dispose(): void {
    for (const t of [this.wqkv, this.wo, this.w13, this.w2]) if (!t.disposed) t.dispose();
    super.dispose();
  }

  override drawCandidates(opts: { temperature?: number; seed?: number } | null): void {
    if (opts !== null) throw new HeadOptionError(`eagle3.drawCandidates: drawn candidates are not supported by eagle3 heads (their draft vocabulary is reduced); they propose their top-k, which both verifiers verify exactly`);
  }

  /** [e; W_fc F_i] for committed rows. */
  protected override committedInput(e: Tensor, f: Tensor, keep: Keep): Tensor {
    return concat([e, keep(linear(f, this.param('eagle3.fc.weight')))], 1); // [m, 2·dim]
  }

  /** [e(x_n); m(parent)] for tree rows. */
  protected override treeInput(e: Tensor, prev: Tensor): Tensor {
    return concat([e, prev], 1); // [new, 2·dim]
  }

  /** The EAGLE-3 layer on rows x = [e; a] [rows, 2·dim]: m [rows, dim]. */
  protected override runLayer(x: Tensor, positions: Int32Array, mask?: Uint8Array | Tensor): Tensor {
    const c = this.config.eagle3!;
    const dim = this.config.dim;
    const eps = this.base.config.normEps;
    const cache = this.cache.layers[0];
    const start = cache.length + cache.pending;
    return scope((t) => {
      const e = t(slice(x, 1, 0, dim)); // [rows, dim]
      const a = t(slice(x, 1, dim, 2 * dim)); // [rows, dim]
      const u = t(concat([t(rmsnorm(e, this.param('eagle3.input_norm'), eps)), t(rmsnorm(a, this.param('eagle3.hidden_norm'), eps))], 1)); // [rows, 2·dim]
      const qkv = t(linear(u, this.wqkv)); // [rows, qDim + 2·kvDim]
      const rope = { nHeads: c.nHeads, nKvHeads: c.nKvHeads, headDim: c.headDim, theta: this.base.config.ropeTheta, freqs: this.ropeFreqs, layout: this.base.config.ropeLayout };
      const q = t(ropeCache(qkv, positions, cache.k, cache.v, start, rope)); // [rows, qDim]
      const att = t(attention(q, cache.k, cache.v, { cachedLen: start, nHeads: c.nHeads, nKvHeads: c.nKvHeads, headDim: c.headDim, mask })); // [rows, qDim]
      const o = t(linear(att, this.wo, undefined, { residual: a })); // [rows, dim]
      const hb13 = t(linear(t(rmsnorm(o, this.param('eagle3.ffn_norm'), eps)), this.w13)); // [rows, 2·hiddenDim]
      return linear(hb13, this.w2, undefined, { swiglu: true, residual: o }); // [rows, dim]
    });
  }

  /** Draft logits lm_head (rms(m) · norm) [rows, draftVocabSize], owned by the caller. */
  draftLogits(m: Tensor): Tensor {
    const n = rmsnorm(m, this.param('eagle3.norm'), this.base.config.normEps);
    try {
      return linear(n, this.param('eagle3.lm_head'));
    } finally {
      n.dispose();
    }
  }

  protected override rowLogits(m: Tensor): Tensor {
    return this.draftLogits(m);
  }

  /** Draft logits [rows, draftVocabSize] (draft ids; the drafting maps the ranked ids to base ids through d2t). */
  protected override headLogits(_i: number, m: Tensor): Tensor {
    return this.draftLogits(m);
  }
}
