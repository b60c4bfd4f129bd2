// The contract between draft heads and the decoder, and the state every head kind shares:
// h_t, the (possibly PrefixMLP-refined) hidden state of the last committed token.
import type { LlamaConfig } from '@hydra-ts/model';
import { concat, flags, gatherRows, HostUploads, logSoftmax, topk, MLP_TOPK_MAX_DIM, MLP_TOPK_MAX_IN, MLP_TOPK_MAX_K, MlpStack, slice, TOPK_MAX_K, type Device, type Tensor, type TopK } from '@hydra-ts/tensor';
import type { CandidateTree, DraftedLevels, ExpandLevel, LevelCandidates } from '@hydra-ts/tree';
import { tokenMapName, type HeadConfig } from './config';
import { DraftVocabulary } from './draft-vocabulary';
import { HeadMismatchError, HeadOptionError, HeadStateError } from './errors';
import type { PrefixMLP } from './prefix';
import { topkRows } from './select';

/** Output projections up to this many weights (vocab × dim) run inside the fused head kernel. */
export const FUSED_OUTPUT_WEIGHTS = 1 << 17;

export interface ProposeRequest {
  tree: CandidateTree;
  /** The base model's next token, already chosen; node 0 of the tree. */
  root: number;
  /** All tokens before root. */
  context: readonly number[];
}

export interface Proposal {
  /** [tree.size], tokens[0] = root. */
  tokens: Int32Array;
  /**
   * [tree.size, vocab] for a head that samples its candidates: row i is the distribution q that
   * node i's token was drawn from (row 0 unused). The sampling verifier then accepts a candidate
   * x with probability min(1, p(x)/q(x)) and, on rejection, moves on with the residual
   * normalize(max(0, p − q)), so the output stays distributed as the base model's. Omit (or
   * null) for deterministic (top-k) candidates.
   */
  draftProbs?: Float32Array | null;
}

/** A request for level-by-level drafting (dynamic trees). */
export interface LevelDraftRequest {
  /** The base model's next token, already chosen: the root of the tree to grow. */
  root: number;
  /** All tokens before root. */
  context: readonly number[];
  /** Levels that will be drafted (at most the head's depth). */
  depth: number;
}

/** One step's level-by-level drafting; dispose() when the tree is grown (or abandoned). */
export interface LevelDrafting {
  /** See ExpandLevel (@hydra-ts/tree): each asked-for node's top-k children and their log-probabilities. */
  expand: ExpandLevel;
  /**
   * Optional: every level at once with the frontiers chosen by the head (on the GPU: no read-back
   * between levels), or null where it cannot for this k (then the caller expands level by level).
   * Called instead of expand, never after it.
   */
  all?(k: number): Promise<DraftedLevels> | null;
  /**
   * Optional: every level recorded on the GPU as `all` drafts them, nothing read back, so the
   * caller can build the verified tree there too (rerankTree in @hydra-ts/tensor) and record the
   * verify pass behind it; null where it cannot for this k. Called instead of expand and all.
   */
  record?(k: number): DeviceLevels | null;
  dispose(): void;
}

/**
 * A step's drafted levels left on the GPU (LevelDrafting.record), in rerankTree's layout; the
 * tensors belong to the drafting (freed by its dispose(), which may come once the consumer is recorded).
 */
export interface DeviceLevels {
  /** [k + (depth − 1)·k²] i32: level 1's k candidates, then each later level's [k, k], rows in its frontier's order. */
  ids: Tensor;
  /** The same candidates' log-probabilities, f32. */
  logProbs: Tensor;
  /** [(depth − 1)·k] i32: each level's frontier as entries of that level ([1], unused, for one level). */
  picks: Tensor;
}

/** A proposal request for proposeOnDevice: the tree's nodes in the verify pass's row order. */
export interface DeviceProposeRequest extends ProposeRequest {
  /** [tree.size] node at each row of the verify pass; order[0] = 0 (the root). */
  order: Int32Array;
}

/**
 * What the decoder calls on a draft head. Required: name, depth, observe, propose, reset; the
 * rest are capabilities a head may add, and the decoder does without them as each one's comment
 * says.
 */
