// EAGLE (Li et al. 2024, "EAGLE: Speculative Sampling Requires Rethinking Feature Uncertainty";
// the tree drafting of EAGLE-2): one decoder layer that drafts autoregressively at the feature
// level, on the base model's features and its token embeddings.
//
//   g_i          = W_fc [e(x_{i+1}); f_i] + b_fc    f_i: the base model's feature at position i,
//                                                   e: the base model's token embedding (frozen)
//   f'_{i+1}     = Layer(g_0 .. g_i)_i              one Llama block (RMSNorm, RoPE attention over
//                                                   the head's own KV cache, SwiGLU), position i
//   logits_{i+1} = W_out f'_{i+1}                   the base model's output layer (frozen)
//
// f is the final-normed hidden state every head receives (observe). That is also the feature
// EAGLE's reference trains on (a Hugging Face LlamaModel's last_hidden_state comes after the final
// norm), so W_out alone scores f': the base model's final norm is already inside the feature, and
// applying it again would norm twice.
//
// Committed rows: row i pairs f_i with the token after it, so the layer's cache can hold a row
// for every committed position once that token is known: through the root's row L-1 when
// propose() is given the root (the base model's next token). Its output f'_L ranks depth 1.
// A tree node n at depth d >= 1 with children then gets the row g_n = W_fc [e(x_n); f'(parent)]
// + b_fc at position L-1+d, attending to the committed rows and to its ancestors' rows; its output
// f'(n) ranks its children. After verification observe() brings the base model's real features
// of the accepted tokens, whose rows replace the drafted ones at the next propose().
//
// A depth's tree rows stay in the layer's cache as pending rows while the depths below are
// drafted: a depth runs only its own new rows, under a mask over every tree row so far (each sees
// its ancestors and itself), and the drafting drops them all when it ends. With the frontier
// picked on the GPU (dynamic trees), each depth's mask rows are built there from the last's
// (levelMask), so the whole draft needs no read-back.
import { KVCache, type DecoderLayer, type LayerConfig } from '@hydra-ts/model';
import { concat, embedding, gatherRows, levelMask, linear, seededRandom, slice, softmax, writeRows, type Tensor } from '@hydra-ts/tensor';
import { chain, rootOnly, type CandidateTree } from '@hydra-ts/tree';
import { draftVocabularyOf, type HeadConfig } from './config';
import type { DeviceProposeRequest, HeadBase, LevelDraftRequest, Proposal, ProposeRequest } from './draft-head';
import { draftLayerFromValues, draftLayerTensors, readDraftLayer } from './draft-layer';
import { HeadMismatchError, HeadOptionError, HeadStateError } from './errors';
import { SequentialTopKHeads, type DraftNodes, type Keep, type NextRows } from './sequential-heads';

/** drawCandidates' settings. */
interface Draw {
  temperature: number;
  random: () => number;
}

/** The token at which q's cumulative sum passes u in [0, 1) (the last token with q > 0 when rounding leaves u past the sum). */
function sampleFrom(q: Float32Array, u: number): number {
  let sum = 0;
  let last = -1;
  for (let v = 0; v < q.length; v++) {
    if (!(q[v] > 0)) continue;
    sum += q[v];
    last = v;
    if (u < sum) return v;
  }
  return last;
}

/** The tree being drafted: what nextRows needs beyond the rows it is handed. */
interface Walk {
  /** Tokens before the root. */
  L: number;
  /** Picks on the host: the tree node of each row. */
  nodes: number[];
  /** Picks on the GPU: the last depth's mask rows [rows_d, rows] (owned by the drafting). */
  mask: Tensor | null;
}

/** Where a depth's new rows sit in the tree: their nodes (picked on the host), or only their depth (picked on the GPU). */
type NewRows = { nodes: readonly number[]; drafted: DraftNodes } | { depth: number };

/** The ancestor-or-self relation of the last `fresh` of `nodes` over all of them: [fresh, rows], a row sees its ancestors and itself. */
function ancestryMask(nodes: readonly number[], fresh: number, drafted: DraftNodes): Uint8Array {
  const rows = nodes.length;
  const rowOf = new Map(nodes.map((v, r) => [v, r]));
  const mask = new Uint8Array(fresh * rows);
  for (let a = 0; a < fresh; a++) {
    for (let u = nodes[rows - fresh + a]; u >= 0; u = drafted.parents[u]) {
      const b = rowOf.get(u);
      if (b !== undefined) mask[a * rows + b] = 1;
    }
  }
  return mask;
}

