// What the frozen base model says about every training position, computed once: its final-normed
// hidden states (the heads' input h_t) and its next-token distributions (the teacher), for all
// windows laid out row after row on the GPU.
import type { LlamaModel } from '@hydra-ts/model';
import { argmax, gatherRows, linear, OptionError, softmax, topk, TOPK_MAX_K, writeRows, type Device, type Tensor } from '@hydra-ts/tensor';
import type { SparseTeacher } from './grad/topk-cross-entropy';
import type { HeadBatch, SequenceRows } from './trainable-heads';

/** 'full': the whole distribution per row; a number k: its k largest probabilities, their ids and the rest mass. */
export type TeacherTopK = 'full' | number;

/** The full cache is kept while it fits this; past it the teacher is top-32. */
export const FULL_TEACHER_MAX_BYTES = 256 * 2 ** 20;
export const DEFAULT_TEACHER_TOP_K = 32;

export interface TeacherMode {
  topK: TeacherTopK;
  /** Bytes the teacher probabilities take on the GPU in this mode. */
  bytes: number;
  /** Why this mode, in words (printed by the trainer). */
  reason: string;
}

/**
 * How the teacher is stored for `rows` rows of a `vocab` vocabulary: full when [rows, vocab] f32
 * fits FULL_TEACHER_MAX_BYTES, else top-32; `forced` overrides. Throws OptionError for a bad k.
 */
export function teacherMode(rows: number, vocab: number, forced?: TeacherTopK): TeacherMode {
  const fullBytes = rows * vocab * 4;
  const sparseBytes = (k: number) => rows * k * 8; // ids i32 + probs f32 (the rest mass is host-side)
  if (forced !== undefined) {
    if (forced === 'full') return { topK: 'full', bytes: fullBytes, reason: 'forced full' };
    if (!Number.isInteger(forced) || forced < 1 || forced > Math.min(TOPK_MAX_K, vocab)) {
      throw new OptionError(`teacher topK = ${JSON.stringify(forced)}, expected 'full' or an integer in [1, ${Math.min(TOPK_MAX_K, vocab)}]`);
    }
    return { topK: forced, bytes: sparseBytes(forced), reason: `forced top-${forced}` };
  }
  if (fullBytes <= FULL_TEACHER_MAX_BYTES) return { topK: 'full', bytes: fullBytes, reason: `full [${rows}, ${vocab}] f32 fits ${FULL_TEACHER_MAX_BYTES / 2 ** 20} MiB` };
  const k = Math.min(DEFAULT_TEACHER_TOP_K, vocab);
  return { topK: k, bytes: sparseBytes(k), reason: `full [${rows}, ${vocab}] f32 would take ${(fullBytes / 2 ** 20).toFixed(0)} MiB > ${FULL_TEACHER_MAX_BYTES / 2 ** 20} MiB` };
}

export interface TeacherBuildOptions {
  /** Default: teacherMode's rule. */
  topK?: TeacherTopK;
  onWindow?: (done: number) => void;
  /**
   * Base layers whose inputs are kept instead of the final-normed hidden state (an EAGLE-3 head's
   * featureLayers): `hidden` is then [rows, capture.length · dim], the layers side by side.
   */
  capture?: readonly number[];
  /**
   * A draft vocabulary (strictly increasing base ids, an EAGLE-3 head's d2t): the teacher is the
   * base distribution restricted to it and renormalised, over draft ids (probs [rows, ids.length],
   * top-k ids as draft ids): a head that scores only these ids is trained towards what it can say,
   * at the cost of its vocabulary. A row with no mass inside is all zero.
   */
  vocabulary?: Int32Array;
}

