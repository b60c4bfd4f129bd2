// The Llama forward pass on the GPU, in the manner of llama2.c's forward(): token embedding, N
// decoder layers over the KV cache, final RMSNorm, output projection. Kernels live in
// @hydra-ts/tensor; this file only says which ones run in which order.
//
// The model knows nothing of trees or heads: a forward pass takes tokens, their positions and a
// mask among the new rows, and appends their keys/values to the cache as pending rows.
import {
  concat,
  DisposedError,
  DTypeError,
  embedding,
  gatherRows,
  getDevice,
  HostUploads,
  IndexError,
  linear,
  QuantizedMatrix,
  rmsnorm,
  scale,
  ShapeError,
  slice,
  softcap,
  Tensor,
  type Device,
} from '@hydra-ts/tensor';
import { validateConfig, validateWeights, type LlamaConfig, type LlamaWeights } from './config';
import { CacheError, KVCache } from './cache';
import { checkWeightDType, DecoderLayer, decoderLayerConfig, isQuantized, uploadMatrix, type WeightDType } from './layer';
import { loadModelFiles, type LoadModelOptions } from './load';
import type { FileSource } from './source';
import type { Tokenizer } from './tokenizer';
import type { GenerationConfig } from './generation-config';

export interface LlamaModelOptions {
  device?: Device;
  /**
   * Storage of the matrices: 'f16' halves memory traffic; 'q8' stores the projections and the
   * output layer as int8 groups (Q8Matrix; the token embeddings stay f32) and quantizes their
   * inputs alike, which changes the logits slightly; 'q4' stores them as 4-bit groups
   * (Q4Matrix), half of q8's weight bytes, which changes them more. Default 'f32'.
   */
  dtype?: WeightDType;
  /** llama2.c models also stop generating at BOS. Default 'llama2c'. */
  format?: 'llama2c' | 'hf';
  /** Decoding defaults (a Hugging Face generation_config.json) used where a caller sets none. */
  generationDefaults?: GenerationConfig;
}

export interface LoadOptions extends LlamaModelOptions, Pick<LoadModelOptions, 'maxContext' | 'allowNonfinite'> {
  /** Tokenizer file name within the source, or a ready tokenizer. */
  tokenizer?: string | Tokenizer;
  /** File name of a llama2.c checkpoint within the source (not needed for a path to a .bin file). */
  checkpoint?: string;
}

export type LogitsChoice = 'all' | 'last' | 'none' | readonly number[];

export interface ForwardInput {
  /**
   * Token ids: host integers (checked here), or an i32 tensor [rows] on the model's device (ids a
   * draft head left on the GPU; checked by the embedding kernel, so an out-of-range id makes the
   * next read-back throw an IndexError). A tensor is borrowed, not disposed.
   */
  tokens: Int32Array | readonly number[] | Tensor;
  /**
   * RoPE positions [rows]; default cache.length + i. Host integers (checked here), or an i32 tensor
   * [rows] on the model's device (a tree built on the GPU; borrowed, its values in [0, maxSeqLen) the caller's to keep).
   */
  positions?: Int32Array | Tensor;
  /** [rows·rows]: mask[i·rows + j] != 0 lets new row i see new row j. Default causal. Host bytes, or a u32 tensor [rows, rows] on the model's device (borrowed). */
  mask?: Uint8Array | Tensor;
  /** Which rows get logits; default 'all'. */
  logits?: LogitsChoice;
  /**
   * Layers whose input (the residual stream before layer l: the embeddings for l = 0, the output of
   * layer l - 1 otherwise) is returned in `features`, concatenated in this order. EAGLE-3 drafts
   * from such low, middle and high features; vLLM calls them auxiliary hidden states.
   */
  capture?: readonly number[];
}

export interface ForwardOutput {
  hidden: Tensor; // [rows, dim], final-normed
  logits: Tensor | null; // [k, vocab]
  /** [rows, capture.length · dim]: the captured layers' inputs side by side (un-normed); only with `capture`. */
  features?: Tensor;
}

