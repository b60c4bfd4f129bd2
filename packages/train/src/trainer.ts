// Training loop for draft heads: batches of teacher-cached windows, the Hydra objective, AdamW on
// a warm-up + cosine schedule, held-out accuracy, and checkpoints that resume bit-identically
// (batch order and dropout depend only on seed and step; the optimiser state is saved exactly).
import { HEAD_KINDS, type HeadKind } from '@hydra-ts/heads';
import type { LlamaModel } from '@hydra-ts/model';
import { gatherRows, linear, seededRandom, slice, type Tensor } from '@hydra-ts/tensor';
import { Tape, type Var } from './autograd';
import { draftLoss, draftTargets, headTargets, logitChunkRows } from './loss';
import { AdamW, learningRateAt } from './optim';
import { TrainOptionError } from './errors';
import type { TeacherCache } from './teacher';
import type { DraftOutput, HeadBatch, TrainableHeads } from './trainable-heads';

export interface TrainConfig {
  kind: HeadKind;
  numHeads: number;
  /** Blocks per head; default 1 (4 for hydra++). */
  layers: number;
  sharedOutput: boolean;
  steps: number;
  /** Windows per step. */
  batch: number;
  /** Tokens per window. */
  length: number;
  lr: number;
  warmup: number;
  finalLrMult: number;
  weightDecay: number;
  clip: number;
  dropout: number;
  lmWeight: number;
  teacherWeight: number;
  /** EAGLE heads: weight of the smooth-L1 regression of the drafted feature f'_{t+1} onto the base model's f_{t+1}. */
  featureWeight: number;
  /** EAGLE heads: uniform noise [−a, a] on the input features while training. */
  featureNoise: number;
  /** EAGLE heads: RMSNorm the draft layer's input (default true); false is EAGLE's own layer, the one vLLM and SGLang run. */
  inputNorm: boolean;
  /** EAGLE heads: fc has a bias (default true); false as vLLM's EAGLE fc. */
  fcBias: boolean;
  decayHeads: number;
  /**
   * A reduced draft vocabulary: its size, the training data's most frequent tokens (EAGLE-3, Medusa,
   * Hydra, Hydra++). 0: EAGLE-3's default, min(vocab, 32000); the others' whole vocabulary.
   */
  draftVocabSize: number;
  /** Fraction of windows held out for evaluation. */
  holdout: number;
  seed: number;
  evalEvery: number;
}

export const DEFAULT_TRAIN_CONFIG: Omit<TrainConfig, 'kind'> = {
  numHeads: 4, layers: 1, sharedOutput: false, steps: 1000, batch: 8, length: 128, lr: 1e-3, warmup: 50, finalLrMult: 0.1,
  weightDecay: 0, clip: 1, dropout: 0, lmWeight: 0, teacherWeight: 1, featureWeight: 1, featureNoise: 0, inputNorm: true, fcBias: true, decayHeads: 1, draftVocabSize: 0, holdout: 0.05, seed: 0, evalEvery: 100,
};

/** A full config from partial options; throws TrainOptionError naming the first bad option. */
export function trainConfig(o: Partial<TrainConfig> & { kind: HeadKind }): TrainConfig {
  if (!HEAD_KINDS.includes(o.kind)) throw new TrainOptionError(`head = ${JSON.stringify(o.kind)}, expected one of ${HEAD_KINDS.join(', ')}`);
  const given = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)); // unset options take the defaults
  const c: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, layers: o.kind === 'hydra++' ? 4 : 1, sharedOutput: o.kind === 'eagle', ...given } as TrainConfig;
  const int = (k: keyof TrainConfig, min: number, max = 1 << 30) => {
    const v = c[k] as number;
    if (!Number.isInteger(v) || v < min || v > max) throw new TrainOptionError(`${k} = ${v}, expected an integer in [${min}, ${max}]`);
  };
  const num = (k: keyof TrainConfig, min: number, max: number, minOpen = false) => {
    const v = c[k] as number;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (minOpen && v === min)) {
      throw new TrainOptionError(`${k} = ${v}, expected a number in ${minOpen ? '(' : '['}${min}, ${max}]`);
    }
  };
  int('numHeads', 1, 64);
  int('layers', 1, 64);
  int('steps', 1);
  int('batch', 1, 4096);
  int('length', 3, 1 << 16);
  num('lr', 0, 10, true);
  int('warmup', 0);
  num('finalLrMult', 0, 1);
  num('weightDecay', 0, 10);
  num('clip', 0, 1e9, true);
  num('dropout', 0, 0.99);
  num('lmWeight', 0, 1e6);
  num('teacherWeight', 0, 1e6);
  num('featureWeight', 0, 1e6);
  num('featureNoise', 0, 1e6);
  num('decayHeads', 0, 1, true);
  num('holdout', 0, 0.9);
  int('seed', 0, 2 ** 31 - 1);
  int('evalEvery', 0);
  int('draftVocabSize', 0);
  if (c.draftVocabSize !== 0 && (c.kind === 'eagle' || c.kind === 'mlp-speculator')) {
    throw new TrainOptionError(`draftVocabSize = ${c.draftVocabSize}: an option of eagle3, medusa, hydra and hydra++ heads, not of ${c.kind} heads`);
  }
  if (c.lmWeight === 0 && c.teacherWeight === 0) throw new TrainOptionError('lmWeight and teacherWeight are both 0: nothing to train on');
  if (typeof c.sharedOutput !== 'boolean') throw new TrainOptionError(`sharedOutput = ${String(c.sharedOutput)}, expected a boolean`);
  for (const k of ['inputNorm', 'fcBias'] as const) {
    if (typeof c[k] !== 'boolean') throw new TrainOptionError(`${k} = ${String(c[k])}, expected a boolean`);
    if (!c[k] && c.kind !== 'eagle') throw new TrainOptionError(`${k} = false: an option of eagle heads, not of ${c.kind} heads`);
  }
  if (c.kind === 'eagle' && (c.layers !== 1 || !c.sharedOutput)) {
    throw new TrainOptionError(`eagle: layers = ${c.layers}, sharedOutput = ${c.sharedOutput}; an eagle head is one decoder layer scored by the base output layer (layers 1, shared output)`);
  }
  if (c.kind === 'eagle3' && (c.layers !== 1 || c.sharedOutput)) {
    throw new TrainOptionError(`eagle3: layers = ${c.layers}, sharedOutput = ${c.sharedOutput}; an eagle3 head is one decoder layer with its own output layer over the draft vocabulary (layers 1, no shared output)`);
  }
  if (c.kind === 'mlp-speculator' && (c.layers !== 1 || c.sharedOutput)) {
    throw new TrainOptionError(`mlp-speculator: layers = ${c.layers}, sharedOutput = ${c.sharedOutput}; its stages have one layer each and their own heads (layers 1, no shared output)`);
  }
  return c;
}

