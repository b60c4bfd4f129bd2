// A plain-TypeScript forward pass of the Llama family, one token at a time, in the manner of
// llama2.c run.c: config, weights and scratch state, with names that follow the math. It is the
// independent reference the WebGPU model is tested against, so it favours clarity over speed
// (sums accumulate in float64, activations are stored in float32 like the GPU's buffers).
//
// The newer families are options of the same loop: a per-layer RoPE table (ropeFrequencies),
// per-head q/k RMSNorm (Qwen3, Gemma 3), a sliding window (Mistral, Gemma's local layers), scaled
// and soft-capped scores, the o bias, GeGLU, sandwich norms, scaled embeddings and capped logits (Gemma).
import { layerAttention, validateConfig, validateWeights, type LlamaConfig, type LlamaWeights } from './config';
import { cpu, IndexError } from '@hydra-ts/tensor';
import { isQuantized } from './layer';
import { layerRopeFrequencies } from './rope-frequencies';

/** Scratch buffers and KV cache, as llama2.c's RunState. */
interface RunState {
  x: Float32Array; // [dim] residual stream
  xb: Float32Array; // [max(dim, qDim)] normed input / attention output
  xb2: Float32Array; // [dim]
  hb: Float32Array; // [hiddenDim]
  hb2: Float32Array; // [hiddenDim]
  q: Float32Array; // [qDim]
  k: Float32Array; // [kvDim]
  v: Float32Array; // [kvDim]
  att: Float32Array; // [maxSeqLen] scores of one head
  keyCache: Float32Array; // [nLayers, maxSeqLen, kvDim]
  valueCache: Float32Array; // [nLayers, maxSeqLen, kvDim]
  hidden: Float32Array; // [dim] final normed hidden state of the last forward
  logits: Float32Array; // [vocabSize]
}

/** out = weight * x / rms(x) */
export function rmsnorm(out: Float32Array, x: Float32Array, weight: Float32Array, eps: number): void {
  let ss = 0;
  for (let j = 0; j < x.length; j++) ss += x[j] * x[j];
  const scale = 1 / Math.sqrt(ss / x.length + eps);
  for (let j = 0; j < x.length; j++) out[j] = weight[j] * (scale * x[j]);
}

/** out[d] = W[d, :] . x (+ bias[d]); W is [d, n] row-major. */
export function matmul(out: Float32Array, x: Float32Array, w: Float32Array, n: number, d: number, bias?: Float32Array): void {
  for (let i = 0; i < d; i++) {
    let val = bias ? bias[i] : 0;
    const row = i * n;
    for (let j = 0; j < n; j++) val += w[row + j] * x[j];
    out[i] = val;
  }
}

/** In-place softmax over the first `size` entries. */
export function softmax(x: Float32Array, size: number): void {
  let max = -Infinity;
  for (let i = 0; i < size; i++) if (x[i] > max) max = x[i];
  let sum = 0;
  for (let i = 0; i < size; i++) {
    x[i] = Math.exp(x[i] - max);
    sum += x[i];
  }
  for (let i = 0; i < size; i++) x[i] /= sum;
}

/**
 * Rotates each head of `vec` ([nHeads * headDim]) by position `pos`. Pair (a, b) of frequency
 * index i turns by angle pos * freqs[i], freqs defaulting to theta^(-2i / headDim); the layout
 * decides which dims form a pair.
 */
export function rope(vec: Float32Array, nHeads: number, headDim: number, pos: number, theta: number, layout: 'interleaved' | 'half', freqs?: ArrayLike<number>): void {
  const half = headDim / 2;
  for (let h = 0; h < nHeads; h++) {
    const base = h * headDim;
    for (let i = 0; i < half; i++) {
      const freq = freqs ? freqs[i] : 1 / Math.pow(theta, (2 * i) / headDim);
      const angle = pos * freq;
      const fcr = Math.cos(angle);
      const fci = Math.sin(angle);
      const a = layout === 'interleaved' ? base + 2 * i : base + i;
      const b = layout === 'interleaved' ? a + 1 : a + half;
      const v0 = vec[a];
      const v1 = vec[b];
      vec[a] = v0 * fcr - v1 * fci;
      vec[b] = v0 * fci + v1 * fcr;
    }
  }
}

export class ReferenceLlama {
  readonly config: LlamaConfig;
  readonly weights: LlamaWeights;
  private readonly s: RunState;
  /** With weights 'q8' or 'q4': every weight matrix quantized once, by identity. */
  private readonly quantized: Map<Float32Array, cpu.Q8Data> | null;
  private readonly quantize: typeof cpu.quantizeQ8Cpu;
  /** Each layer's RoPE table [headDim/2], from the one function the GPU model also uses. */
  private readonly freqs: Float64Array[];

