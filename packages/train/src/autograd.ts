// Tape-based reverse-mode autodiff over @hydra-ts/tensor Tensors.
//
// Forward ops run the tensor package's GPU kernels and record, on a Tape, a closure that maps the
// output's gradient to its inputs' gradients (kernels in ./grad). backward() walks the tape in
// reverse: recording order is already a topological order.
//
// Ownership (as in jax-js): a leaf Var (a parameter, an input) belongs to whoever made it and
// keeps its value and grad until it is disposed; every Var a Tape op returns belongs to the tape
// and dies with tape.dispose(). Gradients accumulate into leaf.grad across backward() calls until
// zeroGrad(), so micro-batches can be summed before an optimiser step.

import {
  add,
  attention,
  concat,
  embedding,
  HydraError,
  IndexError,
  linear,
  logSoftmax,
  matmul,
  mul,
  OptionError,
  rmsnorm,
  rope,
  scale,
  ShapeError,
  DTypeError,
  DisposedError,
  silu,
  gelu,
  slice,
  softmax,
  type Device,
  type RopeLayout,
  type Tensor,
} from '@hydra-ts/tensor';
import { attentionBackward } from './grad/attention';
import { draftedAttention, draftedAttentionBackward, type DraftedAttentionOptions } from './grad/drafted-attention';
import { crossEntropyBackward, crossEntropyForward } from './grad/cross-entropy';
import { dropoutMask } from './grad/dropout';
import { topKCrossEntropyBackward, topKCrossEntropyForward, type SparseTeacher } from './grad/topk-cross-entropy';
import { scaleBy } from './grad/scale-by';
import { smoothL1Backward, smoothL1Forward } from './grad/smooth-l1';
import { embeddingBackward } from './grad/embedding';
import { sumRows } from './grad/reduce';
import { rmsnormBackward } from './grad/rmsnorm';
import { ropeBackward } from './grad/rope';
import { siluBackward } from './grad/silu';
import { geluBackward } from './grad/gelu';
import { sliceBackward } from './grad/slice';
import { softmaxBackward } from './grad/softmax';

/** Misuse of the autograd engine: backward twice, a non-scalar loss without a seed, a Var from another tape. */
export class AutogradError extends HydraError {}

export interface VarOptions {
  requiresGrad?: boolean;
  /** Named in error messages and by optimisers (safetensors names for parameters). */
  name?: string;
}

/** A tensor in the graph: its value, and its gradient once backward() has reached it. */
export class Var {
  value: Tensor;
  grad: Tensor<'f32'> | null = null;
  readonly requiresGrad: boolean;
  readonly name: string;
  /** @internal The tape that owns this Var (null for leaves). */
  readonly tape: Tape | null;

  constructor(value: Tensor, options: VarOptions = {}, tape: Tape | null = null) {
    this.value = value;
    this.requiresGrad = options.requiresGrad ?? false;
    this.name = options.name ?? (tape ? 'intermediate' : 'leaf');
    this.tape = tape;
  }

  /** A trainable leaf that takes ownership of `value` (f32). */
  static param(value: Tensor, name: string): Var {
    if (value.dtype !== 'f32') throw new DTypeError(`parameter ${name}: ${value.describe()} must be f32 to be trained`);
    return new Var(value, { requiresGrad: true, name });
  }

  get shape(): readonly number[] {
    return this.value.shape;
  }

  zeroGrad(): void {
    this.grad?.dispose();
    this.grad = null;
  }

  /** Frees the value and grad of a leaf. Tape-owned Vars are freed by tape.dispose(). */
  dispose(): void {
    this.zeroGrad();
    this.value.dispose();
  }

  toString(): string {
    return `Var(${this.name} ${this.value.describe()}${this.requiresGrad ? ', grad' : ''})`;
  }
}

/** Gradients for a node's inputs, in input order; null where none is needed. */
type Backward = (dy: Tensor<'f32'>) => Array<Tensor<'f32'> | null>;

interface Node {
  out: Var;
  inputs: Var[];
  backward: Backward;
}

export interface CrossEntropyOptions {
  /** Per-row weight (0 drops a row); default 1. Rows whose target id is −1 are dropped too. */
  weights?: ArrayLike<number>;
  /** Divide the weighted sum by this; default the sum of the weights (a weighted mean). */
  normalizer?: number;
}