/** Which windows train and which are held out: a seeded shuffle, the last `holdout` fraction held out (at least one when holdout > 0). */
export function splitWindows(count: number, holdout: number, seed: number): { train: number[]; heldOut: number[] } {
  const order = Array.from({ length: count }, (_, i) => i);
  const rnd = seededRandom(seed * 7919 + 17);
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const n = holdout > 0 ? Math.max(1, Math.round(count * holdout)) : 0;
  if (count - n < 1) throw new TrainOptionError(`holdout ${holdout} leaves no training window out of ${count}`);
  return { train: order.slice(0, count - n).sort((a, b) => a - b), heldOut: order.slice(count - n).sort((a, b) => a - b) };
}

/** The windows of step `step`: `batch` distinct training windows drawn from (seed, step) alone. */
export function batchAt(train: readonly number[], batch: number, seed: number, step: number): number[] {
  const pool = [...train];
  const rnd = seededRandom((seed * 1_000_003 + step * 7 + 1) >>> 0);
  const n = Math.min(batch, pool.length);
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(rnd() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, n);
}

export interface StepStats {
  step: number;
  loss: number;
  lr: number;
  tokens: number;
}

export interface HeadAccuracy {
  step: number;
  /** Held-out objective (no dropout). */
  loss: number;
  /** Per head: the data token within the top 1 / top 5. */
  top1: number[];
  top5: number[];
  /** Per head: top 1 equals the base model's greedy token there (what greedy verification accepts). */
  greedy: number[];
}

export class HeadTrainer {
  readonly config: TrainConfig;
  readonly heads: TrainableHeads;
  readonly teacher: TeacherCache;
  readonly split: { train: number[]; heldOut: number[] };
  readonly optimizer: AdamW;
  /** Steps done. */
  step = 0;

  constructor(heads: TrainableHeads, teacher: TeacherCache, config: TrainConfig) {
    this.config = config;
    this.heads = heads;
    this.teacher = teacher;
    const [a, b] = [heads.draftVocabulary, teacher.vocabulary];
    if ((a === null) !== (b === null) || (a && b && (a.length !== b.length || a.some((id, i) => id !== b[i])))) {
      throw new TrainOptionError(`HeadTrainer: the heads' draft vocabulary (${a ? `${a.length} ids` : 'none'}) is not the teacher's (${b ? `${b.length} ids` : 'none'}); build the teacher with the heads' d2t as its vocabulary`);
    }
    this.split = splitWindows(teacher.windows.length, config.holdout, config.seed);
    this.optimizer = new AdamW([...heads.params.values()], { lr: config.lr, weightDecay: config.weightDecay, maxGradNorm: config.clip });
  }

  get done(): boolean {
    return this.step >= this.config.steps;
  }

  /** One optimiser step; reads back the loss. */
  async trainStep(): Promise<StepStats> {
    const c = this.config;
    const ids = batchAt(this.split.train, c.batch, c.seed, this.step);
    const lr = learningRateAt(this.step, { lr: c.lr, warmupSteps: c.warmup, totalSteps: c.steps, finalMultiplier: c.finalLrMult });
    const { batch, rows } = this.teacher.batch(ids);
    const tape = new Tape(batch.hidden.device);
    try {
      const out = this.heads.forwardDraft(tape, batch, { dropout: c.dropout, seed: c.seed * 1_000_003 + this.step, featureNoise: c.featureNoise });
      const { loss, held } = this.loss(tape, out, batch, rows);
      tape.backward(loss);
      this.optimizer.step(lr);
      this.optimizer.zeroGrad();
      const value = (await loss.value.read())[0];
      for (const t of held) t.dispose();
      this.step++;
      return { step: this.step, loss: value, lr, tokens: rows.length };
    } finally {
      tape.dispose();
      batch.hidden.dispose();
    }
  }