  /**
   * `opts.weights: 'q8'` runs every product as LlamaModel's q8 weights do (int8 weights and
   * inputs); 'q4' as its q4 weights do (4-bit weights, int8 inputs).
   */
  constructor(config: LlamaConfig, weights: LlamaWeights, opts: { weights?: 'f32' | 'q8' | 'q4' } = {}) {
    validateConfig(config);
    validateWeights(config, weights);
    this.config = config;
    this.weights = weights;
    this.quantized = isQuantized(opts.weights) ? new Map() : null;
    this.quantize = opts.weights === 'q4' ? cpu.quantizeQ4Cpu : cpu.quantizeQ8Cpu;
    const c = config;
    const qDim = c.nHeads * c.headDim;
    const kvDim = c.nKvHeads * c.headDim;
    this.freqs = Array.from({ length: c.nLayers }, (_, l) => layerRopeFrequencies(c, l));
    this.s = {
      x: new Float32Array(c.dim),
      xb: new Float32Array(Math.max(c.dim, qDim)),
      xb2: new Float32Array(c.dim),
      hb: new Float32Array(c.hiddenDim),
      hb2: new Float32Array(c.hiddenDim),
      q: new Float32Array(qDim),
      k: new Float32Array(kvDim),
      v: new Float32Array(kvDim),
      att: new Float32Array(c.maxSeqLen),
      keyCache: new Float32Array(c.nLayers * c.maxSeqLen * kvDim),
      valueCache: new Float32Array(c.nLayers * c.maxSeqLen * kvDim),
      hidden: new Float32Array(c.dim),
      logits: new Float32Array(c.vocabSize),
    };
  }

  private mm(out: Float32Array, x: Float32Array, w: Float32Array, n: number, d: number, bias?: Float32Array): void {
    if (!this.quantized) return matmul(out, x, w, n, d, bias);
    let q = this.quantized.get(w);
    if (!q) this.quantized.set(w, (q = this.quantize(w, d, n)));
    out.set(cpu.linearQ8Cpu(x, q, 1, n, d, { bias })); // x in int8 groups of 32 (as llama2.c's runq.c), W in int8 or 4-bit ones
  }

  /** Final RMS-normed hidden state of the last forward call. [dim]; overwritten by the next call. */
  get hidden(): Float32Array {
    return this.s.hidden;
  }

  /** layerInputs[l]: the residual stream entering layer l in the last forward call (copies, [dim] each). */
  readonly layerInputs: Float32Array[] = [];

