// The draft-head objective (Hydra): head i at position t drafts the token at t+i+2;
//   loss_i = lmWeight·CE(logits_i[t], x_{t+i+2}) + teacherWeight·CE(logits_i[t], softmax(base logits[t+i+1]))
// (against the top-k teacher, when the cache keeps one, through topKCrossEntropy; over a draft
// vocabulary's ids when the teacher is restricted to one: the logits are then [rows, draft vocab]
// and targets outside it are skipped)
//   loss   = Σ_i decay^i · loss_i
// each term a mean over the positions whose target lies inside the sequence.
import { OptionError, ShapeError, type Tensor } from '@hydra-ts/tensor';
import type { Tape, Var } from './autograd';
import { DataError } from './data';
import type { TeacherCache } from './teacher';
import type { DraftOutput, HeadBatch } from './trainable-heads';

export interface DraftLossOptions {
  /** Weight of the cross-entropy against the data token. */
  lmWeight: number;
  /** Weight of the cross-entropy against the base model's distribution (teacherLoss). */
  teacherWeight: number;
  /** Head i's weight is decayHeads^i (Medusa uses 0.8); 1 weighs heads equally. */
  decayHeads: number;
}

/** [rows] token ids head `i` is trained to draft: x_{t+i+2}, −1 where that is past the sequence end. */
export function headTargets(batch: Pick<HeadBatch, 'tokens' | 'sequences'>, i: number): Int32Array {
  const out = new Int32Array(batch.tokens.length).fill(-1);
  for (const s of batch.sequences) {
    for (let t = 0; t + i + 2 < s.length; t++) out[s.start + t] = batch.tokens[s.start + t + i + 2];
  }
  return out;
}

/** Logits of at most this many bytes are alive at once while the loss applies a head's output layer (DraftLossOptions.maxLogitBytes). */
export const DRAFT_LOSS_LOGIT_BYTES = 64 * 2 ** 20;

export interface DraftLossRun {
  /**
   * Bytes of f32 logits computed at once: a head's output layer is applied to as many rows as fit
   * (Tape.chunkedLinearLoss), at least one; default the smaller of 64 MiB and the device's storage
   * binding limit. Memory then does not grow with rows × vocabulary.
   */
  maxLogitBytes?: number;
  /** false: the loss only (evaluation), no gradient is taken; default true. */
  gradients?: boolean;
}

/**
 * The loss over every head's output for `batch` (whose rows are the teacher cache's rows `rows`):
 * a head's output layer not yet applied (DraftOutput; applied row chunk by row chunk) or its
 * logits [rows, vocab]. Returns the scalar loss Var and the gathered teacher tensors, which the
 * caller disposes after backward().
 */
export function draftLoss(tape: Tape, outputs: readonly (DraftOutput | Var)[], batch: HeadBatch, rows: Int32Array, teacher: TeacherCache, o: DraftLossOptions & DraftLossRun): { loss: Var; held: Tensor[] } {
  const held: Tensor[] = [];
  let loss: Var | null = null;
  const scored = (x: DraftOutput | Var) => ('hidden' in x ? x.weight.shape[0] : x.shape[1]);
  if (teacher.vocabulary && outputs.some((x) => scored(x) !== teacher.vocabulary!.length)) {
    throw new ShapeError(`draftLoss: heads scoring ${scored(outputs[0])} ids for a teacher over a draft vocabulary of ${teacher.vocabulary!.length} ids`);
  }
  outputs.forEach((x, i) => {
    const targets = draftTargets(headTargets(batch, i), teacher.draftIdOf);
    const valid = Float32Array.from(targets, (t) => (t >= 0 ? 1 : 0));
    const count = valid.reduce((a, v) => a + v, 0);
    if (count === 0) return;
    // The base distribution for x_{t+i+2} is its output at t+i+1.
    const src = new Int32Array(targets.length);
    for (const s of batch.sequences) for (let t = 0; t + i + 2 < s.length; t++) src[s.start + t] = rows[s.start + t + i + 1];
    // rows r0..r1 of head i's term, each a mean over all the head's valid rows
    const termOf = (tp: Tape, logits: Var, r0: number, r1: number): Var => {
      const terms: Var[] = [];
      const w = valid.subarray(r0, r1);
      if (o.lmWeight > 0) terms.push(tp.scale(tp.crossEntropy(logits, targets.subarray(r0, r1), { weights: w, normalizer: count }), o.lmWeight));
      if (o.teacherWeight > 0) {
        const t = teacher.gather(logits.value.device, src.subarray(r0, r1));
        if ('full' in t) {
          held.push(t.full); // [rows, vocab]
          terms.push(tp.scale(tp.softCrossEntropy(logits, t.full, { weights: w, normalizer: count }), o.teacherWeight));
        } else {
          held.push(t.sparse.ids, t.sparse.probs, t.sparse.rest); // [rows, k], [rows, k], [rows]
          terms.push(tp.scale(tp.topKCrossEntropy(logits, t.sparse, { weights: w, normalizer: count }), o.teacherWeight));
        }
      }
      let term = terms.length === 1 ? terms[0] : tp.add(terms[0], terms[1]);
      if (o.decayHeads !== 1) term = tp.scale(term, o.decayHeads ** i);
      return term;
    };
    let term: Var;
    if ('hidden' in x) {
      term = tape.chunkedLinearLoss(x.hidden, x.weight, logitChunkRows(x, o.maxLogitBytes), termOf, { gradients: o.gradients });
    } else term = termOf(tape, x, 0, targets.length);
    loss = loss ? tape.add(loss, term) : term;
  });
  if (!loss) throw new DataError('draftLoss: no position has a target (sequences shorter than 3 tokens)');
  return { loss, held };
}

/** Rows of `output`'s logits computed at once within maxLogitBytes (DraftLossRun.maxLogitBytes), at least one. */
export function logitChunkRows(output: DraftOutput, maxLogitBytes?: number): number {
  const bytes = maxLogitBytes ?? Math.min(DRAFT_LOSS_LOGIT_BYTES, output.hidden.value.device.limits.maxStorageBufferBindingSize);
  if (!(Number.isFinite(bytes) && bytes > 0)) throw new OptionError(`draftLoss: maxLogitBytes = ${maxLogitBytes}, expected a number of bytes > 0`);
  return Math.max(1, Math.floor(bytes / (4 * output.weight.shape[0])));
}

/** Base-id targets as draft ids through `draftIdOf` (the teacher's map; −1 outside the draft vocabulary), or unchanged without one. */
export function draftTargets(targets: Int32Array, draftIdOf: Int32Array | null): Int32Array {
  return draftIdOf ? targets.map((t) => (t >= 0 ? draftIdOf[t] : -1)) : targets;
}
