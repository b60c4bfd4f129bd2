// Draft heads as trainable Vars, parameter for parameter the heads file layout of @hydra-ts/heads
// (prefix.wq, prefix.wk, ... as separate tensors), with a training forward on the autograd Tape
// that computes what MedusaHeads / HydraHeads / PrefixMLP compute at inference, for every
// position of whole training sequences at once (teacher forcing).
import {
  createHead,
  draftVocabularyOf,
  headParameterShapes,
  hydraHead,
  medusaHead,
  speculatorStage,
  isTokenMap,
  loadHead,
  serializeHead,
  SPECULATOR_NORM_EPS,
  speculatorEmbeddingScale,
  tokenMapName,
  type CreateHeadOptions,
  type HeadBase,
  type HeadConfig,
  type StageOps,
  type Heads,
  type PrefixConfig,
} from '@hydra-ts/heads';
import { layerRopeFrequencies } from '@hydra-ts/model';
import { gatherRows, randomArray, ShapeError, type Tensor } from '@hydra-ts/tensor';
import { Var, type Tape } from './autograd';

/** Whole sequences laid out row after row: the rows of sequence s are start..start+length-1 at positions 0..length-1. */
export interface SequenceRows {
  start: number;
  length: number;
}

export interface HeadBatch {
  /** [rows, dim] the base model's final-normed hidden states (borrowed); for an EAGLE-3 head [rows, 3·dim] its feature layers' inputs. */
  hidden: Tensor;
  /** [rows] the token at each row. */
  tokens: Int32Array;
  sequences: readonly SequenceRows[];
}

/** A head's output layer, not yet applied: its logits are hidden · weightᵀ, [rows, scored vocabulary]. */
export interface DraftOutput {
  hidden: Var; // [rows, in]
  weight: Var; // [scored vocabulary, in]
}

export interface HeadForwardOptions {
  /** Dropout on each block's SiLU branch; 0 (default) in evaluation. */
  dropout?: number;
  /** Seeds the dropout masks (and the feature noise). */
  seed?: number;
  /**
   * EAGLE heads: uniform noise in [−a, a] added to the input features f_t (EAGLE's augmentation:
   * deeper tree levels draft from the head's own, inexact features); 0 (default) in evaluation.
   */
  featureNoise?: number;
}

export class TrainableHeads {
  readonly config: HeadConfig;
  /** Every trained tensor under its heads-file name, in file order. */
  readonly params: Map<string, Var>;
  /** The draft vocabulary the heads score (eagle3.d2t, heads.d2t: base ids), fixed while training; null for the whole vocabulary. */
  readonly draftVocabulary: Int32Array | null;
  private readonly base: HeadBase;
  /** A shared output over a draft vocabulary: the base output rows of its ids [draft vocab, dim]; made on first use. */
  private sharedRows: Tensor | null = null;
  /** MLPSpeculator with scaleInput: [dim] of 1/√2, the gain of its input norm; made on first use. */
  private inputGain: Tensor | null = null;

  private constructor(base: HeadBase, config: HeadConfig, values: Map<string, Float32Array>) {
    this.base = base;
    this.config = config;
    this.params = new Map();
    for (const [name, shape] of headParameterShapes(config)) {
      const v = values.get(name);
      if (!v) throw new ShapeError(`TrainableHeads: parameter ${name} is missing`);
      if (!isTokenMap(name)) this.params.set(name, Var.param(base.device.tensor(v, shape), name));
    }
    this.draftVocabulary = draftVocabularyOf(config, values);
  }

  /** Fresh heads, initialised exactly as createHead does. */
  static async create(base: HeadBase, opts: CreateHeadOptions): Promise<TrainableHeads> {
    const head = await createHead(base, opts);
    try {
      return new TrainableHeads(base, head.config, await head.readParameters());
    } finally {
      head.dispose();
    }
  }

  /** Heads from a heads file's bytes (checked by loadHead). */
  static async fromFile(base: HeadBase, bytes: Uint8Array): Promise<TrainableHeads> {
    const head = await loadHead(base, bytes);
    try {
      return new TrainableHeads(base, head.config, await head.readParameters());
    } finally {
      head.dispose();
    }
  }

  static fromValues(base: HeadBase, config: HeadConfig, values: Map<string, Float32Array>): TrainableHeads {
    return new TrainableHeads(base, config, values);
  }