export class TeacherCache {
  /** [rows, dim] final-normed base hidden states, or [rows, capture.length · dim] the captured layers' inputs. */
  readonly hidden: Tensor;
  /** [rows, vocab] softmax of the base logits (full mode; null in top-k mode): row r is the base distribution of the token after row r; over the draft ids with a vocabulary. */
  readonly probs: Tensor | null;
  /** Top-k mode: [rows, k] the k largest base probabilities per row and their ids (i32), and [rows] the mass outside them. */
  readonly topK: { ids: Tensor; probs: Tensor; rest: Float32Array } | null;
  readonly mode: TeacherMode;
  /** [rows] data tokens. */
  readonly tokens: Int32Array;
  /** [rows] argmax of the base logits (the greedy next token). */
  readonly greedy: Int32Array;
  readonly windows: readonly SequenceRows[];
  /** The draft vocabulary the teacher is restricted to (base ids), or null. */
  readonly vocabulary: Int32Array | null;
  /** With a vocabulary: [base vocab] the draft id of each base id, −1 outside it. */
  readonly draftIdOf: Int32Array | null;

  private constructor(hidden: Tensor, probs: Tensor | null, top: TeacherCache['topK'], mode: TeacherMode, tokens: Int32Array, greedy: Int32Array, windows: SequenceRows[], vocabulary: Int32Array | null, draftIdOf: Int32Array | null) {
    this.vocabulary = vocabulary;
    this.draftIdOf = draftIdOf;
    this.hidden = hidden;
    this.probs = probs;
    this.topK = top;
    this.mode = mode;
    this.tokens = tokens;
    this.greedy = greedy;
    this.windows = windows;
  }

  /** One prefill forward per window (positions from 0). */
  static async build(model: LlamaModel, windows: readonly Int32Array[], options: TeacherBuildOptions | ((done: number) => void) = {}): Promise<TeacherCache> {
    const o = typeof options === 'function' ? { onWindow: options } : options;
    const onWindow = o.onWindow;
    const { dim, vocabSize } = model.config;
    const total = windows.reduce((a, w) => a + w.length, 0);
    const width = o.vocabulary?.length ?? vocabSize; // the teacher's ids: base or draft
    const mode = teacherMode(total, width, o.topK);
    const k = mode.topK === 'full' ? 0 : mode.topK;
    const hidden = model.device.empty([total, (o.capture?.length || 1) * dim], 'f32'); // [rows, dim] or [rows, capture · dim]
    const draftId = o.vocabulary ? draftIds(o.vocabulary, vocabSize) : null; // [vocab] the draft id of each base id, −1 outside
    const insideRow = draftId ? model.device.tensor(Float32Array.from(draftId, (d) => (d >= 0 ? 1 : 0)), [1, vocabSize]) : null; // [1, vocab]
    const probs = k ? null : model.device.empty([total, width], 'f32'); // [rows, vocab or draft vocab]
    const kept = k ? { ids: model.device.empty([total, k], 'i32'), probs: model.device.empty([total, k], 'f32'), rest: new Float32Array(total) } : null; // [rows, k], [rows, k], [rows]
    const tokens = new Int32Array(total);
    const greedy = new Int32Array(total);
    const rows: SequenceRows[] = [];
    let start = 0;
    for (const [i, w] of windows.entries()) {
      const cache = model.createCache(w.length);
      const out = model.forward(cache, { tokens: w, logits: 'all', capture: o.capture });
      cache.dispose();
      const p = softmax(out.logits!);
      const top = argmax(out.logits!);
      writeRows(hidden, out.features ?? out.hidden, start);
      if (probs) {
        if (o.vocabulary) {
          const q = restrictRows((await p.read()) as Float32Array, vocabSize, o.vocabulary); // [T, draft vocab]
          const t = model.device.tensor(q, [w.length, width]);
          writeRows(probs, t, start);
          t.dispose();
        } else writeRows(probs, p, start);
      }
      if (kept) {
        const t = topk(p, k); // [T, k] values and ids, on the GPU
        const v = (await t.values.read()) as Float32Array;
        if (draftId) {
          // the top-k ids inside the draft vocabulary as draft ids, renormalised by the row's mass inside (Σ p over the vocabulary, on the GPU)
          const m = linear(p, insideRow!); // [T, 1]
          const mass = (await m.read()) as Float32Array;
          m.dispose();
          const ids = (await t.indices.read()) as Int32Array;
          for (let r = 0; r < w.length; r++) {
            let keptMass = 0;
            for (let j = 0; j < k; j++) {
              const d = draftId[ids[r * k + j]];
              const x = d >= 0 && mass[r] > 0 ? v[r * k + j] / mass[r] : 0;
              v[r * k + j] = x;
              ids[r * k + j] = Math.max(0, d); // an id outside carries probability 0
              keptMass += x;
            }
            kept.rest[start + r] = mass[r] > 0 ? Math.max(0, 1 - keptMass) : 0;
          }
          const [restricted, mapped] = [model.device.tensor(v, t.values.shape), model.device.tensor(ids, t.indices.shape, 'i32')];
          writeRows(kept.probs, restricted, start);
          writeRows(kept.ids, mapped, start);
          restricted.dispose();
          mapped.dispose();
        } else {
          writeRows(kept.probs, t.values, start);
          for (let r = 0; r < w.length; r++) {
            let mass = 0;
            for (let j = 0; j < k; j++) mass += v[r * k + j];
            kept.rest[start + r] = Math.max(0, 1 - mass);
          }
          writeRows(kept.ids, t.indices, start);
        }
        t.values.dispose();
        t.indices.dispose();
      }
      greedy.set((await top.read()) as Int32Array, start);
      for (const t of [out.hidden, out.logits!, p, top]) t.dispose();
      out.features?.dispose();
      tokens.set(w, start);
      rows.push({ start, length: w.length });
      start += w.length;
      onWindow?.(i + 1);
    }
    insideRow?.dispose();
    return new TeacherCache(hidden, probs, kept, mode, tokens, greedy, rows, o.vocabulary ?? null, draftId);
  }