export class LlamaModel {
  readonly config: LlamaConfig;
  readonly device: Device;
  readonly tokenizer?: Tokenizer;
  readonly format: 'llama2c' | 'hf';
  /** generation_config.json's defaults ({} when the model has none). */
  readonly generationDefaults: GenerationConfig;
  /** Every id that ends generation: config.eosIds (or eosId) and the tokenizer's eosIds. */
  readonly eosIds: readonly number[];
  readonly dtype: WeightDType;
  readonly tokenEmbedding: Tensor; // [vocab, dim]
  readonly outputWeight: Tensor; // [vocab, dim]; tokenEmbedding itself when tied
  /** What project() multiplies by: outputWeight, or its quantized copy with dtype 'q8' or 'q4'. */
  private readonly outputProjection: Tensor | QuantizedMatrix;
  readonly finalNorm: Tensor; // [dim]
  /** Each pass's positions and mask, in buffers that stay the same from pass to pass. */
  private readonly uploads: HostUploads;
  readonly layers: readonly DecoderLayer[];
  private disposed = false;

  private constructor(device: Device, config: LlamaConfig, weights: LlamaWeights, tokenizer: Tokenizer | undefined, opts: LlamaModelOptions) {
    const c = config;
    this.device = device;
    this.config = config;
    this.tokenizer = tokenizer;
    this.format = opts.format ?? 'llama2c';
    this.generationDefaults = opts.generationDefaults ?? {};
    this.eosIds = [...new Set([...(c.eosIds ?? [c.eosId]), ...(tokenizer?.eosIds ?? [])])];
    this.dtype = opts.dtype ?? 'f32';
    const quantized = isQuantized(this.dtype);
    const tableDType = quantized ? 'f32' : this.dtype; // embedding lookups read f32 or f16
    this.tokenEmbedding = device.tensor(weights.tokenEmbedding, [c.vocabSize, c.dim], tableDType);
    this.outputWeight = c.tiedEmbeddings ? this.tokenEmbedding : device.tensor(weights.output, [c.vocabSize, c.dim], tableDType);
    this.outputProjection = quantized ? uploadMatrix(device, weights.output, [c.vocabSize, c.dim], this.dtype, 'output') : this.outputWeight;
    this.finalNorm = device.tensor(weights.finalNorm, [c.dim]);
    this.uploads = new HostUploads(device);
    this.layers = weights.layers.map((w, l) => DecoderLayer.fromWeights(device, decoderLayerConfig(c, l), w, { dtype: this.dtype }));
  }

  /** Loads a llama2.c checkpoint (path to a .bin, or a source + opts.checkpoint) or a Hugging Face directory. */
  static async load(source: FileSource | string, opts: LoadOptions = {}): Promise<LlamaModel> {
    const files = await loadModelFiles(source, { tokenizer: opts.tokenizer, checkpoint: opts.checkpoint, maxContext: opts.maxContext, allowNonfinite: opts.allowNonfinite });
    const device = opts.device ?? (await getDevice());
    return LlamaModel.fromWeights(device, files.config, files.weights, files.tokenizer, { generationDefaults: files.generationConfig, ...opts, format: files.format });
  }

  static fromWeights(device: Device, config: LlamaConfig, weights: LlamaWeights, tokenizer?: Tokenizer, opts: LlamaModelOptions = {}): LlamaModel {
    validateConfig(config);
    validateWeights(config, weights);
    checkWeightDType('LlamaModel', device, opts.dtype ?? 'f32');
    if (isQuantized(opts.dtype)) {
      const odd = Object.entries({ dim: config.dim, 'nHeads·headDim': config.nHeads * config.headDim, hiddenDim: config.hiddenDim }).filter(([, v]) => v % 4 !== 0);
      if (odd.length > 0) {
        throw new DTypeError(`LlamaModel: dtype ${opts.dtype} reads rows four values at a time; ${odd.map(([k, v]) => `${k} = ${v}`).join(', ')} ${odd.length > 1 ? 'are not multiples' : 'is not a multiple'} of 4`);
      }
    }
    return new LlamaModel(device, config, weights, tokenizer, opts);
  }

  /** A KV cache for this model; capacity defaults to config.maxSeqLen. */
  createCache(capacity = this.config.maxSeqLen): KVCache {
    const c = this.config;
    return new KVCache(this.device, { nLayers: c.nLayers, kvDim: c.nKvHeads * c.headDim, capacity });
  }