export class EagleHead extends SequentialTopKHeads {
  readonly layerConfig!: LayerConfig;
  /** The draft decoder layer (f32), owned by the head (an eagle3 head runs its own layer instead). */
  readonly layer!: DecoderLayer;
  /** The layer's keys and values: committed rows 0..cache.length-1, then a depth's tree rows while drafting. */
  protected readonly cache: KVCache;
  /** [capacity, width] f_i of every observed position (width dim; for eagle3 the 3·dim features). */
  private readonly features: Tensor;
  private featureLength = 0;
  /** [capacity] the token x_{i+1} each committed cache row i was built with. */
  private readonly rowTokens: Int32Array;
  private walk: Walk | null = null;
  private draw: Draw | null = null;
  private released = false;

  /** `params`: eagle.fc.weight and eagle.fc.bias (none with fcBias false); `values`: the eagle.* layer weights as CPU arrays. */
  constructor(base: HeadBase, config: HeadConfig, params: Map<string, Tensor>, values: Map<string, Float32Array>) {
    const shape = config.eagle ?? config.eagle3;
    if (!shape) throw new HeadStateError(`${config.kind} heads need config.${config.kind} (the draft layer's shape)`);
    super(base, config, params, null, draftVocabularyOf(config, values)); // an eagle3 head's d2t
    const capacity = base.config.maxSeqLen;
    if (config.eagle) {
      this.layerConfig = { dim: config.dim, ...config.eagle, qkvBias: false };
      this.layer = draftLayerFromValues(base.device, this.layerConfig, values, 'eagle', 'eagle');
    }
    this.cache = new KVCache(base.device, { nLayers: 1, kvDim: shape.nKvHeads * shape.headDim, capacity });
    this.features = base.device.zeros([capacity, config.eagle3 ? 3 * config.dim : config.dim]);
    this.features.label = 'eagle features';
    this.rowTokens = new Int32Array(capacity);
  }

  /** b_fc, or undefined for an fc without bias (fcBias false). */
  private fcBias(): Tensor | undefined {
    return this.config.eagle!.fcBias === false ? undefined : this.param('eagle.fc.bias');
  }

  /** Committed rows in the draft layer's cache. */
  get cachedRows(): number {
    return this.cache.length;
  }

  override parameters(): Map<string, Tensor> {
    const all = super.parameters();
    for (const [k, v] of draftLayerTensors(this.layer, 'eagle', 'eagle')) all.set(k, v);
    return all;
  }

  override async readParameters(): Promise<Map<string, Float32Array>> {
    const out = await super.readParameters();
    for (const [k, v] of await readDraftLayer(this.layer, 'eagle')) out.set(k, v);
    return out;
  }

  /** Keeps the features f_start.. of the newly committed positions; their layer rows are built at the next propose (which knows the tokens after them). */
  override observe(hidden: Tensor, start: number, features?: Tensor): void {
    this.checkLive('observe');
    const dim = this.config.dim;
    if (hidden.rank !== 2 || hidden.shape[1] !== dim || hidden.shape[0] < 1 || hidden.dtype !== 'f32') {
      throw new HeadMismatchError(`${this.name}.observe: hidden ${hidden.describe()}, expected f32 [n >= 1, ${dim}]`);
    }
    const width = this.features.shape[1];
    if (this.config.eagle3) {
      if (!features) throw new HeadStateError(`${this.name}.observe: no features; an eagle3 head drafts from the base model's layers ${this.config.eagle3.featureLayers.join(', ')} (featureLayers), which the decoder captures and passes`);
      if (features.rank !== 2 || features.shape[0] !== hidden.shape[0] || features.shape[1] !== width || features.dtype !== 'f32') {
        throw new HeadMismatchError(`${this.name}.observe: features ${features.describe()}, expected f32 [${hidden.shape[0]}, ${width}]`);
      }
    }
    const rows = this.config.eagle3 ? features! : hidden;
    if (!Number.isInteger(start) || start < 0 || start > this.featureLength) {
      throw new HeadStateError(`eagle.observe: rows start at position ${start}, the head holds features of ${this.featureLength} positions; observe must continue them (or replace some: start <= ${this.featureLength})`);
    }
    const n = hidden.shape[0];
    if (start + n > this.features.shape[0]) {
      throw new HeadStateError(`eagle.observe: positions ${start}..${start + n - 1} exceed the context of ${this.features.shape[0]} (the base model's maxSeqLen)`);
    }
    writeRows(this.features, rows, start);
    this.featureLength = start + n;
    this.length = start + n;
    // rows built on replaced features go; the tokens of the rows before are checked at propose
    if (this.cache.length > start) this.cache.rollback(start);
    this.hT?.dispose();
    this.hT = null;
  }

