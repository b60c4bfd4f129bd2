// Hydra heads: head i reads h_t together with the embeddings of the path root, x_1, ..., x_i, so
// each depth is drafted conditioned on the candidates above it, one batch of parents at a time.
import { appendEmbeddings, concat, embedding, gatherRows, linear, mlpTopK, topk, TOPK_MAX_K, type Tensor } from '@hydra-ts/tensor';
import { inputBlock, residualBlock } from './blocks';
import { TopKHeads, type ProposeRequest } from './draft-head';
import { SequentialTopKHeads, type Drafting } from './sequential-heads';
import { HeadStateError } from './errors';

export class HydraHeads extends SequentialTopKHeads {
  constructor(...args: ConstructorParameters<typeof TopKHeads>) {
    super(...args);
    // packed now, so that propose allocates nothing that outlives it
    for (let i = 0; i < this.depth; i++) if (this.fusedShape((i + 2) * this.config.dim)) this.stackOf(i);
  }

  /**
   * Records the drafting depth by depth (see Drafting): head i's input rows are each parent's
   * (h_t, e(root), ..., e(own token)). The tree's shape is known here, so the rows each child
   * needs (its parent's input row, its own token among the parent's top-k) are gathered with
   * host-side indices and the chosen tokens stay on the GPU.
   */
  protected *drafting(hT: Tensor, req: ProposeRequest): Drafting {
    const { tree } = req;
    const D = tree.depth;
    const table = this.base.tokenEmbedding;
    const owned: Tensor[] = [];
    const keep = <T extends Tensor>(t: T): T => (owned.push(t), t);
    const chosen: Tensor[] = []; // per depth d: [parents_d, k_d] i32 token ids, best first
    const entry = new Int32Array(tree.size); // per node: index into the flattened lists
    try {
      let parents = [0];
      let offset = 0;
      let x = keep(this.rootRow(hT, req.root)); // [1, 2·dim]: h_t, e(root)
      for (let d = 1; ; d++) {
        const k = tree.maxRankAtDepth(d);
        const ids = keep(yield [d - 1, x, k]); // [parents, k]
        chosen.push(ids);
        parents.forEach((p, j) => {
          for (const c of tree.nodes[p].children) entry[c] = offset + j * k + tree.ranks[c];
        });
        offset += ids.size;
        if (d === D) break;
        // Rows for the next depth: each parent-to-be p continues its parent's row with e(token p).
        const next = tree.nodesAtDepth(d).filter((p) => tree.nodes[p].children.length > 0);
        const rowOf = new Map(parents.map((p, j) => [p, j]));
        const from = Int32Array.from(next, (p) => rowOf.get(tree.parents[p])!); // row of x
        const at = Int32Array.from(next, (p, j) => from[j] * k + tree.ranks[p]); // entry of ids
        x = keep(appendEmbeddings(x, from, ids, at, table)); // [next, (d+2)·dim]: parent's row, e(own token)
        parents = next;
      }
    } catch (e) {
      for (const t of owned) t.dispose();
      throw e;
    }
    return { chosen, entryOf: (n) => entry[n], keep, dispose: () => owned.forEach((t) => t.dispose()) };
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
  protected recordTopK(i: number, x: Tensor, k: number): Tensor | null {
    const vocab = this.config.vocabSize;
    if (k > vocab) throw new HeadStateError(`propose: the tree asks for the top-${k} tokens of a vocabulary of ${vocab}`);
    if (this.fusedFits(x.shape[1], k)) {
      const { values, indices } = mlpTopK(x, this.stackOf(i), this.outputOf(i), k);
      values.dispose();
      return indices;
    }
    if (k > TOPK_MAX_K) return null;
    const logits = this.headLogits(i, x); // [rows, vocab]
    try {
      const { values, indices } = topk(logits, k);
      values.dispose();
      return indices;
    } finally {
      logits.dispose();
    }
  }

  /**
   * Logits of head i for `rows` paths of i+1 tokens each (root first), flattened in `paths`
   * [rows * (i+1)]. Returns [rows, vocab], owned by the caller.
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

  /** Head i on input rows x [rows, (i+2)·dim] = (h_t, e(root), ..., e(x_i)). Returns [rows, vocab], owned by the caller. */
  protected headLogits(i: number, x: Tensor): Tensor {
    let y = inputBlock(x, this.param(`heads.${i}.input.residual`), this.param(`heads.${i}.input.weight`), this.param(`heads.${i}.input.bias`));
    for (let l = 1; l < this.config.layers; l++) {
      const next = residualBlock(y, this.param(`heads.${i}.blocks.${l}.weight`), this.param(`heads.${i}.blocks.${l}.bias`));
      y.dispose();
      y = next;
    }
    try {
      return linear(y, this.outputOf(i)); // [rows, vocab]
    } finally {
      y.dispose();
    }
  }
}