export interface DraftHead {
  /** Names the head in messages and statistics. */
  readonly name: string;
  /** Deepest tree level it can fill (number of heads); the decoder refuses deeper trees. */
  readonly depth: number;
  /**
   * Hidden states [n, dim] (borrowed, not disposed) of tokens newly committed at positions
   * start..start+n-1; with featureLayers, also their base features [n, featureLayers.length · dim]
   * (the inputs of those base layers side by side, un-normed; borrowed).
   */
  observe(hidden: Tensor, start: number, features?: Tensor): void;
  /**
   * Optional: base model layers whose inputs the head drafts from (EAGLE-3's low, mid and high
   * features). The decoder then asks the model to capture them (forward's `capture`) in the
   * prefill and verify passes and hands the accepted rows' features to observe. Absent or empty: none.
   */
  readonly featureLayers?: readonly number[];
  /** A token for every node of req.tree, tokens[0] = req.root. */
  propose(req: ProposeRequest): Promise<Proposal>;
  /** Forget every committed token (a new context starts). */
  reset(): void;
  /**
   * Optional, descriptive: Hydra-style, head d sees the embeddings of the path tokens. Read only
   * to tell heads apart (e.g. in tuned-tree cache keys); default false.
   */
  readonly sequential?: boolean;
  /**
   * Optional: forget state past `length` committed tokens (the next observe starts there). With
   * it a session keeps the KV rows of a prompt's already-held prefix (a chat's earlier turns);
   * without it the session resets the head and prefills the whole prompt again.
   */
  rollback?(length: number): void;
  /**
   * Optional: the same proposal left on the GPU, recorded but not awaited, so the verify pass can
   * be recorded behind it with no read-back in between. Returns the drafted tokens as an i32
   * tensor [tree.size] in `order` (owned by the caller), or null when this tree needs propose().
   * Deterministic heads only (no draft distributions). Without it the decoder calls propose().
   */
  proposeOnDevice?(req: DeviceProposeRequest): Tensor | null;
  /**
   * Optional: drafting for dynamic trees (growTree in @hydra-ts/tree, EAGLE-2's reranked trees):
   * the top-k children of the nodes asked for, level by level, with their log-probabilities under
   * the head. Candidates are the top-k (deterministic). Without it the head works with fixed trees only.
   */
  draftLevels?(req: LevelDraftRequest): LevelDrafting;
  /** Optional: free what the head holds (GPU buffers). The decoder never calls it; the head's owner does. */
  dispose?(): void;
}

/** What heads need of the base model; LlamaModel provides it. */
export interface HeadBase {
  readonly config: LlamaConfig;
  readonly device: Device;
  readonly tokenEmbedding: Tensor; // [vocab, dim]
  readonly outputWeight: Tensor; // [vocab, dim]
}

/**
 * Heads that fill a tree from top-k lists of their logits. Owns the parameters, h_t and the
 * optional PrefixMLP; subclasses say how logits for each depth are computed.
 */
export abstract class TopKHeads implements DraftHead {
  abstract readonly sequential: boolean;
  readonly name: string;
  readonly depth: number;
  readonly config: HeadConfig;
  readonly device: Device;
  /** The base model the heads draft for (its embeddings and output layer are read, never owned). */
  readonly base: HeadBase;
  protected readonly params: Map<string, Tensor>;
  protected readonly prefix: PrefixMLP | null;
  /**
   * The reduced draft vocabulary the heads score (heads.d2t, eagle3.d2t), or null for the whole
   * vocabulary. Top-k lists are in draft ids until mapped (toBase); every proposal is in base ids.
   */
  protected readonly vocabulary: DraftVocabulary | null;
  /** A shared output over a draft vocabulary: the base output rows of its ids [draft vocab, dim], owned by the heads. */
  private readonly sharedRows: Tensor | null;
  /** [1, dim] state of the last committed token; null until observe(). */
  protected hT: Tensor | null = null;
  /** Committed tokens seen through observe(). */
  protected length = 0;
  /**
   * Run a small head (its blocks, output projection and top-k) as one mlpTopK dispatch instead
   * of a dispatch per op, where it fits (see fusedFits): flags.fusedHeads of @hydra-ts/tensor,
   * unless set for this head (undefined follows the flag again). Proposals are the same up to f32
   * rounding; false runs the separate ops (A/B runs, debugging).
   */
  get fusedKernels(): boolean {
    return this.fusedOverride ?? flags.fusedHeads;
  }
  set fusedKernels(v: boolean | undefined) {
    if (v !== undefined && typeof v !== 'boolean') throw new HeadOptionError(`${this.name} heads: fusedKernels must be true, false or undefined, got ${String(v)}`);
    this.fusedOverride = v;
  }
  private fusedOverride: boolean | undefined = undefined;
  /** parameters() handed out the parameter tensors, which callers may write: packed copies are re-made before each use. */
  protected exposed = false;
  private packed = new Map<string, MlpStack>();
  /** Small per-step uploads (the device proposal's root and row entries), in stable buffers. */
  protected readonly uploads: HostUploads;
  private disposed = false;