  override rollback(length: number): void {
    this.checkLive('rollback');
    if (!Number.isInteger(length) || length < 0) throw new HeadStateError(`eagle.rollback: length = ${length}, expected a non-negative integer`);
    if (length < this.featureLength) this.featureLength = length;
    if (length < this.cache.length) this.cache.rollback(length);
    if (length < this.length) this.length = length;
    this.hT?.dispose();
    this.hT = null;
  }

  override reset(): void {
    this.checkLive('reset');
    this.featureLength = 0;
    this.cache.reset();
    super.reset();
  }

  override dispose(): void {
    if (this.released) return;
    this.released = true;
    this.walk = null;
    this.layer?.dispose();
    this.cache.dispose();
    this.features.dispose();
    super.dispose();
  }

  /**
   * Draw each parent's children instead of taking its top-k: independently from q = softmax(draft
   * logits / temperature), with a seeded generator, and hand q to the verifier (draftProbs), whose
   * min(1, p/q) acceptance with the residual max(0, p − q) keeps sampled decoding distributed as
   * the base model's. null (the default): the top-k, deterministic (draftProbs null), which greedy
   * and sampling verifiers both verify exactly. Sampled proposals need the host (no proposeOnDevice).
   */
  drawCandidates(opts: { temperature?: number; seed?: number } | null): void {
    if (opts === null) {
      this.draw = null;
      return;
    }
    const temperature = opts.temperature ?? 1;
    if (typeof temperature !== 'number' || !Number.isFinite(temperature) || !(temperature > 0)) {
      throw new HeadOptionError(`eagle.drawCandidates: temperature = ${String(opts.temperature)}, expected a finite number > 0`);
    }
    const seed = opts.seed ?? 0;
    if (!Number.isInteger(seed)) throw new HeadOptionError(`eagle.drawCandidates: seed = ${String(opts.seed)}, expected an integer`);
    this.draw = { temperature, random: seededRandom(seed) };
  }

  override async propose(req: ProposeRequest): Promise<Proposal> {
    this.begin(req, req.tree.depth, `tree '${req.tree.name}'`);
    try {
      if (!this.draw || req.tree.depth === 0) return await super.propose(req);
      return await this.sampledProposal(req, this.draw);
    } finally {
      this.endWalk();
    }
  }

  override proposeOnDevice(req: DeviceProposeRequest): Tensor | null {
    if (this.draw) return null; // the draft distributions go to the host verifier
    this.begin(req, req.tree.depth, `tree '${req.tree.name}'`);
    try {
      return super.proposeOnDevice(req);
    } finally {
      this.endWalk();
    }
  }

  /** The tree walk with each depth's children drawn from q (read back per depth), and q of every node. */
  private async sampledProposal(req: ProposeRequest, draw: Draw): Promise<Proposal> {
    const { tree } = req;
    const V = this.config.vocabSize;
    const tokens = new Int32Array(tree.size);
    tokens[0] = req.root;
    const draftProbs = new Float32Array(tree.size * V); // [tree.size, vocab]; row 0 unused
    const drawn: number[] = []; // every depth's ids, flattened depth after depth (the Draft's entry order)
    let depth = 0;
    const draft = await this.run(this.drafting(this.hT!, req), async (i, f, k) => {
      depth++;
      const parents = depth === 1 ? [0] : tree.nodesAtDepth(depth - 1).filter((p) => tree.nodes[p].children.length > 0);
      const logits = this.headLogits(i, f); // [parents, vocab]
      const q = softmax(logits, { temperature: draw.temperature }); // [parents, vocab]
      logits.dispose();
      const probs = (await q.read()) as Float32Array;
      q.dispose();
      const ids = new Int32Array(parents.length * k); // [parents, k]
      parents.forEach((p, j) => {
        const row = probs.subarray(j * V, (j + 1) * V);
        for (let r = 0; r < k; r++) ids[j * k + r] = sampleFrom(row, draw.random());
        for (const c of tree.nodes[p].children) draftProbs.set(row, c * V);
      });
      drawn.push(...ids);
      return this.device.tensor(ids, [parents.length, k], 'i32');
    });
    try {
      for (let n = 1; n < tree.size; n++) tokens[n] = drawn[draft.entryOf(n)];
      return { tokens, draftProbs };
    } finally {
      draft.dispose();
    }
  }

