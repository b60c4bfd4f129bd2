// Medusa-1 heads: k independent heads on h_t. Head i guesses the token i+1 places after the root
// without seeing the tokens in between, so one pass gives every depth's top-k list.
import { add, concat, gatherRows, linear, mlpTopK, silu, slice, topk, TOPK_MAX_K, type Tensor, type TopK } from '@hydra-ts/tensor';
import { residualBlock } from './blocks';
import { cpuTopK, gatherProposal, logProbTopK, readLogProbTopK, TopKHeads, type DeviceProposeRequest, type LevelDrafting, type LevelDraftRequest, type Proposal, type ProposeRequest } from './draft-head';
import type { LevelCandidates } from '@hydra-ts/tree';
import { HeadStateError } from './errors';
import type { CandidateTree } from '@hydra-ts/tree';

/** Stacked copies of the heads' weights above this size are not made; each head then runs on its own. */
const STACK_LIMIT_BYTES = 64 * 1024 * 1024;

/** Every head's weights of one kind, rows stacked head after head. */
interface Stacked {
  blocks: Array<{ weight: Tensor; bias: Tensor }>; // per layer: [k·dim, dim], [k·dim]
  lmHead: Tensor | null; // [k·vocab, dim]; null when the output layer is shared
}

/** The widest rank list any depth of the tree asks for. */
function maxRank(tree: CandidateTree): number {
  let k = 0;
  for (let d = 1; d <= tree.depth; d++) k = Math.max(k, tree.maxRankAtDepth(d));
  return k;
}

export class MedusaHeads extends TopKHeads {
  readonly sequential = false;
  private stacked: Stacked | null = null;

  constructor(...args: ConstructorParameters<typeof TopKHeads>) {
    super(...args);
    // now, so that propose allocates nothing that outlives it
    this.stack();
    if (this.fusedShape(this.config.dim)) this.fusedStack();
  }

  override dispose(): void {
    this.dropStacked();
    super.dispose();
  }

  async propose(req: ProposeRequest): Promise<Proposal> {
    const hT = this.checkRequest(req);
    const { tree } = req;
    const tokens = new Int32Array(tree.size);
    tokens[0] = req.root;
    const D = tree.depth;
    if (D === 0) return { tokens, draftProbs: null };
    const k = maxRank(tree);
    let top: Int32Array; // [rows * k]; head i's list at row i·stride
    let stride = 1;
    const recorded = this.recordTopK(hT, D, k);
    if (recorded) {
      stride = recorded.stride;
      top = (await recorded.ids.read()) as Int32Array;
      recorded.ids.dispose();
    } else {
      const all = this.allLogits(hT, D);
      stride = all.stride;
      try {
        top = this.toBaseHost(await cpuTopK(all.logits, k)); // past the GPU top-k's k
      } finally {
        all.logits.dispose();
      }
    }
    // node (depth d, rank r) = r-th best of head d-1
    for (let n = 1; n < tree.size; n++) {
      const node = tree.nodes[n];
      tokens[n] = top[(node.depth - 1) * stride * k + node.rank];
    }
    return { tokens, draftProbs: null };
  }

  /**
   * Every head's k best ids on h_t, recorded on the GPU: `ids` [rows, k] i32 base ids (owned by
   * the caller) with head i's list at row i·stride — one dispatch where the heads fit the fused
   * kernel, else the stacked logits and the GPU top-k (and one gather through d2t with a draft
   * vocabulary). Null past the GPU top-k's k.
   */
  private recordTopK(hT: Tensor, D: number, k: number): { ids: Tensor; stride: number } | null {
    this.checkRanks(k);
    let top: TopK;
    let stride = 1;
    if (this.fusedFits(this.config.dim, k)) {
      top = mlpTopK(hT, this.fusedStack(), this.fusedOutput(), k, { perMemberOutput: !this.config.sharedOutput });
    } else {
      if (k > TOPK_MAX_K) return null;
      const all = this.allLogits(hT, D);
      stride = all.stride;
      top = topk(all.logits, k);
      all.logits.dispose();
    }
    top.values.dispose();
    try {
      return { ids: this.toBase(top.indices), stride };
    } finally {
      top.indices.dispose();
    }
  }

  /** The output projection of the fused kernel: the shared one, or every head's stacked. */
  private fusedOutput(): Tensor {
    return this.config.sharedOutput ? this.outputOf(0) : this.stack()!.lmHead!; // fusedFits keeps the stack far under its size limit
  }

  private fusedStack() {
    return this.packedStack(
      'all heads',
      Array.from({ length: this.config.numHeads }, (_, i) => `heads.${i}`),
      false,
    );
  }

  /** propose() without the read-back: the tokens in verify-row order on the GPU (null past the GPU top-k's k). */
  proposeOnDevice(req: DeviceProposeRequest): Tensor | null {
    const hT = this.checkRequest(req);
    const { tree } = req;
    const D = tree.depth;
    if (D === 0) return this.device.tensor(Int32Array.of(req.root), [1], 'i32');
    const k = maxRank(tree);
    const recorded = this.recordTopK(hT, D, k);
    if (!recorded) return null;
    const { ids, stride } = recorded;
    try {
      return gatherProposal(this.uploads, req.root, [ids], req.order, (n) => (tree.nodes[n].depth - 1) * stride * k + tree.ranks[n]);
    } finally {
      ids.dispose();
    }
  }

