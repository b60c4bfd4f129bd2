// Hydra heads: head i reads h_t together with the embeddings of the path root, x_1, ..., x_i, so
// each depth is drafted conditioned on the candidates above it, one batch of parents at a time.
import { appendEmbeddings, concat, embedding, gatherRows, linear, mlpTopK, scope, type Tensor, type TopK } from '@hydra-ts/tensor';
import { gpuHeadOps, hydraHead } from './blocks';
import { TopKHeads } from './draft-head';
import { SequentialTopKHeads, type Keep, type NextRows } from './sequential-heads';

export class HydraHeads extends SequentialTopKHeads {
  constructor(...args: ConstructorParameters<typeof TopKHeads>) {
    super(...args);
    // packed now, so that propose allocates nothing that outlives it
    for (let i = 0; i < this.depth; i++) if (this.fusedShape((i + 2) * this.config.dim)) this.stackOf(i);
  }

  /** Head 0's rows: (h_t, e(root)). */
  protected firstRows(hT: Tensor, root: number, keep: Keep): Tensor {
    return keep(this.rootRow(hT, root)); // [1, 2·dim]
  }

  /** Head d's rows: each parent's row (h_t, e(root), ..., e(its parent)) with e(its own token) appended. */
  protected nextRows(x: Tensor, n: NextRows, keep: Keep): Tensor {
    return keep(appendEmbeddings(x, n.from, n.ids, n.at, this.base.tokenEmbedding)); // [next, (d+2)·dim]
  }

  /** [1, 2·dim] = (h_t, e(root)): one row, so two buffer copies rather than two dispatches. */
  private rootRow(hT: Tensor, root: number): Tensor {
    const table = this.base.tokenEmbedding;
    if (table.dtype !== 'f32') {
      const e = embedding(table, [root]); // [1, dim]: f16 rows need converting
      try {
        return concat([hT, e], 1);
      } finally {
        e.dispose();
      }
    }
    const bytes = this.config.dim * 4;
    const x = this.device.empty([1, 2 * this.config.dim], 'f32');
    this.device.copyBuffer(hT.buffer, 0, x.buffer, 0, bytes);
    this.device.copyBuffer(table.buffer, root * bytes, x.buffer, bytes, bytes);
    return x;
  }

  private stackOf(i: number) {
    return this.packedStack(`head ${i}`, [`heads.${i}`], true);
  }

  /**
   * Head i's k best token ids per row of x, best first, ties to the lower id, recorded on the GPU:
   * [rows, k] i32 owned by the caller — in one dispatch where the head fits the fused kernel, else
   * its logits and the GPU top-k. Null past the GPU top-k's limit (cpuTopK ranks those).
   */
  protected override recordTopK(i: number, x: Tensor, k: number): Tensor | null {
    if (!this.fusedFits(x.shape[1], k)) return super.recordTopK(i, x, k);
    const { values, indices } = mlpTopK(x, this.stackOf(i), this.outputOf(i), k);
    values.dispose();
    return scope((track) => this.toBase(track(indices)));
  }

  /** recordTopK's log-probability twin: the fused kernel with logProbs where the head fits it. */
  protected override recordLogProbTopK(i: number, x: Tensor, k: number): TopK {
    if (!this.fusedFits(x.shape[1], k)) return super.recordLogProbTopK(i, x, k);
    const top = mlpTopK(x, this.stackOf(i), this.outputOf(i), k, { logProbs: true });
    return { values: top.values, indices: scope((track) => this.toBase(track(top.indices))) as TopK['indices'] };
  }

  /**
   * Logits of head i for `rows` paths of i+1 tokens each (root first), flattened in `paths`
   * [rows * (i+1)]. Returns [rows, scoredVocab], owned by the caller.
   */
  logits(hT: Tensor, i: number, paths: Int32Array, rows: number): Tensor {
    const dim = this.config.dim;
    const owned: Tensor[] = [];
    try {
      const h = gatherRows(hT, new Int32Array(rows)); // [rows, dim]
      owned.push(h);
      const e = embedding(this.base.tokenEmbedding, paths); // [rows * (i+1), dim]
      owned.push(e);
      const ev = e.reshape([rows, (i + 1) * dim]); // path embeddings side by side
      owned.push(ev);
      const x = concat([h, ev], 1); // [rows, (i+2) dim]
      owned.push(x);
      return this.headLogits(i, x);
    } finally {
      for (const t of owned) t.dispose();
    }
  }

  /** Head i on input rows x [rows, (i+2)·dim] = (h_t, e(root), ..., e(x_i)). Returns [rows, scoredVocab] (draft ids with a draft vocabulary), owned by the caller. */
  protected headLogits(i: number, x: Tensor): Tensor {
    return scope((track) => linear(hydraHead(gpuHeadOps(track, (name) => this.param(name)), i, this.config.layers, x), this.outputOf(i))); // [rows, scoredVocab]
  }
}
