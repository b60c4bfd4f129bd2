// Draft heads for tests and examples that need no trained weights: an oracle that knows the
// continuation, and a proposer of random tokens. Both implement the public DraftHead contract.
import { OptionError, type Tensor } from '@hydra-ts/tensor';
import type { DraftHead, Proposal, ProposeRequest } from '@hydra-ts/heads';
import { createRng, type Rng } from '@hydra-ts/verify';

/**
 * Proposes, at rank 0, the tokens of a known sequence; other ranks get different tokens. With
 * `hitRate` below 1 a rank-0 node is right only that often (drawn from `seed`), and otherwise
 * proposes a uniformly random token: a head that is partly right.
 */
export class OracleHead implements DraftHead {
  readonly name = 'oracle';
  readonly sequential = false;
  private readonly hitRate: number;
  private readonly rng: Rng;
  constructor(
    /** The full expected sequence: prompt followed by the continuation. */
    private readonly sequence: readonly number[],
    readonly depth: number,
    private readonly vocabSize: number,
    opts: { hitRate?: number; seed?: number } = {},
  ) {
    this.hitRate = opts.hitRate ?? 1;
    if (!(this.hitRate >= 0 && this.hitRate <= 1)) throw new OptionError(`OracleHead: hitRate must be in [0, 1], got ${opts.hitRate}`);
    this.rng = createRng(opts.seed ?? 1);
  }
  observe(_hidden: Tensor, _start: number): void {}
  async propose(req: ProposeRequest): Promise<Proposal> {
    const { tree, root, context } = req;
    const tokens = new Int32Array(tree.size);
    tokens[0] = root;
    const base = context.length; // index of the root in the sequence
    for (let i = 1; i < tree.size; i++) {
      const d = tree.positionOffsets[i];
      const truth = this.sequence[base + d] ?? 0;
      const rank = tree.ranks[i];
      if (rank !== 0) tokens[i] = (truth + rank) % this.vocabSize;
      else tokens[i] = this.hitRate >= 1 || this.rng.next() < this.hitRate ? truth : Math.floor(this.rng.next() * this.vocabSize);
    }
    return { tokens, draftProbs: null };
  }
  rollback(): void {}
  reset(): void {}
  dispose(): void {}
}

/** Proposes uniformly random tokens: verification must reject them without changing the output. */
export class RandomHead implements DraftHead {
  readonly name = 'random';
  readonly sequential = false;
  private rng: Rng;
  constructor(
    readonly depth: number,
    private readonly vocabSize: number,
    private readonly seed = 1,
  ) {
    this.rng = createRng(seed);
  }
  observe(): void {}
  async propose(req: ProposeRequest): Promise<Proposal> {
    const tokens = new Int32Array(req.tree.size);
    tokens[0] = req.root;
    for (let i = 1; i < tokens.length; i++) tokens[i] = Math.floor(this.rng.next() * this.vocabSize);
    return { tokens, draftProbs: null };
  }
  rollback(): void {}
  reset(): void {
    this.rng = createRng(this.seed);
  }
  dispose(): void {}
}
