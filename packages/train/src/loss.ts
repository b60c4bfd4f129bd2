// The draft-head objective (Hydra): head i at position t drafts the token at t+i+2;
//   loss_i = lmWeight·CE(logits_i[t], x_{t+i+2}) + teacherWeight·CE(logits_i[t], softmax(base logits[t+i+1]))
// (against the top-k teacher, when the cache keeps one, through topKCrossEntropy; over a draft
// vocabulary's ids when the teacher is restricted to one: the logits are then [rows, draft vocab]
// and targets outside it are skipped)
//   loss   = Σ_i decay^i · loss_i
// each term a mean over the positions whose target lies inside the sequence.
import { ShapeError, type Tensor } from '@hydra-ts/tensor';
import type { Tape, Var } from './autograd';
import { DataError } from './data';
import type { TeacherCache } from './teacher';
import type { HeadBatch } from './trainable-heads';

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

/**
 * The loss over every head's logits [rows, vocab] for `batch` (whose rows are the teacher cache's
 * rows `rows`). Returns the scalar loss Var and the gathered teacher tensors, which the caller
 * disposes after backward().
 */
export function draftLoss(tape: Tape, logits: readonly Var[], batch: HeadBatch, rows: Int32Array, teacher: TeacherCache, o: DraftLossOptions): { loss: Var; held: Tensor[] } {
  const held: Tensor[] = [];
  let loss: Var | null = null;
  if (teacher.vocabulary && logits.some((x) => x.shape[1] !== teacher.vocabulary!.length)) {
    throw new ShapeError(`draftLoss: logits ${logits[0].value.describe()} for a teacher over a draft vocabulary of ${teacher.vocabulary!.length} ids`);
  }
  logits.forEach((x, i) => {
    const targets = draftTargets(headTargets(batch, i), teacher.draftIdOf);
    const valid = Float32Array.from(targets, (t) => (t >= 0 ? 1 : 0));
    if (!valid.some((v) => v > 0)) return;
    const terms: Var[] = [];
    if (o.lmWeight > 0) terms.push(tape.scale(tape.crossEntropy(x, targets), o.lmWeight));
    if (o.teacherWeight > 0) {
      // The base distribution for x_{t+i+2} is its output at t+i+1.
      const src = new Int32Array(targets.length);
      for (const s of batch.sequences) for (let t = 0; t + i + 2 < s.length; t++) src[s.start + t] = rows[s.start + t + i + 1];
      const t = teacher.gather(x.value.device, src);
      if ('full' in t) {
        held.push(t.full); // [rows, vocab]
        terms.push(tape.scale(tape.softCrossEntropy(x, t.full, { weights: valid }), o.teacherWeight));
      } else {
        held.push(t.sparse.ids, t.sparse.probs, t.sparse.rest); // [rows, k], [rows, k], [rows]
        terms.push(tape.scale(tape.topKCrossEntropy(x, t.sparse, { weights: valid }), o.teacherWeight));
      }
    }
    let term = terms.length === 1 ? terms[0] : tape.add(terms[0], terms[1]);
    if (o.decayHeads !== 1) term = tape.scale(term, o.decayHeads ** i);
    loss = loss ? tape.add(loss, term) : term;
  });
  if (!loss) throw new DataError('draftLoss: no position has a target (sequences shorter than 3 tokens)');
  return { loss, held };
}

/** Base-id targets as draft ids through `draftIdOf` (the teacher's map; −1 outside the draft vocabulary), or unchanged without one. */
export function draftTargets(targets: Int32Array, draftIdOf: Int32Array | null): Int32Array {
  return draftIdOf ? targets.map((t) => (t >= 0 ? draftIdOf[t] : -1)) : targets;
}