  get numHeads(): number {
    return this.config.numHeads;
  }

  /** Current values under the file's names. */
  async values(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const [name, p] of this.params) out.set(name, (await p.value.read()) as Float32Array);
    if (this.draftVocabulary) out.set(tokenMapName(this.config), Float32Array.from(this.draftVocabulary));
    return out;
  }

  /** The heads file (what saveHead writes for the same parameters), with optional extra metadata. */
  async toBytes(metadata: Record<string, string> = {}): Promise<Uint8Array> {
    return serializeHead(this.config, await this.values(), metadata);
  }

  /** Inference heads with the current parameters. */
  async toHead(): Promise<Heads> {
    return loadHead(this.base, await this.toBytes());
  }

  /**
   * Logits of every head at every row: [rows, vocab] per head. Row (s, t) of head i drafts the
   * token at position t+i+2 of sequence s from h_t (Medusa) or from concat(h_t, e(x_{t+1}), …,
   * e(x_{t+i+1})) with the data tokens (Hydra); rows whose inputs run past the sequence end get
   * token 0 in their place (their targets are masked by the loss).
   */
  forward(tape: Tape, batch: HeadBatch, opts: HeadForwardOptions = {}): Var[] {
    return this.forwardDraft(tape, batch, opts).outputs.map((o) => tape.linear(o.hidden, o.weight));
  }

  /**
   * What forward() computes, up to each head's output layer (the loss applies it row chunk by row
   * chunk at large vocabularies), with an EAGLE head's output features: row t holds f'_{t+1},
   * which its feature loss regresses onto the base model's f_{t+1} (null for the other kinds).
   */
  forwardDraft(tape: Tape, batch: HeadBatch, opts: HeadForwardOptions = {}): { outputs: DraftOutput[]; features: Var | null } {
    const c = this.config;
    const rows = batch.tokens.length;
    const width = c.kind === 'eagle3' ? 3 * c.dim : c.dim;
    if (batch.hidden.rank !== 2 || batch.hidden.shape[0] !== rows || batch.hidden.shape[1] !== width) {
      throw new ShapeError(`TrainableHeads.forward: hidden ${batch.hidden.describe()}, expected [rows = ${rows}, ${c.kind === 'eagle3' ? `3·dim = ${width} (the three feature layers)` : `dim = ${c.dim}`}]`);
    }
    const covered = batch.sequences.reduce((a, s) => a + s.length, 0);
    if (covered !== rows) throw new ShapeError(`TrainableHeads.forward: sequences cover ${covered} rows, the batch has ${rows}`);
    const p = opts.dropout ?? 0;
    const seed = opts.seed ?? 0;
    let h = tape.constant(batch.hidden, 'hidden');
    if (c.kind === 'eagle') {
      const a = opts.featureNoise ?? 0;
      if (a > 0) {
        const noise = this.base.device.tensor(randomArray(batch.hidden.size, seed * 7 + 3, -a, a), batch.hidden.shape); // [rows, dim]
        h = tape.add(h, tape.constant(noise, 'feature noise'));
        noise.dispose(); // add's backward does not read it
      }
      return this.eagleForward(tape, h, batch);
    }
    if (c.kind === 'eagle3') return { outputs: this.eagle3Forward(tape, h, batch), features: null };
    if (c.prefix) h = this.prefixForward(tape, h, batch.sequences);
    const output = (i: number) => (c.sharedOutput ? tape.constant(this.sharedOutput(), 'base output') : this.param(`heads.${i}.lm_head.weight`)); // [scored vocab, dim]
    if (c.kind === 'mlp-speculator') return { outputs: this.speculatorForward(tape, h, batch, p, seed), features: null };
    // the heads' own forwards (blocks.ts of @hydra-ts/heads) on the tape, dropout on each block's SiLU branch
    const ops = this.tapeOps(tape, p, seed);
    const outputs: DraftOutput[] = [];
    if (c.kind === 'medusa') {
      for (let i = 0; i < c.numHeads; i++) outputs.push({ hidden: medusaHead(ops, i, c.layers, h), weight: output(i) });
      return { outputs, features: null };
    }
    const table = tape.constant(this.base.tokenEmbedding, 'token embedding');
    const embedded: Var[] = []; // e(x_{t+j}) for j = 1.. [rows, dim]
    for (let i = 0; i < c.numHeads; i++) {
      embedded.push(tape.embedding(table, shiftedTokens(batch, i + 1)));
      const x = tape.concat([h, ...embedded], 1); // [rows, (i+2)·dim]
      outputs.push({ hidden: hydraHead(ops, i, c.layers, x), weight: output(i) });
    }
    return { outputs, features: null };
  }

  /** Draft logits per row: one set for an EAGLE head (depth 1, teacher-forced), one per head (or unrolled step) otherwise. */
  get draftsPerRow(): number {
    return this.config.kind === 'eagle' ? 1 : this.config.numHeads; // an EAGLE-3 head: one per unrolled step
  }

  dispose(): void {
    for (const p of this.params.values()) p.dispose();
    this.inputGain?.dispose();
    this.inputGain = null;
    this.sharedRows?.dispose();
    this.sharedRows = null;
  }

  /** The base output layer, or its rows at the draft vocabulary's ids: what a shared output scores. */
  private sharedOutput(): Tensor {
    if (!this.draftVocabulary) return this.base.outputWeight;
    this.sharedRows ??= gatherRows(this.base.outputWeight, this.draftVocabulary); // [draft vocab, dim]
    return this.sharedRows;
  }

  /**
   * MLPSpeculator stages (see @hydra-ts/heads mlp-speculator.ts), teacher-forced as fms-extras
   * trains them: stage i at row t is fed the data token x_{t+i+1} and the state stage i-1 left at
   * that row, s_{i+1} = GELU(N_i(P_i s_i + c·E_i[x_{t+i+1}])), and drafts x_{t+i+2}. Dropout `p`
   * (training only) falls on each stage's state, before its head and the next stage read it.
   */
  /** The heads' forwards' ops (blocks.ts of @hydra-ts/heads) on the tape: dropout p on each SiLU block's SiLU branch. */
  private tapeOps(tape: Tape, p: number, seed: number): StageOps<Var, ArrayLike<number>> {
    return {
      linear: (x, w, b) => tape.linear(x, w, b),
      siluBlock: (x, w, b, res, i, l) => {
        const z = tape.silu(tape.linear(x, w, b));
        return tape.add(res, p > 0 ? tape.dropout(z, p, seed * 4099 + i * 64 + l) : z);
      },
      param: (name) => this.param(name),
      embedding: (table, ids) => tape.embedding(table, ids),
      scale: (x, c) => tape.scale(x, c),
      linearAdd: (x, w, res) => tape.add(tape.linear(x, w), res),
      add: (x, y) => tape.add(x, y),
      rmsnorm: (x, w, eps) => tape.rmsnorm(x, w, eps),
      gelu: (x) => tape.gelu(x),
    };
  }

  private speculatorForward(tape: Tape, h: Var, batch: HeadBatch, p: number, seed: number): DraftOutput[] {
    const c = this.config;
    const sc = c.speculator!;
    const scaleC = speculatorEmbeddingScale(c.numHeads, sc.innerDim);
    let s = h; // [rows, dim]
    if (sc.scaleInput) {
      this.inputGain ??= this.base.device.tensor(new Float32Array(c.dim).fill(Math.SQRT1_2), [c.dim]); // [dim]
      s = tape.rmsnorm(h, tape.constant(this.inputGain, 'input gain'), SPECULATOR_NORM_EPS); // h_t / rms / √2
    }
    const ops = this.tapeOps(tape, 0, seed);
    const outputs: DraftOutput[] = [];
    for (let i = 0; i < c.numHeads; i++) {
      s = speculatorStage(ops, i, s, shiftedTokens(batch, i + 1), scaleC, SPECULATOR_NORM_EPS); // [rows, inner]
      if (p > 0) s = tape.dropout(s, p, seed * 4099 + i * 64);
      outputs.push({ hidden: s, weight: this.param(`speculator.head.${i}.weight`) }); // logits [rows, vocab]
    }
    return outputs;
  }

  /**
   * EAGLE (see @hydra-ts/heads eagle.ts), teacher-forced as EAGLE trains it: row t of each
   * sequence is g_t = W_fc [e(x_{t+1}); f_t] + b_fc through the draft layer (causal, position t);
   * its output f'_{t+1} is scored by the base output layer, drafting x_{t+2} (head 0's target:
   * the base distribution at t+1), and is the feature returned for the regression onto f_{t+1}.
   * Rows past a sequence's end get token 0 (their targets are masked).
   */
  private eagleForward(tape: Tape, f: Var, batch: HeadBatch): { outputs: DraftOutput[]; features: Var } {
    const e = tape.embedding(tape.constant(this.base.tokenEmbedding, 'token embedding'), shiftedTokens(batch, 1)); // [rows, dim] e(x_{t+1})
    const bias = this.config.eagle!.fcBias === false ? undefined : this.param('eagle.fc.bias'); // vLLM's EAGLE fc has none
    const g = tape.linear(tape.concat([e, f], 1), this.param('eagle.fc.weight'), bias); // [rows, dim]
    const features = this.layerForward(tape, g, batch.sequences, 'eagle', this.config.eagle!); // [rows, dim] f'_{t+1}
    return { outputs: [{ hidden: features, weight: tape.constant(this.base.outputWeight, 'base output') }], features };
  }

  /**
   * EAGLE-3 (see @hydra-ts/heads eagle3.ts) with its training-time test: the layer is unrolled
   * numHeads steps on its own outputs, as it drafts at inference. Step j at row t of a sequence:
   *   a_0 = W_fc F_t,  a_j = m_{j-1} (the step before, same row),  token x_{t+j+1}, RoPE position t+j,
   *   u_j = [rms(e(x_{t+j+1})) · input_norm ; rms(a_j) · hidden_norm],  q, k, v from u_j,
   *   attention over step 0's rows 0..t and steps 1..j of row t (the committed rows and the path
   *   above a depth-j node), o_j = a_j + Wo attn,  m_j = o_j + W2 (silu(W1 n) ⊙ W3 n), n = rms(o_j) · ffn_norm,
   *   logits_j = lm_head (rms(m_j) · norm) [rows, draftVocabSize], drafting x_{t+j+2} as a draft id
   * (base id d2t[id]); the loss compares them with a teacher over the same draft ids.
   */
  private eagle3Forward(tape: Tape, F: Var, batch: HeadBatch): DraftOutput[] {
    const c = this.config;
    const e3 = c.eagle3!;
    const bc = this.base.config;
    const eps = bc.normEps;
    const w = (k: string) => this.param(`eagle3.${k}`);
    const rope = { headDim: e3.headDim, theta: bc.ropeTheta, layout: bc.ropeLayout, freqs: layerRopeFrequencies(bc, 0) }; // the base's (scaled) RoPE, as the inference head
    const heads = { nHeads: e3.nHeads, nKvHeads: e3.nKvHeads, headDim: e3.headDim };
    const table = tape.constant(this.base.tokenEmbedding, 'token embedding');
    let a = tape.linear(F, w('fc.weight')); // [rows, dim] a_0 = W_fc F_t
    const qs: Var[] = [];
    const ks: Var[] = [];
    const vs: Var[] = [];
    const outputs: DraftOutput[] = [];
    for (let j = 0; j < c.numHeads; j++) {
      const positions = new Int32Array(batch.tokens.length);
      for (const s of batch.sequences) for (let t = 0; t < s.length; t++) positions[s.start + t] = t + j;
      const e = tape.embedding(table, shiftedTokens(batch, j + 1)); // [rows, dim] e(x_{t+j+1})
      const u = tape.concat([tape.rmsnorm(e, w('input_norm'), eps), tape.rmsnorm(a, w('hidden_norm'), eps)], 1); // [rows, 2·dim]
      qs.push(tape.rope(tape.linear(u, w('wq')), positions, rope));
      ks.push(tape.rope(tape.linear(u, w('wk')), positions, rope));
      vs.push(tape.linear(u, w('wv')));
      const att = unrolledAttention(tape, qs, ks, vs, batch.sequences, heads); // [rows, qDim]
      const o = tape.add(a, tape.linear(att, w('wo')));
      const n = tape.rmsnorm(o, w('ffn_norm'), eps);
      const m = tape.add(o, tape.linear(tape.mul(tape.silu(tape.linear(n, w('w1'))), tape.linear(n, w('w3'))), w('w2'))); // [rows, dim]
      outputs.push({ hidden: tape.rmsnorm(m, w('norm'), eps), weight: w('lm_head') }); // logits [rows, draftVocabSize]
      a = m;
    }
    return outputs;
  }

  /** PrefixMLP: one Llama layer over each sequence's hidden states (causal, positions from 0), then its final norm. */
  private prefixForward(tape: Tape, h: Var, sequences: readonly SequenceRows[]): Var {
    const pc = this.config.prefix!;
    return tape.rmsnorm(this.layerForward(tape, h, sequences, 'prefix', pc), this.param('prefix.norm'), pc.normEps); // [rows, dim]
  }

  /** A draft head's decoder layer (weights `<name>.*`) over each sequence's rows x, causal, positions from 0. */
  private layerForward(tape: Tape, h: Var, sequences: readonly SequenceRows[], name: 'prefix' | 'eagle', pc: PrefixConfig): Var {
    const w = (k: string) => this.param(`${name}.${k}`);
    const eps = pc.normEps;
    const rope = { headDim: pc.headDim, theta: pc.ropeTheta, layout: pc.ropeLayout };
    const positions = new Int32Array(h.shape[0]);
    for (const s of sequences) for (let t = 0; t < s.length; t++) positions[s.start + t] = t;
    const xb = pc.inputNorm === false ? h : tape.rmsnorm(h, w('attn_norm'), eps); // [rows, dim]; EAGLE's own layer has no input norm
    const q = tape.rope(tape.linear(xb, w('wq')), positions, rope); // [rows, qDim]
    const k = tape.rope(tape.linear(xb, w('wk')), positions, rope); // [rows, kvDim]
    const v = tape.linear(xb, w('wv')); // [rows, kvDim]
    const heads = { nHeads: pc.nHeads, nKvHeads: pc.nKvHeads, headDim: pc.headDim };
    const att = causalAttention(tape, q, k, v, sequences, heads); // [rows, qDim]
    const x2 = tape.add(h, tape.linear(att, w('wo'))); // [rows, dim]
    const xn = tape.rmsnorm(x2, w('ffn_norm'), eps);
    const hb = tape.mul(tape.silu(tape.linear(xn, w('w1'))), tape.linear(xn, w('w3'))); // [rows, hiddenDim]
    return tape.add(x2, tape.linear(hb, w('w2'))); // [rows, dim]
  }

  private param(name: string): Var {
    const p = this.params.get(name);
    if (!p) throw new ShapeError(`TrainableHeads: no parameter ${name} in ${this.config.kind} heads`);
    return p;
  }
}