export interface AttentionGradOpts {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  /** [T, T], nonzero = row i may see row j; default causal. */
  mask?: Uint8Array | Uint32Array;
  scale?: number;
}

export interface RopeGradOptions {
  headDim: number;
  theta?: number;
  layout: RopeLayout;
  /** Each pair's frequency [headDim / 2] (a scaled RoPE's, e.g. layerRopeFrequencies), instead of theta^(-2i/headDim). */
  freqs?: ArrayLike<number>;
}

/** Records ops for one forward pass; owns every Var it returns until dispose(). */
export class Tape {
  readonly device: Device;
  private nodes: Node[] = [];
  private owned: Var[] = [];
  /** Tensors kept for backward that belong to no Var (saved statistics, uploaded targets). */
  private saved: Tensor[] = [];
  private done = false;
  private disposed = false;

  constructor(device: Device) {
    this.device = device;
  }

  /** Wraps a tensor the caller keeps owning as an input that needs no gradient (data, frozen weights). */
  constant(value: Tensor, name = 'constant'): Var {
    return new Var(value, { name });
  }

  // ------------------------------------------------------------------ ops

  /** y = x·wᵀ + b; x [rows, in], w [out, in] (frozen weights may be f16), b [out] -> [rows, out]. */
  linear(x: Var, w: Var, b?: Var): Var {
    this.check('linear', x, w, ...(b ? [b] : []));
    if (x.value.rank !== 2) throw new ShapeError(`linear: x ${x.value.describe()} must be [rows, in]`);
    const y = linear(x.value, w.value, b?.value);
    return this.record(y, b ? [x, w, b] : [x, w], (dy) => [
      x.requiresGrad ? matmul(dy, w.value) : null, // [rows, out]·[out, in]
      w.requiresGrad ? matmul(dy, x.value, { transposeA: true }) : null, // dyᵀ·x: [out, in]
      ...(b ? [b.requiresGrad ? sumRows(dy, dy.shape[1]) : null] : []),
    ]);
  }

  /** c = a·b; a [m, k], b [k, n] -> [m, n]. */
  matmul(a: Var, b: Var): Var {
    this.check('matmul', a, b);
    const c = matmul(a.value, b.value);
    return this.record(c, [a, b], (dc) => [
      a.requiresGrad ? matmul(dc, b.value, { transposeB: true }) : null,
      b.requiresGrad ? matmul(a.value, dc, { transposeA: true }) : null,
    ]);
  }

  /** x + y; y has x's shape or is a row vector [x's last dim] broadcast over rows. */
  add(x: Var, y: Var): Var {
    this.check('add', x, y);
    const out = add(x.value, y.value);
    const broadcast = y.value.size !== x.value.size;
    return this.record(out, [x, y], (dy) => [
      x.requiresGrad ? dy.reshape(dy.shape) : null,
      y.requiresGrad ? (broadcast ? sumRows(dy, y.value.size).reshape(y.shape) : dy.reshape(dy.shape)) : null,
    ]);
  }

  /** x ⊙ y; y has x's shape or is a row vector broadcast over rows. */
  mul(x: Var, y: Var): Var {
    this.check('mul', x, y);
    const out = mul(x.value, y.value);
    const broadcast = y.value.size !== x.value.size;
    return this.record(out, [x, y], (dy) => {
      let dyv: Tensor<'f32'> | null = null;
      if (y.requiresGrad) {
        const prod = mul(dy, x.value);
        dyv = broadcast ? sumRows(prod, y.value.size).reshape(y.shape) : prod;
        if (broadcast) prod.dispose();
      }
      return [x.requiresGrad ? mul(dy, y.value) : null, dyv];
    });
  }

  /** x · s for a constant s. */
  scale(x: Var, s: number): Var {
    this.check('scale', x);
    return this.record(scale(x.value, s), [x], (dy) => [scale(dy, s)]);
  }

  /** x · sigmoid(x) */
  silu(x: Var): Var {
    this.check('silu', x);
    return this.record(silu(x.value), [x], (dy) => [siluBackward(x.value, dy)]);
  }

  /** x · Φ(x), the exact (erf) GELU */
  gelu(x: Var): Var {
    this.check('gelu', x);
    return this.record(gelu(x.value), [x], (dy) => [geluBackward(x.value, dy)]);
  }