  /** `draftVocabulary`: the base ids the heads score (the file's d2t), or null for the whole vocabulary. */
  constructor(base: HeadBase, config: HeadConfig, params: Map<string, Tensor>, prefix: PrefixMLP | null, draftVocabulary: Int32Array | null = null) {
    if (base.config.dim !== config.dim) throw new HeadMismatchError(`${config.kind} heads have dim ${config.dim}, the base model has dim ${base.config.dim}`);
    if (base.config.vocabSize !== config.vocabSize) {
      throw new HeadMismatchError(`${config.kind} heads have vocabSize ${config.vocabSize}, the base model has vocabSize ${base.config.vocabSize}`);
    }
    this.name = config.kind;
    this.depth = config.numHeads;
    this.config = config;
    this.base = base;
    this.device = base.device;
    this.uploads = new HostUploads(base.device);
    this.params = params;
    this.prefix = prefix;
    this.vocabulary = draftVocabulary ? new DraftVocabulary(base.device, draftVocabulary) : null;
    this.sharedRows = config.sharedOutput && this.vocabulary ? this.vocabulary.rowsOf(base.outputWeight) : null;
  }

  /** How many tokens the heads' logits score: the draft vocabulary's size, else the whole vocabulary's. */
  get scoredVocab(): number {
    return this.vocabulary?.size ?? this.config.vocabSize;
  }

  /** Top-k ids [rows, k] of the heads' logits (borrowed) as base ids, owned by the caller: through d2t, or a view of the same ids. */
  protected toBase(ids: Tensor): Tensor {
    return this.vocabulary ? this.vocabulary.toBase(ids) : ids.reshape(ids.shape);
  }

  /** Throws HeadStateError when a tree asks for more ranks than the heads score. */
  protected checkRanks(k: number): void {
    const vocab = this.scoredVocab;
    if (k > vocab) throw new HeadStateError(`propose: the tree asks for the top-${k} tokens of a ${this.vocabulary ? 'draft ' : ''}vocabulary of ${vocab}`);
  }

  /** toBase on the host, in place. */
  protected toBaseHost(ids: Int32Array): Int32Array {
    return this.vocabulary ? this.vocabulary.toBaseHost(ids) : ids;
  }

  /** Every trained tensor, by its name in the heads file (PrefixMLP's included). Owned by the head. */
  parameters(): Map<string, Tensor> {
    this.exposed = true;
    const all = new Map(this.prefix ? this.prefix.parameters() : []);
    for (const [k, v] of this.params) all.set(k, v);
    return all;
  }

  /** Current parameter values under the heads file's names (what saveHead writes). */
  async readParameters(): Promise<Map<string, Float32Array>> {
    const out = new Map(this.prefix ? await this.prefix.read() : []);
    for (const [k, v] of this.params) out.set(k, (await v.read()) as Float32Array);
    if (this.vocabulary) out.set(tokenMapName(this.config), Float32Array.from(this.vocabulary.ids));
    return out;
  }

  /** h_t [1, dim] (owned by the head), or null before observe(). For training and tests. */
  get state(): Tensor | null {
    return this.hT;
  }

  observe(hidden: Tensor, start: number): void {
    this.checkLive('observe');
    const dim = this.config.dim;
    if (hidden.rank !== 2 || hidden.shape[1] !== dim || hidden.shape[0] < 1) {
      throw new HeadMismatchError(`${this.name}.observe: hidden ${hidden.describe()}, expected [n >= 1, ${dim}]`);
    }
    if (!Number.isInteger(start) || start < 0) throw new HeadStateError(`${this.name}.observe: start = ${start}, expected a non-negative integer`);
    const n = hidden.shape[0];
    let last: Tensor; // [1, dim]
    if (this.prefix) {
      const out = this.prefix.observe(hidden, start); // [n, dim]
      last = slice(out, 0, n - 1, n);
      out.dispose();
    } else {
      last = slice(hidden, 0, n - 1, n);
    }
    this.hT?.dispose();
    this.hT = last;
    this.length = start + n;
  }

