// Medusa-1 heads: k independent heads on h_t. Head i guesses the token i+1 places after the root
// without seeing the tokens in between, so one pass gives every depth's top-k list.
import { concat, linear, type Tensor } from '@hydra-ts/tensor';
import { residualBlock } from './blocks';
import { readTopK, TopKHeads, type Proposal, type ProposeRequest } from './draft-head';

export class MedusaHeads extends TopKHeads {
  readonly sequential = false;

  async propose(req: ProposeRequest): Promise<Proposal> {
    const hT = this.checkRequest(req);
    const { tree } = req;
    const tokens = new Int32Array(tree.size);
    tokens[0] = req.root;
    const D = tree.depth;
    if (D === 0) return { tokens, draftProbs: null };
    let k = 0;
    for (let d = 1; d <= D; d++) k = Math.max(k, tree.maxRankAtDepth(d));
    const logits = this.logits(hT, D); // [D, vocab]
    const top = await readTopK(logits, k); // [D * k]
    // node (depth d, rank r) = r-th best of head d-1
    for (let n = 1; n < tree.size; n++) {
      const node = tree.nodes[n];
      tokens[n] = top[(node.depth - 1) * k + node.rank];
    }
    return { tokens, draftProbs: null };
  }

  /** Logits of heads 0..count-1 from h_t [1, dim]. Returns [count, vocab], owned by the caller. */
  logits(hT: Tensor, count: number): Tensor {
    const { layers, sharedOutput } = this.config;
    const rows: Tensor[] = []; // [1, dim] per head
    try {
      for (let i = 0; i < count; i++) {
        let x = hT;
        for (let l = 0; l < layers; l++) {
          const y = residualBlock(x, this.param(`heads.${i}.blocks.${l}.weight`), this.param(`heads.${i}.blocks.${l}.bias`));
          if (x !== hT) x.dispose();
          x = y;
        }
        rows.push(x);
      }
      if (sharedOutput) {
        const y = concat(rows, 0); // [count, dim]
        const out = linear(y, this.base.outputWeight); // [count, vocab]
        y.dispose();
        return out;
      }
      const per = rows.map((x, i) => linear(x, this.outputOf(i))); // [1, vocab] each
      const out = concat(per, 0); // [count, vocab]
      for (const t of per) t.dispose();
      return out;
    } finally {
      for (const t of rows) t.dispose();
    }
  }
}