  /** Checks a borrowed input tensor of forward: live, on this device, of `dtypes`, `size` entries. */
  private checkInput(name: string, t: Tensor, dtypes: readonly string[], size: number, shape: string): void {
    if (t.disposed) throw new DisposedError(`LlamaModel.forward: ${name} ${t.describe()} was disposed`);
    if (t.device !== this.device) throw new ShapeError(`LlamaModel.forward: ${name} ${t.describe()} lives on another device than the model`);
    if (!dtypes.includes(t.dtype)) throw new DTypeError(`LlamaModel.forward: ${name} ${t.describe()}, expected ${dtypes.join(' or ')}`);
    if (t.size !== size) throw new ShapeError(`LlamaModel.forward: ${name} ${t.describe()}, expected ${shape}`);
  }

  /**
   * Runs the new tokens through the model. Their keys/values become pending rows of `cache`
   * (commit() keeps them); each attends to the committed rows and to the new rows `mask` allows.
   * Returns tensors the caller owns.
   */
  forward(cache: KVCache, input: ForwardInput): ForwardOutput {
    const c = this.config;
    this.checkLive('forward');
    let tokens: Int32Array | Tensor;
    if (input.tokens instanceof Tensor) {
      tokens = input.tokens;
      if (tokens.disposed) throw new DisposedError(`LlamaModel.forward: tokens ${tokens.describe()} was disposed`);
      if (tokens.dtype !== 'i32' || tokens.rank !== 1) throw new DTypeError(`LlamaModel.forward: tokens ${tokens.describe()}, expected an i32 tensor [rows]`);
      if (tokens.device !== this.device) throw new ShapeError(`LlamaModel.forward: tokens ${tokens.describe()} live on another device than the model`);
    } else {
      this.checkTokens('forward', input.tokens);
      tokens = Int32Array.from(input.tokens);
    }
    const rows = tokens instanceof Tensor ? tokens.shape[0] : tokens.length;
    if (rows === 0) throw new ShapeError('LlamaModel.forward: tokens is empty, expected at least one token');
    if (cache.pending > 0) {
      throw new CacheError(`LlamaModel.forward: the cache holds ${cache.pending} pending rows of the previous forward; commit() or rollback() them first`);
    }
    if (cache.layers.length !== c.nLayers || cache.kvDim !== c.nKvHeads * c.headDim) {
      throw new CacheError(`LlamaModel.forward: the cache has ${cache.layers.length} layers of width ${cache.kvDim}, expected ${c.nLayers} of ${c.nKvHeads * c.headDim} (use model.createCache())`);
    }
    const positions = input.positions ?? Int32Array.from({ length: rows }, (_, i) => cache.length + i);
    if (positions instanceof Tensor) this.checkInput('positions', positions, ['i32'], rows, `[rows = ${rows}]`);
    else {
      if (positions.length !== rows) throw new ShapeError(`LlamaModel.forward: ${positions.length} positions for ${rows} tokens`);
      positions.forEach((p, i) => {
        if (!Number.isInteger(p) || p < 0 || p >= c.maxSeqLen) {
          throw new IndexError(`LlamaModel.forward: positions[${i}] = ${p}, expected a position in [0, maxSeqLen = ${c.maxSeqLen})`);
        }
      });
    }
    if (input.mask instanceof Tensor) this.checkInput('mask', input.mask, ['u32', 'i32'], rows * rows, `[rows, rows] = [${rows}, ${rows}]`);
    else if (input.mask !== undefined && input.mask.length !== rows * rows) {
      throw new ShapeError(`LlamaModel.forward: mask has ${input.mask.length} entries, expected rows·rows = ${rows * rows} for ${rows} tokens`);
    }
    const capture = input.capture ?? [];
    capture.forEach((l, i) => {
      if (!Number.isInteger(l) || l < 0 || l >= c.nLayers) throw new IndexError(`LlamaModel.forward: capture[${i}] = ${l}, expected a layer in [0, nLayers = ${c.nLayers})`);
    });
    const choice = input.logits ?? 'all';
    if (typeof choice !== 'string') {
      choice.forEach((r, i) => {
        if (!Number.isInteger(r) || r < 0 || r >= rows) throw new IndexError(`LlamaModel.forward: logits rows[${i}] = ${r}, expected a row in [0, ${rows})`);
      });
    } else if (!['all', 'last', 'none'].includes(choice)) {
      throw new ShapeError(`LlamaModel.forward: logits = '${choice}', expected 'all', 'last', 'none' or row indices`);
    }
    cache.checkRoom(rows, 'LlamaModel.forward');

    const device = this.device;
    const pos = positions instanceof Tensor ? positions : this.uploads.get('positions', positions, [rows], 'i32'); // [rows], borrowed or held by this.uploads
    const mask = input.mask instanceof Tensor ? input.mask : input.mask ? this.uploads.get('mask', input.mask, [rows, rows], 'u32') : undefined; // [rows, rows]
    let x: Tensor = embedding(this.tokenEmbedding, tokens); // [rows, dim]
    if (c.embedScale !== undefined && c.embedScale !== 1) {
      const scaled = scale(x, c.embedScale); // Gemma: x·√dim
      x.dispose();
      x = scaled;
    }
    const captured = new Map<number, Tensor>(); // layer -> its input [rows, dim], shared by repeats
    for (let l = 0; l < c.nLayers; l++) {
      if (capture.includes(l)) captured.set(l, x);
      const next = this.layers[l].forward(x, cache.layers[l], pos, mask);
      if (!captured.has(l)) x.dispose();
      x = next;
    }
    cache.append(rows);
    let features: Tensor | undefined; // [rows, capture.length · dim]
    if (capture.length > 0) {
      features = concat(capture.map((l) => captured.get(l)!), 1);
      for (const t of captured.values()) t.dispose();
    }
    const hidden = rmsnorm(x, this.finalNorm, c.normEps); // [rows, dim]
    x.dispose();

    let logits: Tensor | null = null; // [k, vocab]
    if (choice === 'all' || (choice === 'last' && rows === 1)) logits = this.project(hidden);
    else if (choice === 'last') {
      const last = slice(hidden, 0, rows - 1, rows); // [1, dim]
      logits = this.project(last);
      last.dispose();
    } else if (choice !== 'none') {
      const picked = gatherRows(hidden, Int32Array.from(choice)); // [k, dim]
      logits = this.project(picked);
      picked.dispose();
    }
    return features ? { hidden, logits, features } : { hidden, logits };
  }