  rollback(length: number): void {
    this.checkLive('rollback');
    if (!Number.isInteger(length) || length < 0) throw new HeadStateError(`${this.name}.rollback: length = ${length}, expected a non-negative integer`);
    this.prefix?.rollback(length);
    // h_t of an earlier token is not kept: the caller observes again before the next propose.
    if (length < this.length) {
      this.hT?.dispose();
      this.hT = null;
      this.length = length;
    }
  }

  reset(): void {
    this.checkLive('reset');
    this.prefix?.reset();
    this.hT?.dispose();
    this.hT = null;
    this.length = 0;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.hT?.dispose();
    this.hT = null;
    this.dropPacked();
    this.uploads.dispose();
    this.vocabulary?.dispose();
    this.sharedRows?.dispose();
    this.prefix?.dispose();
    for (const t of this.params.values()) t.dispose();
  }

  abstract propose(req: ProposeRequest): Promise<Proposal>;

  /** Checks a request against the heads' state; returns h_t. */
  protected checkRequest(req: ProposeRequest): Tensor {
    return this.checkDraft(req.root, req.tree.depth, `tree '${req.tree.name}'`);
  }

  /** Checks a level-drafting request against the heads' state; returns h_t. */
  protected checkLevels(req: LevelDraftRequest): Tensor {
    if (!Number.isInteger(req.depth) || req.depth < 1) throw new HeadStateError(`${this.name}.draftLevels: depth = ${req.depth}, expected an integer >= 1`);
    return this.checkDraft(req.root, req.depth, 'the dynamic tree');
  }

  private checkDraft(root: number, depth: number, what: string): Tensor {
    this.checkLive('propose');
    if (!this.hT) throw new HeadStateError(`${this.name}.propose: no hidden state; call observe() with the committed tokens first`);
    if (depth > this.depth) {
      throw new HeadStateError(`${this.name}.propose: ${what} has depth ${depth}, these heads fill at most depth ${this.depth} (numHeads)`);
    }
    if (!Number.isInteger(root) || root < 0 || root >= this.config.vocabSize) {
      throw new HeadStateError(`${this.name}.propose: root token ${root}, expected an id in [0, ${this.config.vocabSize})`);
    }
    return this.hT;
  }

  /** The head's lm_head, or the base output layer when shared (its draft vocabulary's rows with one). [scoredVocab, dim] */
  protected outputOf(head: number): Tensor {
    if (!this.config.sharedOutput) return this.param(`heads.${head}.lm_head.weight`);
    return this.sharedRows ?? this.base.outputWeight;
  }

  /**
   * Whether a head with input rows `inDim` wide and top-k lists of k fits the fused kernel: blocks
   * at most 256 wide, an f32 output projection of at most FUSED_OUTPUT_WEIGHTS weights (one
   * workgroup computes a row's logits, so a large vocabulary is faster spread over a grid), and
   * k <= 16.
   */
  protected fusedFits(inDim: number, k: number): boolean {
    return this.fusedKernels && this.fusedShape(inDim) && k <= MLP_TOPK_MAX_K && k <= this.scoredVocab;
  }

  /** The shape half of fusedFits (what packing needs to know, before any k is asked for). */
  protected fusedShape(inDim: number): boolean {
    const dim = this.config.dim;
    return dim <= MLP_TOPK_MAX_DIM && inDim <= MLP_TOPK_MAX_IN && this.scoredVocab * dim <= FUSED_OUTPUT_WEIGHTS && this.outputOf(0).dtype === 'f32';
  }

  /**
   * The packed copy of a set of heads' blocks (made on first use, re-made each use once
   * parameters() was handed out), owned by the heads. `members` lists, per member, its parameter
   * name prefix (e.g. heads.2); `inputResidual`: Hydra's input projection heads.i.input.*.
   */
  protected packedStack(key: string, members: readonly string[], inputResidual: boolean): MlpStack {
    let s = this.packed.get(key);
    if (s && !this.exposed) return s;
    s?.dispose();
    s = MlpStack.pack(
      members.map((m) => ({
        residual: inputResidual ? this.param(`${m}.input.residual`) : undefined,
        blocks: Array.from({ length: this.config.layers }, (_, l) =>
          inputResidual && l === 0
            ? { weight: this.param(`${m}.input.weight`), bias: this.param(`${m}.input.bias`) }
            : { weight: this.param(`${m}.blocks.${l}.weight`), bias: this.param(`${m}.blocks.${l}.bias`) },
        ),
      })),
    );
    this.packed.set(key, s);
    return s;
  }

  private dropPacked(): void {
    for (const s of this.packed.values()) s.dispose();
    this.packed.clear();
  }