  /**
   * Level-by-level drafting for dynamic trees. The heads are independent of the path, so every
   * node at depth d gets head d's list: all heads run once, at the first level, in one read-back.
   */
  draftLevels(req: LevelDraftRequest): LevelDrafting {
    const hT = this.checkLevels(req);
    let lists: LevelCandidates | null = null; // [depth, k]: head i's list at row i
    let level = 0;
    return {
      expand: async (picks, k) => {
        if (level >= req.depth) throw new HeadStateError(`medusa.draftLevels: asked for level ${level + 1} of a ${req.depth}-level draft`);
        if (!lists) {
          // every head's list at once: the fused kernel with log-probabilities where the heads fit it
          if (this.fusedFits(this.config.dim, k)) {
            const top = mlpTopK(hT, this.fusedStack(), this.fusedOutput(), k, { perMemberOutput: !this.config.sharedOutput, logProbs: true });
            try {
              lists = await readLogProbTopK(top);
              this.toBaseHost(lists.ids);
            } finally {
              top.values.dispose();
              top.indices.dispose();
            }
          } else {
            const logits = this.logits(hT, req.depth); // [depth, scoredVocab]
            try {
              const drafted = await logProbTopK(logits, k);
              drafted.ids.dispose();
              lists = { ids: this.toBaseHost(drafted.host.ids), logProbs: drafted.host.logProbs };
            } finally {
              logits.dispose();
            }
          }
        }
        const rows = picks ? picks.length : 1;
        const ids = new Int32Array(rows * k);
        const logProbs = new Float32Array(rows * k);
        for (let j = 0; j < rows; j++) {
          ids.set(lists.ids.subarray(level * k, level * k + k), j * k);
          logProbs.set(lists.logProbs.subarray(level * k, level * k + k), j * k);
        }
        level++;
        return { ids, logProbs };
      },
      dispose: () => {},
    };
  }

  /** Logits of heads 0..count-1 from h_t [1, dim]. Returns [count, scoredVocab] (over draft ids with a draft vocabulary), owned by the caller. */
  logits(hT: Tensor, count: number): Tensor {
    const { logits, stride } = this.allLogits(hT, count);
    if (stride === 1 && logits.shape[0] === count) return logits;
    try {
      return gatherRows(logits, Int32Array.from({ length: count }, (_, i) => i * stride)); // [count, vocab]
    } finally {
      logits.dispose();
    }
  }

  /**
   * Logits with head i's at row i·stride, i < count: [rows, vocab], owned by the caller. With
   * stacked weights every head runs in the same dispatches: the first block reads h_t for all
   * heads at once; later blocks and separate lm_heads apply every head's weights to every head's
   * row (k× the multiply-adds, which for heads this small cost less than k dispatches) and keep
   * the diagonal.
   */
  private allLogits(hT: Tensor, count: number): { logits: Tensor; stride: number } {
    const s = this.stack();
    if (!s) return { logits: this.perHeadLogits(hT, count), stride: 1 };
    const { dim, numHeads: k, layers, sharedOutput } = this.config;
    const owned: Tensor[] = [];
    const keep = (t: Tensor): Tensor => (owned.push(t), t);
    const diagonal = Int32Array.from({ length: k }, (_, i) => i * (k + 1));
    try {
      const h = keep(hT.reshape([dim]));
      const z = keep(linear(hT, s.blocks[0].weight, s.blocks[0].bias)); // [1, k·dim]
      let y = keep(add(keep(keep(silu(z)).reshape([k, dim])), h)); // [k, dim]: SiLU(W_i h + b_i) + h per head
      for (let l = 1; l < layers; l++) {
        const zl = keep(linear(y, s.blocks[l].weight, s.blocks[l].bias)); // [k, k·dim]
        const zd = keep(gatherRows(keep(zl.reshape([k * k, dim])), diagonal)); // [k, dim]: head i's weights on head i's row
        y = keep(add(y, keep(silu(zd)))); // [k, dim]
      }
      if (sharedOutput) return { logits: linear(y, this.outputOf(0)), stride: 1 }; // [k, scoredVocab]
      const wide = keep(linear(y, s.lmHead!)); // [k, k·vocab]
      return { logits: wide.reshape([k * k, this.scoredVocab]), stride: k + 1 };
    } finally {
      for (const t of owned) t.dispose();
    }
  }

  /** One head after another (heads too big to stack). Returns [count, vocab]. */
  private perHeadLogits(hT: Tensor, count: number): Tensor {
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
        const out = linear(y, this.outputOf(0)); // [count, scoredVocab]
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

  /** The stacked weights (made on first use, re-made each time once parameters() was handed out), or null past the size limit. */
  private stack(): Stacked | null {
    const { dim, numHeads: k, layers, sharedOutput } = this.config;
    const bytes = 4 * k * ((dim + 1) * dim * layers + (sharedOutput ? 0 : this.scoredVocab * dim));
    if (bytes > STACK_LIMIT_BYTES) return null;
    if (this.stacked && !this.exposed) return this.stacked;
    this.dropStacked();
    const heads = Array.from({ length: k }, (_, i) => i);
    const blocks = Array.from({ length: layers }, (_, l) => ({
      weight: concat(heads.map((i) => this.param(`heads.${i}.blocks.${l}.weight`)), 0), // [k·dim, dim]
      bias: concat(heads.map((i) => this.param(`heads.${i}.blocks.${l}.bias`)), 0), // [k·dim]
    }));
    const lmHead = sharedOutput ? null : concat(heads.map((i) => this.param(`heads.${i}.lm_head.weight`)), 0); // [k·vocab, dim]
    this.stacked = { blocks, lmHead };
    return this.stacked;
  }

  private dropStacked(): void {
    if (!this.stacked) return;
    for (const b of this.stacked.blocks) {
      b.weight.dispose();
      b.bias.dispose();
    }
    this.stacked.lmHead?.dispose();
    this.stacked = null;
  }
}