  /**
   * The draft logits along one path: row 0 ranks the root's children (W_out f'_L), row j the
   * children of path[j-1] drafted after root, path[0], ..., path[j-1]. Returns [path.length + 1,
   * vocab], owned by the caller. For tests and training parity.
   */
  chainLogits(req: Omit<ProposeRequest, 'tree'>, path: readonly number[]): Tensor {
    const tree = path.length > 0 ? chain(path.length) : rootOnly(); // node j at depth j
    this.begin(req, tree.depth);
    const owned: Tensor[] = [];
    const keep: Keep = (t) => (owned.push(t), t);
    const drafted = { parents: tree.parents, depths: tree.positionOffsets };
    try {
      const walk = this.walk!;
      let f = this.hT!; // [1, dim] f'_L
      const rows = [keep(this.rowLogits(f))]; // [1, vocab]
      for (let j = 1; j <= path.length; j++) {
        f = this.treeStep(walk, f, Int32Array.of(path[j - 1]), Int32Array.of(0), { nodes: [j], drafted }, keep);
        rows.push(keep(this.rowLogits(f))); // [1, vocab]
      }
      return concat(rows, 0); // [m + 1, vocab]
    } finally {
      for (const t of owned) t.dispose();
      this.endWalk();
    }
  }

  /** The layer's input rows of committed positions: g = W_fc [e(x_{i+1}); f_i] + b. e [m, dim], f [m, width]. */
  protected committedInput(e: Tensor, f: Tensor, keep: Keep): Tensor {
    return linear(keep(concat([e, f], 1)), this.param('eagle.fc.weight'), this.fcBias());
  }

  /** The layer's input rows of tree nodes: g_n = W_fc [e(x_n); f'(parent)] + b. */
  protected treeInput(e: Tensor, prev: Tensor, keep: Keep): Tensor {
    return linear(keep(concat([e, prev], 1)), this.param('eagle.fc.weight'), this.fcBias());
  }

  /** The draft layer over input rows x, keys and values into the head's cache after its rows. */
  protected runLayer(x: Tensor, positions: Int32Array, mask?: Uint8Array | Tensor): Tensor {
    return this.layer.forward(x, this.cache.layers[0], positions, mask);
  }

  /** The logits chainLogits reports for rows f' [rows, dim]: W_out f' ([rows, vocab]). */
  protected rowLogits(f: Tensor): Tensor {
    return linear(f, this.base.outputWeight);
  }

  /** f'_L [1, dim], the root row's output (set by begin as h_t). */
  protected firstRows(hT: Tensor): Tensor {
    return hT;
  }

  /**
   * The next depth's f': each parent's row g_n = W_fc [e(x_n); f'(its parent)] + b, run with every
   * tree row so far. The picks come on the host (a fixed tree, or a dynamic tree's frontier read
   * back) or on the GPU (the frontier op's rows and entries), whose tree mask then grows there too.
   */
  protected nextRows(x: Tensor, n: NextRows, keep: Keep): Tensor {
    const column = keep(n.ids.reshape([n.ids.size, 1]));
    const fresh = n.at instanceof Int32Array ? n.at.length : n.at.size;
    const tokens = keep(keep(gatherRows(column, n.at)).reshape([fresh])); // [next] i32, on the GPU
    const rows: NewRows = n.nodes && n.drafted ? { nodes: n.nodes, drafted: n.drafted } : { depth: n.depth };
    return this.treeStep(this.walk!, x, tokens, n.from, rows, keep);
  }

  /**
   * Runs the rows g_n = W_fc [e(tokens); f[from]] + b_fc of a depth's new tree rows, a row at depth
   * d at position L-1+d, seeing the committed rows, itself and its ancestors among the tree rows
   * pending in the cache; its keys and values stay pending there for the depths below. Returns the
   * new rows' outputs f'(n) [new, dim], made with `keep`.
   */
  private treeStep(walk: Walk, f: Tensor, tokens: Tensor | Int32Array, from: Int32Array | Tensor, fresh: NewRows, keep: Keep): Tensor {
    const e = keep(embedding(this.base.tokenEmbedding, tokens)); // [new, dim]
    const prev = keep(gatherRows(f, from)); // [new, dim]: f' of each row's parent
    const g = keep(this.treeInput(e, prev, keep)); // [new, width of the layer's input]
    const added = g.shape[0];
    let mask: Uint8Array | Tensor; // [new, rows so far + new]
    let depths: ArrayLike<number>;
    if ('nodes' in fresh) {
      if (walk.mask) throw new HeadStateError('eagle.nextRows: host picks after GPU picks in one drafting');
      walk.nodes.push(...fresh.nodes);
      depths = fresh.nodes.map((v) => fresh.drafted.depths[v]);
      mask = ancestryMask(walk.nodes, added, fresh.drafted);
    } else {
      if (walk.nodes.length > 0) throw new HeadStateError('eagle.nextRows: GPU picks after host picks in one drafting');
      // `from` indexes the last depth's rows, whose mask rows the new ones extend
      const parents = from instanceof Int32Array ? keep(this.device.tensor(from, [added], 'i32')) : from;
      mask = walk.mask = keep(levelMask(walk.mask, parents));
      depths = new Array<number>(added).fill(fresh.depth);
    }
    const positions = Int32Array.from(depths, (d) => walk.L - 1 + d);
    this.cache.checkRoom(added, 'eagle.propose');
    const out = this.runLayer(g, positions, mask); // [new, dim]
    this.cache.append(added); // pending until the drafting ends (endWalk)
    return keep(out);
  }