  /** Joins along axis 0 (rows) or the last axis (columns). */
  concat(xs: readonly Var[], axis: number): Var {
    this.check('concat', ...xs);
    const parts = [...xs]; // the backward splits by these, whatever the caller does to its array later
    const y = concat(parts.map((v) => v.value), axis) as Tensor<'f32'>;
    const a = axis === 0 ? 0 : y.rank - 1;
    return this.record(y, parts, (dy) => {
      let at = 0;
      return parts.map((v) => {
        const w = v.shape[a];
        const g = v.requiresGrad ? (slice(dy, axis, at, at + w) as Tensor<'f32'>) : null;
        at += w;
        return g;
      });
    });
  }

  /** Entries start ≤ i < end along axis 0 (rows) or the last axis (columns). */
  slice(x: Var, axis: number, start: number, end: number): Var {
    this.check('slice', x);
    const y = slice(x.value, axis, start, end) as Tensor<'f32'>;
    const which = (axis < 0 ? axis + x.value.rank : axis) === 0 ? 0 : 'last';
    return this.record(y, [x], (dy) => [sliceBackward(dy, x.shape, which, start, end)]);
  }

  /** Rows of table [vocab, dim] for host ids -> [n, dim]; the table may be trained (tied embeddings). */
  embedding(table: Var, ids: ArrayLike<number>): Var {
    this.check('embedding', table);
    const host = Int32Array.from(ids);
    const y = embedding(table.value, host);
    const vocab = table.shape[0];
    return this.record(y, [table], (dy) => [embeddingBackward(dy, host, vocab)]);
  }

  /** Row-wise RMSNorm with a (trainable or constant) weight [dim]. */
  rmsnorm(x: Var, w: Var, eps = 1e-5): Var {
    this.check('rmsnorm', x, w);
    if (w.value.dtype !== 'f32') throw new DTypeError(`rmsnorm: weight ${w.value.describe()} must be f32 to back-propagate through`);
    const y = rmsnorm(x.value, w.value, eps);
    return this.record(y, [x, w], (dy) => {
      const { dx, dw } = rmsnormBackward(x.value, w.value, dy, eps, w.requiresGrad);
      return [x.requiresGrad ? dx : (dx.dispose(), null), dw];
    });
  }

  /** Rotary embedding of x [rows, nHeads·headDim] at host positions [rows]. */
  rope(x: Var, positions: ArrayLike<number>, options: RopeGradOptions): Var {
    this.check('rope', x);
    const pos = Int32Array.from(positions);
    const theta = options.theta ?? 10000;
    const y = rope(x.value, pos, { headDim: options.headDim, theta, layout: options.layout, freqs: options.freqs });
    return this.record(y, [x], (dy) => [ropeBackward(dy, pos, options.headDim, theta, options.layout, options.freqs)]);
  }

  /**
   * Self-attention over a whole sequence: q [T, nHeads·hd], k and v [T, nKvHeads·hd] -> [T, nHeads·hd].
   * Causal unless a [T, T] mask is given.
   */
  attention(q: Var, k: Var, v: Var, options: AttentionGradOpts): Var {
    this.check('attention', q, k, v);
    const T = q.shape[0];
    if (k.shape[0] !== T || v.shape[0] !== T) {
      throw new ShapeError(`attention: q, k and v must have the same number of rows (q ${q.value.describe()}, k ${k.value.describe()}, v ${v.value.describe()})`);
    }
    const scaleFactor = options.scale ?? 1 / Math.sqrt(options.headDim);
    const mask = options.mask ? Uint32Array.from(options.mask) : null;
    const o = attention(q.value, k.value, v.value, { cachedLen: 0, nHeads: options.nHeads, nKvHeads: options.nKvHeads, headDim: options.headDim, mask: mask ?? undefined, scale: scaleFactor });
    const out = this.record(o, [q, k, v], (dO) => {
      const g = attentionBackward(q.value, k.value, v.value, out.value, dO, { ...options, scale: scaleFactor, mask });
      return [q.requiresGrad ? g.dq : (g.dq.dispose(), null), k.requiresGrad ? g.dk : (g.dk.dispose(), null), v.requiresGrad ? g.dv : (g.dv.dispose(), null)];
    });
    return out;
  }

