// A replay head: estimates what trained heads would do on a model that has none (random weights
// of a real shape). The inner head's kernels run as usual, so every step costs what it would;
// its proposals are then replaced node by node: under a node that holds the base model's token
// (the root always does), the child of rank r gets the next token of the AR continuation with
// probability acceptProb[depth-1][r] (ranks exclusive, drawn with a seeded generator), and every
// other node a token other than the continuation's (with no continuation for the prompt, stand-ins
// that are right only by coincidence). Greedy verification stays exact, so the output still
// equals AR; only τ is borrowed, which makes the speed an estimate.
import { OptionError, type Device, type Tensor } from '@hydra-ts/tensor';
import type { DeviceProposeRequest, DraftHead, Proposal, ProposeRequest } from '@hydra-ts/heads';
import type { AcceptanceTable } from '@hydra-ts/tree';
import { createRng, type Rng } from '@hydra-ts/verify';

export interface ReplayHeadOptions {
  /** acceptProb[d][r]: chance the rank-r guess at depth d+1 is right given its parent was. */
  acceptance: AcceptanceTable;
  seed?: number;
}

export class ReplayHead implements DraftHead {
  private readonly acceptance: AcceptanceTable;
  private readonly seed: number;
  private rng: Rng;
  /** AR continuations by prompt (ids joined by ','). */
  private readonly continuations = new Map<string, readonly number[]>();
  private promptTokens = 0;

  constructor(
    readonly inner: DraftHead,
    private readonly device: Device,
    private readonly vocabSize: number,
    opts: ReplayHeadOptions,
  ) {
    const a = opts.acceptance;
    if (!Array.isArray(a) || a.length < inner.depth) {
      throw new OptionError(`ReplayHead: acceptance has ${Array.isArray(a) ? a.length : 0} depths; head '${inner.name}' fills ${inner.depth}`);
    }
    a.forEach((row, d) => {
      const sum = row.reduce((s: number, p: number) => s + p, 0);
      if (row.some((p: number) => !(p >= 0 && p <= 1)) || sum > 1 + 1e-9) throw new OptionError(`ReplayHead: acceptance[${d}] = [${row.join(', ')}]; expected probabilities summing to at most 1`);
    });
    this.acceptance = a;
    if (inner.rollback) this.rollback = (length) => inner.rollback!(length);
    this.seed = opts.seed ?? 1;
    this.rng = createRng(this.seed);
  }

  get name(): string {
    return `${this.inner.name} (replayed)`;
  }
  get depth(): number {
    return this.inner.depth;
  }
  get sequential(): boolean {
    return this.inner.sequential ?? false;
  }
  /** The inner head's rollback, where it has one. */
  readonly rollback?: (length: number) => void;

  /** The base model's greedy continuation of `promptIds` (as the decoder encodes them): what a right guess proposes. */
  setContinuation(promptIds: readonly number[], continuation: readonly number[]): void {
    this.continuations.set(promptIds.join(','), [...continuation]);
  }

  /** The inner head's feature layers. */
  get featureLayers(): readonly number[] | undefined {
    return this.inner.featureLayers;
  }
  observe(hidden: Tensor, start: number, features?: Tensor): void {
    if (start === 0) this.promptTokens = hidden.shape[0];
    this.inner.observe(hidden, start, features);
  }

  async propose(req: ProposeRequest): Promise<Proposal> {
    await this.inner.propose(req); // its work, not its tokens
    return { tokens: this.replay(req), draftProbs: null };
  }

  proposeOnDevice(req: DeviceProposeRequest): Tensor | null {
    const drafted = this.inner.proposeOnDevice?.(req) ?? null;
    if (!drafted) return null;
    drafted.dispose(); // recorded, so its kernels run; the replayed tokens go up in its place
    const byNode = this.replay(req);
    return this.device.tensor(Int32Array.from(req.order, (node) => byNode[node]), [req.tree.size], 'i32');
  }

  /** [tree.size] tokens by node: the continuation where the draw says the guess is right, wrong tokens elsewhere. */
  private replay(req: ProposeRequest): Int32Array {
    const { tree, root, context } = req;
    const sequence = this.continuations.get(context.slice(0, this.promptTokens).join(','));
    const rootIndex = context.length - this.promptTokens; // the root's index in the continuation
    const truthAt = (depth: number): number | undefined => sequence?.[rootIndex + depth];
    const tokens = new Int32Array(tree.size);
    tokens[0] = root;
    // Nodes are sorted by depth, so every parent is decided before its children.
    const right = new Uint8Array(tree.size); // node holds the continuation's token
    right[0] = sequence && sequence[rootIndex] === root ? 1 : 0;
    for (let i = 0; i < tree.size; i++) {
      const children = tree.nodes[i].children;
      if (children.length === 0) continue;
      const depth = tree.nodes[i].depth + 1;
      const truth = truthAt(depth);
      const rightRank = right[i] && truth !== undefined ? this.drawRank(depth) : -1;
      for (const c of children) {
        const rank = tree.nodes[c].rank;
        if (rank === rightRank) {
          tokens[c] = truth!;
          right[c] = 1;
        } else tokens[c] = wrongToken(truth ?? root, rank, this.vocabSize);
      }
    }
    return tokens;
  }

  /** The rank whose guess is right at `depth` (-1: none), drawn from acceptance[depth-1]. */
  private drawRank(depth: number): number {
    const row = this.acceptance[depth - 1];
    let u = this.rng.next();
    for (let r = 0; r < row.length; r++) {
      if (u < row[r]) return r;
      u -= row[r];
    }
    return -1;
  }

  reset(): void {
    this.inner.reset();
  }
  dispose(): void {
    this.inner.dispose?.();
  }
}

/** A token other than `truth`, different per rank. */
function wrongToken(truth: number, rank: number, vocab: number): number {
  return (truth + 1 + rank) % vocab === truth ? (truth + 2) % vocab : (truth + 1 + rank) % vocab;
}