  /** Ends a tree walk: its rows leave the layer's cache. */
  private endWalk(): void {
    if (this.cache.pending > 0) this.cache.commit([]);
    this.walk = null;
  }

  /**
   * Checks the request, then brings the layer's cache up to the root: rows for every position
   * not yet cached (and for cached ones whose next token differs from the context's), the last
   * pairing f_{L-1} with the root. Its output f'_L becomes h_t.
   */
  private begin(req: Omit<ProposeRequest, 'tree'>, depth: number, what = 'the tree'): void {
    this.checkLive('propose');
    const { root, context } = req;
    const L = context.length;
    if (depth > this.depth) {
      throw new HeadStateError(`eagle.propose: ${what} has depth ${depth}, this head drafts at most depth ${this.depth} (numHeads)`);
    }
    if (!Number.isInteger(root) || root < 0 || root >= this.config.vocabSize) {
      throw new HeadStateError(`eagle.propose: root token ${root}, expected an id in [0, ${this.config.vocabSize})`);
    }
    if (L < 1 || this.featureLength !== L) {
      throw new HeadStateError(`eagle.propose: the context holds ${L} tokens, the head observed features of ${this.featureLength} positions; observe() every committed token's hidden state first`);
    }
    const next = (i: number) => (i + 1 < L ? context[i + 1] : root); // x_{i+1}
    this.endWalk(); // an earlier walk's tree rows never join the committed rows
    // the root's row is always built again: its output is what the tree is drafted from
    let kept = Math.min(this.cache.length, L - 1);
    for (let i = 0; i < kept; i++) {
      if (this.rowTokens[i] !== next(i)) {
        kept = i;
        break;
      }
    }
    if (kept < this.cache.length) this.cache.rollback(kept);
    const m = L - kept;
    const tokens = Int32Array.from({ length: m }, (_, j) => next(kept + j));
    const positions = Int32Array.from({ length: m }, (_, j) => kept + j);
    this.cache.checkRoom(m, 'eagle.propose');
    const owned: Tensor[] = [];
    const keep = <T extends Tensor>(t: T): T => (owned.push(t), t);
    try {
      const e = keep(embedding(this.base.tokenEmbedding, tokens)); // [m, dim] e(x_{i+1})
      const f = keep(slice(this.features, 0, kept, L)); // [m, dim] f_i
      const g = keep(this.committedInput(e, f, keep)); // [m, width of the layer's input]
      const out = keep(this.runLayer(g, positions)); // [m, dim], causal
      this.cache.append(m);
      this.cache.commit();
      this.rowTokens.set(tokens, kept);
      this.hT?.dispose();
      this.hT = slice(out, 0, m - 1, m); // [1, dim] f'_L
    } finally {
      for (const t of owned) t.dispose();
    }
    this.walk = { L, nodes: [], mask: null };
  }

  /** Dynamic trees rank the top-k by log-probability (drawn candidates are for fixed trees). */
  protected override startLevels(req: LevelDraftRequest): Tensor {
    if (this.draw) throw new HeadOptionError(`eagle.draftLevels: a dynamic tree ranks the head's top-k; drawn candidates (drawCandidates) work with fixed trees only — call drawCandidates(null) or pick a fixed tree`);
    if (!Number.isInteger(req.depth) || req.depth < 1) throw new HeadStateError(`eagle.draftLevels: depth = ${req.depth}, expected an integer >= 1`);
    this.begin(req, req.depth, 'the dynamic tree');
    return this.hT!;
  }

  protected override endLevels(): void {
    this.endWalk();
  }

  /** W_out f' for rows of f' [rows, dim]: [rows, vocab], owned by the caller. */
  protected headLogits(_i: number, f: Tensor): Tensor {
    return linear(f, this.base.outputWeight);
  }
}