  /**
   * A draft layer's attention unrolled on its own outputs (EAGLE-3's training-time test): row i
   * attends to its sequence's rows starts[i] .. i of the first block of keys/values and to its own
   * row in each later block. q [rows, nHeads·hd]; keys, values [(j+1)·rows, nKvHeads·hd] (step 0's
   * rows, then each later step's); j = 0 is causal attention within each sequence. grad/drafted-attention.ts.
   */
  draftedAttention(q: Var, keys: Var, values: Var, starts: Int32Array, options: DraftedAttentionOptions): Var {
    this.check('draftedAttention', q, keys, values);
    const rowStarts = Int32Array.from(starts);
    const o = draftedAttention(q.value, keys.value, values.value, rowStarts, options);
    const stats = this.keep(o.stats); // the forward's log-sum-exps, read by the backward instead of recomputed
    const out = this.record(o.out, [q, keys, values], (dO) => {
      const g = draftedAttentionBackward(q.value, keys.value, values.value, out.value, stats, dO, rowStarts, options);
      return [q.requiresGrad ? g.dq : (g.dq.dispose(), null), keys.requiresGrad ? g.dk : (g.dk.dispose(), null), values.requiresGrad ? g.dv : (g.dv.dispose(), null)];
    });
    return out;
  }

  /** Row-wise softmax(x / temperature). */
  softmax(x: Var, temperature = 1): Var {
    this.check('softmax', x);
    const y = softmax(x.value, { temperature });
    const out = this.record(y, [x], (dy) => [softmaxBackward(out.value, dy, false, temperature)]);
    return out;
  }

  /** Row-wise logSoftmax(x / temperature). */
  logSoftmax(x: Var, temperature = 1): Var {
    this.check('logSoftmax', x);
    const y = logSoftmax(x.value, { temperature });
    const out = this.record(y, [x], (dy) => [softmaxBackward(out.value, dy, true, temperature)]);
    return out;
  }

  /** Weighted mean cross-entropy of logits [rows, vocab] against token ids [rows] (−1 = ignore) -> [1]. */
  crossEntropy(logits: Var, targets: ArrayLike<number>, options: CrossEntropyOptions = {}): Var {
    this.check('crossEntropy', logits);
    const [rows, vocab] = this.logitShape('crossEntropy', logits);
    if (targets.length !== rows) throw new ShapeError(`crossEntropy: ${targets.length} targets for logits ${logits.value.describe()}, expected ${rows}`);
    const ids = new Int32Array(rows);
    const w = this.rowWeights('crossEntropy', rows, options.weights);
    for (let r = 0; r < rows; r++) {
      const t = targets[r];
      if (t === -1) w[r] = 0;
      else if (!Number.isInteger(t) || t < 0 || t >= vocab) throw new IndexError(`crossEntropy: target ${t} at row ${r} is outside the vocabulary [0, ${vocab}) (−1 ignores a row)`);
      else ids[r] = t;
    }
    const target = this.keep(this.device.tensor(ids, [rows], 'i32'));
    return this.crossEntropyNode(logits, target, w, options.normalizer, false);
  }

  /**
   * Weighted mean soft cross-entropy −Σ p·log softmax(logits) against a teacher distribution
   * p [rows, vocab] (a tensor the caller owns, e.g. softmax of the base model's logits) -> [1].
   */
  softCrossEntropy(logits: Var, teacher: Tensor, options: CrossEntropyOptions = {}): Var {
    this.check('softCrossEntropy', logits);
    const [rows] = this.logitShape('softCrossEntropy', logits);
    if (teacher.shape.join() !== logits.shape.join() || teacher.dtype !== 'f32') {
      throw new ShapeError(`softCrossEntropy: teacher ${teacher.describe()} must be f32 with the logits' shape ${logits.value.describe()}`);
    }
    return this.crossEntropyNode(logits, teacher, this.rowWeights('softCrossEntropy', rows, options.weights), options.normalizer, true);
  }