  protected param(name: string): Tensor {
    const t = this.params.get(name);
    if (!t) throw new HeadStateError(`${this.name}: parameter ${name} is missing`);
    return t;
  }

  protected checkLive(op: string): void {
    if (this.disposed) throw new HeadStateError(`${this.name}.${op}: the heads were disposed`);
  }
}

/**
 * The drafted tokens in verify-row order, on the GPU: row r gets entry `entryOf(order[r])` of the
 * flat i32 `lists` (concatenated), the root row the host token `root` (uploaded through `uploads`,
 * so the buffers stay the same from step to step). Returns [order.length] i32, owned by the
 * caller; `lists` are borrowed.
 */
export function gatherProposal(uploads: HostUploads, root: number, lists: readonly Tensor[], order: Int32Array, entryOf: (node: number) => number): Tensor {
  const owned: Tensor[] = [];
  try {
    const rootT = uploads.get('proposal root', [root], [1], 'i32'); // held by uploads: stable buffers, cached bind groups
    const flat = lists.map((t) => {
      const f = t.reshape([t.size]);
      owned.push(f);
      return f;
    });
    const all = concat([rootT, ...flat], 0); // [1 + Σ sizes]: the root, then every list
    owned.push(all);
    const column = all.reshape([all.size, 1]);
    owned.push(column);
    const entries = uploads.get('proposal entries', Int32Array.from(order, (node) => (node === 0 ? 0 : 1 + entryOf(node))), [order.length], 'i32');
    const picked = gatherRows(column, entries); // [rows, 1]
    owned.push(picked);
    return picked.reshape([order.length]);
  } finally {
    for (const t of owned) t.dispose();
  }
}

/**
 * Each row's top-k ids of `logits` [rows, vocab] (borrowed), best first, ties to the lower id,
 * ranked on the GPU: [rows, k] i32, owned by the caller. k <= TOPK_MAX_K.
 */
export function gpuTopK(logits: Tensor, k: number): Tensor {
  const { values, indices } = topk(logits, k);
  values.dispose();
  return indices;
}

/**
 * Each row's k best ids and their log-probabilities log softmax(logits), best first, ties to the
 * lower id: the ids stay on the GPU as well ([rows, k] i32, owned by the caller) for the next
 * level's rows. Ranked on the GPU up to TOPK_MAX_K, past it on the CPU. `logits` [rows, vocab] is borrowed.
 */
export async function logProbTopK(logits: Tensor, k: number): Promise<{ ids: Tensor; host: LevelCandidates }> {
  const [rows, vocab] = logits.shape;
  let lp: Tensor | null = null;
  try {
    if (k > vocab) throw new HeadStateError(`propose: the dynamic tree asks for the top-${k} tokens of a vocabulary of ${vocab}`);
    lp = logSoftmax(logits); // [rows, vocab]
    if (k > TOPK_MAX_K) {
      const all = (await lp.read()) as Float32Array;
      const ids = topkRows(all, rows, vocab, k);
      const logProbs = Float32Array.from(ids, (id, i) => all[Math.floor(i / k) * vocab + id]);
      return { ids: logits.device.tensor(ids, [rows, k], 'i32'), host: { ids, logProbs } };
    }
    const top = topk(lp, k); // [rows, k] each
    try {
      return { ids: top.indices, host: await readLogProbTopK(top) };
    } catch (e) {
      top.indices.dispose();
      throw e;
    } finally {
      top.values.dispose();
    }
  } finally {
    lp?.dispose();
  }
}

/** A recorded top-k of log-probabilities (borrowed) read back as the host lists. */
export async function readLogProbTopK(top: TopK): Promise<LevelCandidates> {
  const [logProbs, ids] = await Promise.all([top.values.read() as Promise<Float32Array>, top.indices.read() as Promise<Int32Array>]);
  return { ids, logProbs };
}

/**
 * Each row's top-k ids, best first, ties to the lower id, ranked on the CPU: [rows * k]. For
 * ranks past the GPU top-k's limit (TOPK_MAX_K): reads `logits` [rows, vocab] (borrowed) back.
 */
export async function cpuTopK(logits: Tensor, k: number): Promise<Int32Array> {
  const [rows, vocab] = logits.shape;
  if (k > vocab) throw new HeadStateError(`propose: the tree asks for the top-${k} tokens of a vocabulary of ${vocab}`);
  return topkRows((await logits.read()) as Float32Array, rows, vocab, k);
}