  /** The batch of windows `ids`, their rows gathered one after another. The hidden tensor is the caller's. */
  batch(ids: readonly number[]): { batch: HeadBatch; rows: Int32Array } {
    const sequences: SequenceRows[] = [];
    let n = 0;
    for (const id of ids) {
      sequences.push({ start: n, length: this.windows[id].length });
      n += this.windows[id].length;
    }
    const rows = new Int32Array(n); // global row of each batch row
    ids.forEach((id, s) => {
      for (let t = 0; t < sequences[s].length; t++) rows[sequences[s].start + t] = this.windows[id].start + t;
    });
    const tokens = rows.map((r) => this.tokens[r]);
    return { batch: { hidden: gatherRows(this.hidden, rows), tokens, sequences }, rows };
  }

  /** The teacher of global rows `src`, gathered: [n, vocab] probabilities (full) or a sparse teacher (top-k). The caller disposes what it gets. */
  gather(device: Device, src: Int32Array): { full: Tensor } | { sparse: SparseTeacher } {
    if (this.probs) return { full: gatherRows(this.probs, src) };
    const t = this.topK!;
    return { sparse: { ids: gatherRows(t.ids, src), probs: gatherRows(t.probs, src), rest: device.tensor(Float32Array.from(src, (r) => t.rest[r]), [src.length]) } };
  }

  dispose(): void {
    this.hidden.dispose();
    this.probs?.dispose();
    this.topK?.ids.dispose();
    this.topK?.probs.dispose();
  }
}

/** [vocab] the draft id of each base id of a draft vocabulary, −1 elsewhere. */
function draftIds(ids: Int32Array, vocab: number): Int32Array {
  const m = new Int32Array(vocab).fill(-1);
  ids.forEach((id, d) => {
    if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new OptionError(`TeacherCache: vocabulary id ${id} is outside the base vocabulary [0, ${vocab})`);
    m[id] = d;
  });
  return m;
}

/** Rows of p [T, vocab] at the draft vocabulary's ids, renormalised: [T, ids.length] (a row with no mass inside: zeros). */
function restrictRows(p: Float32Array, vocab: number, ids: Int32Array): Float32Array {
  const n = ids.length;
  const out = new Float32Array((p.length / vocab) * n);
  for (let r = 0; r < p.length / vocab; r++) {
    let mass = 0;
    for (const id of ids) mass += p[r * vocab + id];
    if (mass > 0) ids.forEach((id, d) => (out[r * n + d] = p[r * vocab + id] / mass));
  }
  return out;
}