  /**
   * Weighted mean cross-entropy of logits [rows, vocab] against a sparse teacher (k ids and
   * probabilities per row, the remaining mass one bucket against the head's mass outside the k
   * ids; grad/topk-cross-entropy.ts) -> [1]. The teacher tensors are the caller's.
   */
  topKCrossEntropy(logits: Var, teacher: SparseTeacher, options: CrossEntropyOptions = {}): Var {
    this.check('topKCrossEntropy', logits);
    const [rows, vocab] = this.logitShape('topKCrossEntropy', logits);
    const k = teacher.ids.shape[1];
    if (teacher.ids.rank !== 2 || teacher.ids.dtype !== 'i32' || teacher.ids.shape[0] !== rows || !(k >= 1 && k <= vocab)) {
      throw new ShapeError(`topKCrossEntropy: teacher ids ${teacher.ids.describe()} must be i32 [${rows}, k] with 1 <= k <= ${vocab}`);
    }
    if (teacher.probs.dtype !== 'f32' || teacher.probs.shape.join() !== teacher.ids.shape.join()) throw new ShapeError(`topKCrossEntropy: teacher probs ${teacher.probs.describe()} must be f32 with the ids' shape ${teacher.ids.describe()}`);
    if (teacher.rest.dtype !== 'f32' || teacher.rest.shape.join() !== String(rows)) throw new ShapeError(`topKCrossEntropy: teacher rest ${teacher.rest.describe()} must be f32 [${rows}]`);
    const w = this.rowWeights('topKCrossEntropy', rows, options.weights);
    let norm = options.normalizer;
    if (norm === undefined) {
      norm = 0;
      for (const x of w) norm += x;
      if (norm === 0) norm = 1;
    }
    if (!(Number.isFinite(norm) && norm > 0)) throw new OptionError(`topKCrossEntropy: normalizer ${options.normalizer} must be a finite number > 0`);
    for (let r = 0; r < rows; r++) w[r] /= norm;
    const weight = this.keep(this.device.tensor(w, [rows]));
    const { loss, stats } = topKCrossEntropyForward(logits.value, teacher, weight);
    this.keep(stats);
    return this.record(loss, [logits], (g) => [topKCrossEntropyBackward(logits.value, teacher, weight, stats, g)]);
  }

  /**
   * lossOf(tape, x[r0:r1]·wᵀ, r0, r1) summed over row chunks of at most `maxRows` rows -> [1]:
   * an output layer and its loss without the whole [rows, out] logits alive at once (at a 152K
   * vocabulary they exceed a storage binding and grow with rows × vocabulary). Each chunk runs on
   * a tape of its own, whose backward is taken at once (its logits and their gradient then die);
   * the chunks' gradients of x and w are kept and scaled by this loss's upstream gradient in
   * backward. lossOf must return a one-element Var recorded on the tape it is given. With
   * `gradients: false` (evaluation) no backward is taken and the result carries no gradient.
   */
  chunkedLinearLoss(x: Var, w: Var, maxRows: number, lossOf: (tape: Tape, logits: Var, r0: number, r1: number) => Var, options: { gradients?: boolean } = {}): Var {
    this.check('chunkedLinearLoss', x, w);
    if (x.value.rank !== 2) throw new ShapeError(`chunkedLinearLoss: x ${x.value.describe()} must be [rows, in]`);
    if (!(Number.isInteger(maxRows) && maxRows >= 1)) throw new OptionError(`chunkedLinearLoss: maxRows = ${maxRows}, expected an integer >= 1`);
    const rows = x.shape[0];
    const grads = options.gradients ?? true;
    const wProxy = new Var(w.value, { requiresGrad: grads && w.requiresGrad, name: w.name }); // gathers dL/dw over the chunks
    const dxChunks: Tensor<'f32'>[] = [];
    let total: Tensor | null = null;
    try {
      for (let r0 = 0; r0 < Math.max(1, rows); r0 += maxRows) {
        const r1 = Math.min(rows, r0 + maxRows);
        const chunk = new Tape(this.device);
        const xc = new Var(slice(x.value, 0, r0, r1), { requiresGrad: grads && x.requiresGrad, name: x.name }); // [r1 − r0, in]
        try {
          const l = lossOf(chunk, chunk.linear(xc, wProxy), r0, r1);
          if (l.tape !== chunk || l.value.size !== 1) throw new AutogradError(`chunkedLinearLoss: lossOf returned ${l}, expected a one-element Var of the chunk's tape`);
          const sum: Tensor = total ? add(total, l.value) : l.value.reshape([1]);
          total?.dispose();
          total = sum;
          if (l.requiresGrad) chunk.backward(l);
          if (xc.grad) dxChunks.push(xc.grad);
          else if (xc.requiresGrad) dxChunks.push(this.device.tensor(new Float32Array((r1 - r0) * x.shape[1]), [r1 - r0, x.shape[1]]));
          xc.grad = null;
        } finally {
          chunk.dispose();
          xc.value.dispose();
        }
      }
    } catch (e) {
      for (const t of dxChunks) t.dispose();
      wProxy.grad?.dispose();
      total?.dispose();
      throw e;
    }
    if (!grads) return this.record(total!, [], () => []);
    const dx = x.requiresGrad ? this.keep(dxChunks.length === 1 ? dxChunks[0] : (concat(dxChunks, 0) as Tensor<'f32'>)) : null; // [rows, in]
    if (dxChunks.length > 1) for (const t of dxChunks) t.dispose();
    const dw = wProxy.grad ? this.keep(wProxy.grad) : null; // [out, in]
    return this.record(total!, [x, w], (g) => [dx ? scaleBy(dx, g) : null, dw ? scaleBy(dw, g) : null]);
  }