  /** Held-out loss and per-head accuracy. */
  async evaluate(): Promise<HeadAccuracy> {
    const c = this.config;
    const H = this.heads.draftsPerRow;
    const d2t = this.teacher.vocabulary; // logits over a draft vocabulary: their ids are d2t's base ids
    const V = d2t?.length ?? this.heads.config.vocabSize;
    const hit1 = new Array(H).fill(0);
    const hit5 = new Array(H).fill(0);
    const agree = new Array(H).fill(0);
    const count = new Array(H).fill(0);
    let lossSum = 0;
    let batches = 0;
    const ids = this.split.heldOut.length > 0 ? this.split.heldOut : this.split.train.slice(0, c.batch);
    for (let at = 0; at < ids.length; at += c.batch) {
      const { batch, rows } = this.teacher.batch(ids.slice(at, at + c.batch));
      const tape = new Tape(batch.hidden.device);
      try {
        const out = this.heads.forwardDraft(tape, batch);
        const { loss, held } = this.loss(tape, out, batch, rows, false);
        lossSum += (await loss.value.read())[0];
        batches++;
        for (const t of held) t.dispose();
        for (let i = 0; i < H; i++) {
          const o = out.outputs[i];
          const base = headTargets(batch, i);
          const targets = draftTargets(base, this.teacher.draftIdOf);
          const chunk = logitChunkRows(o);
          let x: Float32Array = new Float32Array(0); // [chunk rows, vocab], rows from x0
          let x0 = 0;
          for (let r = 0; r < targets.length; r++) {
            if (base[r] < 0) continue;
            if (r < x0 || r >= x0 + x.length / V) {
              x0 = r;
              const h = slice(o.hidden.value, 0, r, Math.min(targets.length, r + chunk));
              const y = linear(h, o.weight.value);
              x = (await y.read()) as Float32Array;
              h.dispose();
              y.dispose();
            }
            const row = x.subarray((r - x0) * V, (r - x0 + 1) * V);
            const best = argmaxOf(row);
            count[i]++;
            if ((d2t ? d2t[best] : best) === this.teacher.greedy[rows[r] + i + 1]) agree[i]++;
            if (targets[r] < 0) continue; // a data token outside the draft vocabulary: a miss
            const target = row[targets[r]];
            let above = 0; // ids ranked before the target (ties to the lower id, as topk)
            for (let j = 0; j < V; j++) if (row[j] > target || (row[j] === target && j < targets[r])) above++;
            if (above === 0) hit1[i]++;
            if (above < 5) hit5[i]++;
          }
        }
      } finally {
        tape.dispose();
        batch.hidden.dispose();
      }
    }
    const frac = (a: number[]) => a.map((x, i) => (count[i] > 0 ? x / count[i] : 0));
    return { step: this.step, loss: lossSum / Math.max(1, batches), top1: frac(hit1), top5: frac(hit5), greedy: frac(agree) };
  }

  /**
   * The draft loss, plus for EAGLE heads featureWeight · smoothL1(f'_{t+1}, f_{t+1}) over the rows
   * whose next position is inside the sequence. Returns the loss and the tensors to dispose after backward().
   */
  private loss(tape: Tape, out: { outputs: DraftOutput[]; features: Var | null }, batch: HeadBatch, rows: Int32Array, gradients = true): { loss: Var; held: Tensor[] } {
    const c = this.config;
    const { loss, held } = draftLoss(tape, out.outputs, batch, rows, this.teacher, { ...c, gradients });
    if (!out.features || c.featureWeight === 0) return { loss, held };
    const next = new Int32Array(rows.length); // row t+1 of each row's sequence (itself at the end, weighted 0)
    const valid = new Float32Array(rows.length);
    for (const s of batch.sequences) {
      for (let t = 0; t < s.length; t++) {
        const last = t + 1 >= s.length;
        next[s.start + t] = last ? s.start + t : s.start + t + 1;
        valid[s.start + t] = last ? 0 : 1;
      }
    }
    const target = gatherRows(batch.hidden, next); // [rows, dim] f_{t+1}
    held.push(target);
    return { loss: tape.add(loss, tape.scale(tape.smoothL1(out.features, target, { weights: valid }), c.featureWeight)), held };
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}

function argmaxOf(x: Float32Array): number {
  let best = 0;
  for (let j = 1; j < x.length; j++) if (x[j] > x[best]) best = j;
  return best;
}

/** The base model sizes a config's heads are made for, for checking a resumed run against the model. */
export function modelKey(model: LlamaModel): string {
  const c = model.config;
  return `dim ${c.dim}, vocab ${c.vocabSize}, layers ${c.nLayers}`;
}