  /** Token embeddings [n, dim] (f32 whatever the storage). */
  embed(tokens: Int32Array | readonly number[] | Tensor<'i32'>): Tensor {
    this.checkLive('embed');
    if (tokens instanceof Int32Array || Array.isArray(tokens)) this.checkTokens('embed', tokens as ArrayLike<number>);
    return embedding(this.tokenEmbedding, tokens as Tensor<'i32'> | ArrayLike<number>);
  }

  /** hidden [rows, dim] -> logits [rows, vocab] through the output layer. */
  project(hidden: Tensor): Tensor {
    this.checkLive('project');
    if (hidden.rank !== 2 || hidden.shape[1] !== this.config.dim) {
      throw new ShapeError(`LlamaModel.project: hidden ${hidden.describe()}, expected [rows, dim = ${this.config.dim}]`);
    }
    const logits = linear(hidden, this.outputProjection); // [rows, vocab]
    const cap = this.config.finalSoftcap;
    if (!cap) return logits;
    const capped = softcap(logits, cap); // Gemma 2: cap·tanh(logits / cap)
    logits.dispose();
    return capped;
  }

  /** Bytes of the weights on the device: layers, embeddings, the output projection (once when tied) and the final norm. */
  get weightBytes(): number {
    const output = this.outputProjection === this.tokenEmbedding ? 0 : this.outputProjection.byteLength;
    const untied = this.outputWeight !== this.tokenEmbedding && this.outputWeight !== this.outputProjection ? this.outputWeight.byteLength : 0;
    return this.layers.reduce((n, l) => n + l.weightBytes, 0) + this.tokenEmbedding.byteLength + output + untied + this.finalNorm.byteLength;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const l of this.layers) l.dispose();
    this.tokenEmbedding.dispose();
    if (this.outputWeight !== this.tokenEmbedding) this.outputWeight.dispose();
    if (this.outputProjection !== this.outputWeight) this.outputProjection.dispose();
    this.finalNorm.dispose();
    this.uploads.dispose();
  }

  private checkTokens(who: string, tokens: ArrayLike<number>): void {
    const V = this.config.vocabSize;
    Array.prototype.forEach.call(tokens, (t: number, i: number) => {
      if (!Number.isInteger(t) || t < 0 || t >= V) throw new IndexError(`LlamaModel.${who}: token ${t} at index ${i} is outside the vocabulary [0, ${V})`);
    });
  }

  private checkLive(who: string): void {
    if (this.disposed) throw new DisposedError(`LlamaModel.${who}: the model was disposed`);
  }
}