  /**
   * Weighted mean smooth L1 (Huber, threshold beta, default 1) of predictions x [rows, n] against a
   * constant target [rows, n] (a tensor the caller owns) -> [1]: Σ_r w_r Σ_j h(x − target) / (n·Σ_r w_r),
   * the mean over the features of the weighted mean over rows (EAGLE's feature regression).
   */
  smoothL1(x: Var, target: Tensor, options: { beta?: number; weights?: ArrayLike<number> } = {}): Var {
    this.check('smoothL1', x);
    if (x.value.rank !== 2 || x.value.dtype !== 'f32') throw new ShapeError(`smoothL1: x ${x.value.describe()} must be f32 [rows, n]`);
    if (target.shape.join() !== x.shape.join() || target.dtype !== 'f32') throw new ShapeError(`smoothL1: target ${target.describe()} must be f32 with x's shape ${x.value.describe()}`);
    const beta = options.beta ?? 1;
    if (!(Number.isFinite(beta) && beta > 0)) throw new OptionError(`smoothL1: beta = ${beta}, expected a finite number > 0`);
    const [rows, n] = x.shape;
    const w = this.rowWeights('smoothL1', rows, options.weights);
    let norm = 0;
    for (const v of w) norm += v;
    norm = (norm === 0 ? 1 : norm) * n;
    for (let r = 0; r < rows; r++) w[r] /= norm;
    const weight = this.keep(this.device.tensor(w, [rows]));
    return this.record(smoothL1Forward(x.value, target, weight, beta), [x], (g) => [smoothL1Backward(x.value, target, weight, g, beta)]);
  }

  /** Inverted dropout: zeroes each element with probability p (from seed and index), scales the rest by 1/(1−p). */
  dropout(x: Var, p: number, seed: number): Var {
    this.check('dropout', x);
    if (!(p >= 0 && p < 1)) throw new OptionError(`dropout: p = ${p}, expected 0 <= p < 1`);
    if (!Number.isInteger(seed)) throw new OptionError(`dropout: seed ${seed} must be an integer`);
    if (p === 0) return this.record(x.value.reshape(x.shape), [x], (dy) => [dy.reshape(dy.shape)]);
    return this.record(dropoutMask(x.value, p, seed), [x], (dy) => [dropoutMask(dy, p, seed)]);
  }

  // ------------------------------------------------------------------ backward

  /**
   * Back-propagates from `loss`. A one-element loss is seeded with 1; any other output needs
   * `seed`, its upstream gradient (borrowed). Leaves accumulate into .grad; each tape runs
   * backward once.
   */
  backward(loss: Var, seed?: Tensor): void {
    this.live('backward');
    if (this.done) throw new AutogradError('backward: this tape already ran backward (record a new tape per step)');
    if (loss.tape !== this) throw new AutogradError(`backward: ${loss} was not recorded on this tape`);
    if (seed) {
      if (seed.shape.join() !== loss.shape.join()) throw new ShapeError(`backward: seed ${seed.describe()} must have the loss's shape ${loss.value.describe()}`);
    } else if (loss.value.size !== 1) {
      throw new AutogradError(`backward: loss ${loss.value.describe()} is not a scalar; pass its upstream gradient as seed`);
    }
    this.done = true;
    loss.grad = seed ? (seed as Tensor<'f32'>).reshape(seed.shape) : this.device.tensor([1], loss.shape);
    for (let n = this.nodes.length - 1; n >= 0; n--) {
      const node = this.nodes[n];
      const dy = node.out.grad;
      if (!dy) continue;
      const grads = node.backward(dy);
      node.inputs.forEach((input, i) => {
        const g = grads[i];
        if (!g) return;
        if (input.requiresGrad) accumulate(input, g);
        else g.dispose();
      });
      // Intermediate gradients are not needed once their node has run.
      node.out.grad = null;
      dy.dispose();
    }
  }

