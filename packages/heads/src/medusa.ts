// Medusa-1 heads: k independent heads on h_t. Head i guesses the token i+1 places after the root
// without seeing the tokens in between, so one pass gives every depth's top-k list. The forward
// is blocks.ts's medusaHead (the equation training runs too); where the heads fit it, the whole
// forward and its top-k run as one mlpTopK dispatch instead (every head on its own row), and
// `recordTopK` is the one place that chooses.
import { concat, linear, mlpTopK, scope, topk, logSoftmax, TOPK_MAX_K, type Tensor, type TopK } from '@hydra-ts/tensor';
import type { CandidateTree, LevelCandidates } from '@hydra-ts/tree';
import { gpuHeadOps, medusaHead } from './blocks';
import { cpuTopK, gatherProposal, readLogProbTopK, TopKHeads, logProbTopK, type DeviceProposeRequest, type LevelDrafting, type LevelDraftRequest, type Proposal, type ProposeRequest } from './draft-head';
import { HeadStateError } from './errors';

/** The widest rank list any depth of the tree asks for. */
function maxRank(tree: CandidateTree): number {
  let k = 0;
  for (let d = 1; d <= tree.depth; d++) k = Math.max(k, tree.maxRankAtDepth(d));
  return k;
}

export class MedusaHeads extends TopKHeads {
  readonly sequential = false;
  /** Every head's lm_head rows stacked [k·vocab, dim], for the fused kernel (null until used or when the output is shared). */
  private fusedOutputs: Tensor | null = null;

  constructor(...args: ConstructorParameters<typeof TopKHeads>) {
    super(...args);
    // now, so that propose allocates nothing that outlives it
    if (this.fusedShape(this.config.dim)) {
      this.fusedStack();
      this.fusedOutput();
    }
  }

  override dispose(): void {
    this.fusedOutputs?.dispose();
    this.fusedOutputs = null;
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
    const recorded = this.recordTopK(hT, D, k, false);
    let top: Int32Array; // head i's list at i·k
    if (recorded) {
      recorded.values.dispose();
      top = (await recorded.indices.read()) as Int32Array;
      recorded.indices.dispose();
    } else {
      const logits = this.logits(hT, D); // past the GPU top-k's k: ranked on the CPU
      try {
        top = this.toBaseHost(await cpuTopK(logits, k));
      } finally {
        logits.dispose();
      }
    }
    // node (depth d, rank r) = r-th best of head d-1
    for (let n = 1; n < tree.size; n++) {
      const node = tree.nodes[n];
      tokens[n] = top[(node.depth - 1) * k + node.rank];
    }
    return { tokens, draftProbs: null };
  }

  /** propose() without the read-back: the tokens in verify-row order on the GPU (null past the GPU top-k's k). */
  proposeOnDevice(req: DeviceProposeRequest): Tensor | null {
    const hT = this.checkRequest(req);
    const { tree } = req;
    const D = tree.depth;
    if (D === 0) return this.device.tensor(Int32Array.of(req.root), [1], 'i32');
    const k = maxRank(tree);
    const recorded = this.recordTopK(hT, D, k, false);
    if (!recorded) return null;
    return scope((track) => {
      track(recorded.values);
      const ids = track(recorded.indices);
      return gatherProposal(this.uploads, req.root, [ids], req.order, (n) => (tree.nodes[n].depth - 1) * k + tree.ranks[n]);
    });
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
        lists ??= await this.logProbLists(hT, req.depth, k);
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

  /**
   * The forward: logits of heads 0..count-1 on h_t [1, dim], head i's on row i. Returns
   * [count, scoredVocab] (over draft ids with a draft vocabulary), owned by the caller.
   */
  logits(hT: Tensor, count: number): Tensor {
    return scope((track) => {
      const ops = gpuHeadOps(track, (name) => this.param(name));
      const ys = Array.from({ length: count }, (_, i) => medusaHead(ops, i, this.config.layers, hT)); // [1, dim] each
      if (this.config.sharedOutput) return linear(track(concat(ys, 0)), this.outputOf(0)); // every head's row in one product
      return concat(ys.map((y, i) => track(linear(y, this.outputOf(i)))), 0);
    });
  }

  /**
   * Every head's k best ids on h_t (base ids) with their logits, or log-probabilities with
   * logProbs, recorded on the GPU: [rows, k] each, head i's at row i, owned by the caller. The
   * fused kernel where the heads fit it (rows = every head), else the forward and the GPU top-k
   * (rows = count). Null past the GPU top-k's k.
   */
  private recordTopK(hT: Tensor, count: number, k: number, logProbs: boolean): TopK | null {
    this.checkRanks(k);
    const top = this.fusedFits(this.config.dim, k)
      ? mlpTopK(hT, this.fusedStack(), this.fusedOutput(), k, { perMemberOutput: !this.config.sharedOutput, logProbs })
      : k <= TOPK_MAX_K
        ? scope((track) => {
            const logits = track(this.logits(hT, count));
            return topk(logProbs ? track(logSoftmax(logits)) : logits, k);
          })
        : null;
    if (!top) return null;
    return { values: top.values, indices: scope((track) => this.toBase(track(top.indices))) as TopK['indices'] };
  }

  /** Heads 0..count-1's k best base ids and log-probabilities on h_t, read back: head i's list at row i. */
  private async logProbLists(hT: Tensor, count: number, k: number): Promise<LevelCandidates> {
    const top = this.recordTopK(hT, count, k, true);
    if (top) {
      try {
        return await readLogProbTopK(top);
      } finally {
        top.values.dispose();
        top.indices.dispose();
      }
    }
    const logits = this.logits(hT, count); // past the GPU top-k's k
    try {
      const drafted = await logProbTopK(logits, k);
      drafted.ids.dispose();
      return { ids: this.toBaseHost(drafted.host.ids), logProbs: drafted.host.logProbs };
    } finally {
      logits.dispose();
    }
  }

  private fusedStack() {
    return this.packedStack(
      'all heads',
      Array.from({ length: this.config.numHeads }, (_, i) => `heads.${i}`),
      false,
    );
  }

  /** The fused kernel's output projection: the shared one, or every head's stacked (re-made once parameters() was handed out). */
  private fusedOutput(): Tensor {
    if (this.config.sharedOutput) return this.outputOf(0);
    if (this.fusedOutputs && !this.exposed) return this.fusedOutputs;
    this.fusedOutputs?.dispose();
    this.fusedOutputs = concat(Array.from({ length: this.config.numHeads }, (_, i) => this.outputOf(i)), 0); // [k·vocab, dim]
    return this.fusedOutputs;
  }
}