/** [rows] the token `shift` places after each row within its sequence (0 past the end). */
export function shiftedTokens(batch: Pick<HeadBatch, 'tokens' | 'sequences'>, shift: number): Int32Array {
  const out = new Int32Array(batch.tokens.length);
  for (const s of batch.sequences) {
    for (let t = 0; t + shift < s.length; t++) out[s.start + t] = batch.tokens[s.start + t + shift];
  }
  return out;
}

/**
 * The attention of the last of the unrolled steps qs/ks/vs (each [rows, ·]) in the EAGLE-3
 * training-time test: per sequence, step j's row t sees step 0's rows 0..t and steps 1..j at row t
 * (the committed rows and the path above a depth-j node), in one drafted attention over the steps'
 * keys and values stacked.
 */
function unrolledAttention(tape: Tape, qs: readonly Var[], ks: readonly Var[], vs: readonly Var[], sequences: readonly SequenceRows[], heads: { nHeads: number; nKvHeads: number; headDim: number }): Var {
  const stack = (xs: readonly Var[]) => (xs.length === 1 ? xs[0] : tape.concat(xs, 0)); // [(j+1)·rows, ·], step-major
  return tape.draftedAttention(qs[qs.length - 1], stack(ks), stack(vs), sequenceStarts(qs[0].shape[0], sequences), heads);
}

/** Causal self-attention within each sequence of rows (q, k, v [rows, ·]) -> [rows, qDim]. */
function causalAttention(tape: Tape, q: Var, k: Var, v: Var, sequences: readonly SequenceRows[], heads: { nHeads: number; nKvHeads: number; headDim: number }): Var {
  return tape.draftedAttention(q, k, v, sequenceStarts(q.shape[0], sequences), heads);
}

/** [rows] the first row of each row's sequence. */
function sequenceStarts(rows: number, sequences: readonly SequenceRows[]): Int32Array {
  const starts = new Int32Array(rows);
  for (const s of sequences) starts.fill(s.start, s.start, s.start + s.length);
  return starts;
}