  /** Frees every Var this tape returned and everything saved for backward. Leaves are untouched. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const v of this.owned) {
      v.grad?.dispose();
      v.grad = null;
      v.value.dispose();
    }
    for (const t of this.saved) t.dispose();
    this.owned = [];
    this.saved = [];
    this.nodes = [];
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  // ------------------------------------------------------------------ internals

  private crossEntropyNode(logits: Var, target: Tensor, w: Float32Array, normalizer: number | undefined, soft: boolean): Var {
    let norm = normalizer;
    if (norm === undefined) {
      norm = 0;
      for (const x of w) norm += x;
      if (norm === 0) norm = 1;
    }
    if (!(Number.isFinite(norm) && norm > 0)) throw new OptionError(`${soft ? 'softCrossEntropy' : 'crossEntropy'}: normalizer ${normalizer} must be a finite number > 0`);
    for (let r = 0; r < w.length; r++) w[r] /= norm;
    const weight = this.keep(this.device.tensor(w, [w.length]));
    const { loss, stats } = crossEntropyForward(logits.value, target, weight, soft);
    this.keep(stats);
    return this.record(loss, [logits], (g) => [crossEntropyBackward(logits.value, target, weight, stats, g, soft)]);
  }

  private logitShape(op: string, logits: Var): [number, number] {
    if (logits.value.rank !== 2 || logits.value.dtype !== 'f32') throw new ShapeError(`${op}: logits ${logits.value.describe()} must be f32 [rows, vocab]`);
    return [logits.shape[0], logits.shape[1]];
  }

  private rowWeights(op: string, rows: number, weights: ArrayLike<number> | undefined): Float32Array {
    if (!weights) return new Float32Array(rows).fill(1);
    if (weights.length !== rows) throw new ShapeError(`${op}: ${weights.length} weights for ${rows} rows`);
    const w = Float32Array.from(weights);
    for (let r = 0; r < rows; r++) {
      if (!(Number.isFinite(w[r]) && w[r] >= 0)) throw new OptionError(`${op}: weight ${w[r]} at row ${r} must be finite and >= 0`);
    }
    return w;
  }

  private keep<T extends Tensor>(t: T): T {
    this.saved.push(t);
    return t;
  }

  private check(op: string, ...inputs: Var[]): void {
    this.live(op);
    if (this.done) throw new AutogradError(`${op}: this tape already ran backward`);
    for (const v of inputs) {
      if (v.tape !== null && v.tape !== this) throw new AutogradError(`${op}: ${v} belongs to another tape`);
      if (v.value.disposed) throw new DisposedError(`${op}: ${v} was disposed`);
    }
  }

  private live(op: string): void {
    if (this.disposed) throw new AutogradError(`${op}: the tape was disposed`);
  }

  private record(value: Tensor, inputs: Var[], backward: Backward): Var {
    const requiresGrad = inputs.some((v) => v.requiresGrad);
    const out = new Var(value, { requiresGrad }, this);
    this.owned.push(out);
    if (requiresGrad) this.nodes.push({ out, inputs, backward });
    return out;
  }
}

/** leaf.grad += g, taking ownership of g. */
function accumulate(v: Var, g: Tensor<'f32'>): void {
  if (g.shape.join() !== v.shape.join()) {
    const fixed = g.reshape(v.shape);
    g.dispose();
    g = fixed;
  }
  if (!v.grad) {
    v.grad = g;
    return;
  }
  const sum = add(v.grad, g);
  v.grad.dispose();
  g.dispose();
  v.grad = sum;
}
