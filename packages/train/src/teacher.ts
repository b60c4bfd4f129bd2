// What the frozen base model says about every training position, computed once: its final-normed
// hidden states (the heads' input h_t) and its next-token distributions (the teacher), for all
// windows laid out row after row on the GPU.
import type { LlamaModel } from '@hydra-ts/model';
import { argmax, gatherRows, softmax, writeRows, type Tensor } from '@hydra-ts/tensor';
import type { HeadBatch, SequenceRows } from './trainable-heads';

export class TeacherCache {
  /** [rows, dim] final-normed base hidden states. */
  readonly hidden: Tensor;
  /** [rows, vocab] softmax of the base logits: row r is the base distribution of the token after row r. */
  readonly probs: Tensor;
  /** [rows] data tokens. */
  readonly tokens: Int32Array;
  /** [rows] argmax of the base logits (the greedy next token). */
  readonly greedy: Int32Array;
  readonly windows: readonly SequenceRows[];

  private constructor(hidden: Tensor, probs: Tensor, tokens: Int32Array, greedy: Int32Array, windows: SequenceRows[]) {
    this.hidden = hidden;
    this.probs = probs;
    this.tokens = tokens;
    this.greedy = greedy;
    this.windows = windows;
  }

  /** One prefill forward per window (positions from 0). */
  static async build(model: LlamaModel, windows: readonly Int32Array[], onWindow?: (done: number) => void): Promise<TeacherCache> {
    const { dim, vocabSize } = model.config;
    const total = windows.reduce((a, w) => a + w.length, 0);
    const hidden = model.device.empty([total, dim], 'f32'); // [rows, dim]
    const probs = model.device.empty([total, vocabSize], 'f32'); // [rows, vocab]
    const tokens = new Int32Array(total);
    const greedy = new Int32Array(total);
    const rows: SequenceRows[] = [];
    let start = 0;
    for (const [i, w] of windows.entries()) {
      const cache = model.createCache(w.length);
      const out = model.forward(cache, { tokens: w, logits: 'all' });
      cache.dispose();
      const p = softmax(out.logits!);
      const top = argmax(out.logits!);
      writeRows(hidden, out.hidden, start);
      writeRows(probs, p, start);
      greedy.set((await top.read()) as Int32Array, start);
      for (const t of [out.hidden, out.logits!, p, top]) t.dispose();
      tokens.set(w, start);
      rows.push({ start, length: w.length });
      start += w.length;
      onWindow?.(i + 1);
    }
    return new TeacherCache(hidden, probs, tokens, greedy, rows);
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

  dispose(): void {
    this.hidden.dispose();
    this.probs.dispose();
  }
}