  /**
   * Runs `token` at position `pos`, writing its keys/values into the cache, and returns the
   * logits [vocabSize]. Positions 0..pos-1 must have been run before; the returned array is
   * reused by the next call.
   */
  forward(token: number, pos: number): Float32Array {
    const c = this.config;
    const w = this.weights;
    const s = this.s;
    if (!Number.isInteger(token) || token < 0 || token >= c.vocabSize) {
      throw new IndexError(`ReferenceLlama.forward: token ${token}, expected an id in [0, ${c.vocabSize})`);
    }
    if (!Number.isInteger(pos) || pos < 0 || pos >= c.maxSeqLen) {
      throw new IndexError(`ReferenceLlama.forward: pos ${pos}, expected a position in [0, ${c.maxSeqLen})`);
    }
    const { dim, headDim, hiddenDim } = c;
    const qDim = c.nHeads * headDim;
    const kvDim = c.nKvHeads * headDim;
    const kvMul = c.nHeads / c.nKvHeads; // query heads sharing one key/value head
    const x = s.x;

    x.set(w.tokenEmbedding.subarray(token * dim, (token + 1) * dim));
    if (c.embedScale !== undefined) for (let i = 0; i < dim; i++) x[i] *= c.embedScale;

    for (let l = 0; l < c.nLayers; l++) {
      this.layerInputs[l] = Float32Array.from(x);
      const lw = w.layers[l];
      const window = layerAttention(c, l).window;

      // attention
      rmsnorm(s.xb.subarray(0, dim), x, lw.attnNorm, c.normEps);
      const xb = s.xb.subarray(0, dim);
      this.mm(s.q, xb, lw.wq, dim, qDim, lw.bq);
      this.mm(s.k, xb, lw.wk, dim, kvDim, lw.bk);
      this.mm(s.v, xb, lw.wv, dim, kvDim, lw.bv);
      if (c.qkNorm) {
        for (let h = 0; h < c.nHeads; h++) {
          const qh = s.q.subarray(h * headDim, (h + 1) * headDim);
          rmsnorm(qh, qh, lw.qNorm!, c.normEps);
        }
        for (let h = 0; h < c.nKvHeads; h++) {
          const kh = s.k.subarray(h * headDim, (h + 1) * headDim);
          rmsnorm(kh, kh, lw.kNorm!, c.normEps);
        }
      }
      rope(s.q, c.nHeads, headDim, pos, c.ropeTheta, c.ropeLayout, this.freqs[l]);
      rope(s.k, c.nKvHeads, headDim, pos, c.ropeTheta, c.ropeLayout, this.freqs[l]);

      const loff = l * c.maxSeqLen * kvDim;
      s.keyCache.set(s.k, loff + pos * kvDim);
      s.valueCache.set(s.v, loff + pos * kvDim);

      const scale = c.attnScale ?? 1 / Math.sqrt(headDim);
      const cap = c.attnSoftcap;
      // keys at positions first..pos: all of them, or the last `window`
      const first = window === null ? 0 : Math.max(0, pos - window + 1);
      for (let h = 0; h < c.nHeads; h++) {
        const qOff = h * headDim;
        const kvHead = Math.floor(h / kvMul) * headDim;
        for (let t = first; t <= pos; t++) {
          const kOff = loff + t * kvDim + kvHead;
          let score = 0;
          for (let i = 0; i < headDim; i++) score += s.q[qOff + i] * s.keyCache[kOff + i];
          score *= scale;
          s.att[t - first] = cap ? cap * Math.tanh(score / cap) : score;
        }
        softmax(s.att, pos + 1 - first);
        for (let i = 0; i < headDim; i++) {
          let acc = 0;
          for (let t = first; t <= pos; t++) acc += s.att[t - first] * s.valueCache[loff + t * kvDim + kvHead + i];
          s.xb[qOff + i] = acc;
        }
      }
      this.mm(s.xb2, s.xb.subarray(0, qDim), lw.wo, qDim, dim, c.oBias ? lw.bo : undefined);
      if (c.sandwichNorms) rmsnorm(s.xb2, s.xb2, lw.postAttnNorm!, c.normEps);
      for (let i = 0; i < dim; i++) x[i] += s.xb2[i];

      // gated feed-forward: w2(act(w1 x) * w3 x), act = SiLU (SwiGLU) or tanh GELU (GeGLU)
      rmsnorm(xb, x, lw.ffnNorm, c.normEps);
      this.mm(s.hb, xb, lw.w1, dim, hiddenDim);
      this.mm(s.hb2, xb, lw.w3, dim, hiddenDim);
      for (let i = 0; i < hiddenDim; i++) {
        const g = s.hb[i];
        const act = c.activation === 'gelu_tanh' ? 0.5 * g * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (g + 0.044715 * g * g * g))) : g / (1 + Math.exp(-g));
        s.hb[i] = act * s.hb2[i];
      }
      this.mm(s.xb2, s.hb, lw.w2, hiddenDim, dim);
      if (c.sandwichNorms) rmsnorm(s.xb2, s.xb2, lw.postFfnNorm!, c.normEps);
      for (let i = 0; i < dim; i++) x[i] += s.xb2[i];
    }

    rmsnorm(s.hidden, x, w.finalNorm, c.normEps);
    this.mm(s.logits, s.hidden, w.output, dim, c.vocabSize);
    const cap = c.finalSoftcap;
    if (cap) for (let i = 0; i < c.vocabSize; i++) s.logits[i] = cap * Math.tanh(s.logits[i] / cap);
    return s.logits;
  }
}

/** Index of the largest logit; the first one on ties, like llama2.c's argmax. */
export function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/**
 * Greedy decoding with llama2.c's stopping rules: `steps` counts positions including the prompt,
 * and generation stops early when the model emits BOS. Returns the generated ids (prompt excluded).
 */
export function referenceGreedy(model: ReferenceLlama, prompt: number[], steps: number): number[] {
  const out: number[] = [];
  let token = prompt[0];
  const limit = Math.min(steps, model.config.maxSeqLen);
  for (let pos = 0; pos < limit; pos++) {
    const logits = model.forward(token, pos);
    const next = pos < prompt.length - 1 ? prompt[pos + 1] : argmax(logits);
    if (next === model.config.bosId) break;
    if (pos >= prompt.length - 1) out.push(next);
    token = next;
  }
  return out;
}
