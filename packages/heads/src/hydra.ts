// Hydra heads: head i reads h_t together with the embeddings of the path root, x_1, ..., x_i, so
// each depth is drafted conditioned on the candidates above it, one batch of parents at a time.
import { concat, embedding, gatherRows, linear, type Tensor } from '@hydra-ts/tensor';
import { inputBlock, residualBlock } from './blocks';
import { readTopK, TopKHeads, type Proposal, type ProposeRequest } from './draft-head';

export class HydraHeads extends TopKHeads {
  readonly sequential = true;

  async propose(req: ProposeRequest): Promise<Proposal> {
    const hT = this.checkRequest(req);
    const { tree } = req;
    const tokens = new Int32Array(tree.size);
    tokens[0] = req.root;
    for (let d = 1; d <= tree.depth; d++) {
      const parents = tree.nodesAtDepth(d - 1).filter((p) => tree.nodes[p].children.length > 0);
      // Path tokens root..p of each parent, parents one after another: [parents * d]
      const paths = new Int32Array(parents.length * d);
      parents.forEach((p, j) => {
        for (let n = p, t = d - 1; n >= 0; n = tree.parents[n], t--) paths[j * d + t] = tokens[n];
      });
      const k = tree.maxRankAtDepth(d);
      const top = await readTopK(this.logits(hT, d - 1, paths, parents.length), k); // [parents * k]
      parents.forEach((p, j) => {
        for (const c of tree.nodes[p].children) tokens[c] = top[j * k + tree.ranks[c]];
      });
    }
    return { tokens, draftProbs: null };
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
      let y = inputBlock(x, this.param(`heads.${i}.input.residual`), this.param(`heads.${i}.input.weight`), this.param(`heads.${i}.input.bias`));
      for (let l = 1; l < this.config.layers; l++) {
        owned.push(y);
        y = residualBlock(y, this.param(`heads.${i}.blocks.${l}.weight`), this.param(`heads.${i}.blocks.${l}.bias`));
      }
      owned.push(y);
      return linear(y, this.outputOf(i)); // [rows, vocab]
    } finally {
      for (const t of owned) t.dispose();
    }
  }
}
