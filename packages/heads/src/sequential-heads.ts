// The drafting driver of heads that fill a tree depth by depth, each depth conditioned on the
// tokens chosen above it (Hydra, MLPSpeculator). A subclass says how one depth's input rows are
// built from the last (firstRows, nextRows) and how a head ranks them; the driver here walks the
// tree depth by depth, either reading every depth's top-k back in one read (propose) or
// leaving the proposal on the GPU in verify-row order (proposeOnDevice).
import { concat, frontier, FRONTIER_MAX_WIDTH, logSoftmax, scope, topk, TOPK_MAX_K, type Tensor, type TopK } from '@hydra-ts/tensor';
import type { DraftedLevels, LevelCandidates } from '@hydra-ts/tree';
import { cpuTopK, gatherProposal, gpuTopK, logProbTopK, readLogProbTopK, TopKHeads, type DeviceProposeRequest, type LevelDrafting, type LevelDraftRequest, type Proposal, type ProposeRequest } from './draft-head';
import { HeadStateError } from './errors';

/** Every depth's recorded top-k lists and where each node's token sits in them. */
export interface Draft {
  /** chosen[d-1] = [parents at depth d-1, k_d] i32 token ids, best first. */
  chosen: Tensor[];
  /** The index of the node's token in the lists flattened depth after depth. */
  entryOf: (node: number) => number;
  /** Hands a tensor to the draft (disposed with it). */
  keep: <T extends Tensor>(t: T) => T;
  dispose: () => void;
}

/**
 * The recorded drafting: at each depth it yields (head i, input rows x, k) and takes back that
 * head's top-k ids [rows, k] (i32, which it then owns); it returns the Draft. Thrown into, it
 * frees what it holds and rethrows.
 */
export type Drafting = Generator<[number, Tensor, number], Draft, Tensor>;

/** Hands a tensor made while drafting to the draft, which disposes it with itself. */
export type Keep = <T extends Tensor>(t: T) => T;

/** The nodes drafted so far, by id (0 = the root): a fixed tree's, or a dynamic tree's as it grows. */
export interface DraftNodes {
  /** Parent of each node, -1 for the root. */
  readonly parents: ArrayLike<number>;
  /** Depth of each node (the root 0). */
  readonly depths: ArrayLike<number>;
}

/** Where the next depth's rows come from: for each of its parents, its parent's row and its own token. */
export interface NextRows {
  /** The depth just drafted (1 = the root's children). */
  depth: number;
  /**
   * [next] the row of the parent of each next-depth parent, in the rows just ranked: on the host,
   * or an i32 tensor when a dynamic tree's frontier was picked on the GPU (heads with devicePicks).
   */
  from: Int32Array | Tensor;
  /** [next] its own token's entry in `ids` flattened ([rows, k] row-major); on the host or the GPU, as `from`. */
  at: Int32Array | Tensor;
  /** [rows, k] i32: the depth's top-k ids. */
  ids: Tensor;
  /** [next] the node of each next-depth row, ids in `drafted`; null when picked on the GPU. */
  nodes: readonly number[] | null;
  drafted: DraftNodes | null;
}

export abstract class SequentialTopKHeads extends TopKHeads {
  readonly sequential = true;
  /**
   * nextRows takes `from` and `at` as GPU tensors too, so a dynamic tree's levels are drafted
   * with each frontier picked on the GPU and one read-back for the whole draft (draftLevels' all).
   */
  protected readonly devicePicks: boolean = true;

  /** Head 0's input rows [1, width] for the root (made with `keep`, or h_t itself). */
  protected abstract firstRows(hT: Tensor, root: number, keep: Keep): Tensor;

  /** The next head's input rows [next, width'] from this depth's rows `x` (made with `keep`). */
  protected abstract nextRows(x: Tensor, next: NextRows, keep: Keep): Tensor;

  /**
   * Records the drafting of `req`'s tree from h_t (see Drafting), depth by depth: the tree's shape
   * is known here, so the rows each child needs (its parent's row, its own token among the
   * parent's top-k) are found with host-side indices and the chosen tokens stay on the GPU.
   */
  protected *drafting(hT: Tensor, req: ProposeRequest): Drafting {
    const { tree } = req;
    const owned: Tensor[] = [];
    const keep: Keep = (t) => (owned.push(t), t);
    const chosen: Tensor[] = []; // per depth d: [parents_d, k_d] i32 token ids, best first
    const entry = new Int32Array(tree.size); // per node: index into the flattened lists
    try {
      let x = this.firstRows(hT, req.root, keep);
      let parents = [0];
      let offset = 0;
      for (let d = 1; ; d++) {
        const k = tree.maxRankAtDepth(d);
        const ids = keep(yield [d - 1, x, k]); // [parents, k]
        chosen.push(ids);
        parents.forEach((p, j) => {
          for (const c of tree.nodes[p].children) entry[c] = offset + j * k + tree.ranks[c];
        });
        offset += ids.size;
        if (d === tree.depth) break;
        // The next depth's parents: each continues its parent's row with its own token.
        const next = tree.nodesAtDepth(d).filter((p) => tree.nodes[p].children.length > 0);
        const rowOf = new Map(parents.map((p, j) => [p, j]));
        const from = Int32Array.from(next, (p) => rowOf.get(tree.parents[p])!); // row of x
        const at = Int32Array.from(next, (p, j) => from[j] * k + tree.ranks[p]); // entry of ids
        x = this.nextRows(x, { depth: d, from, at, ids, nodes: next, drafted: { parents: tree.parents, depths: tree.positionOffsets } }, keep);
        parents = next;
      }
    } catch (e) {
      for (const t of owned) t.dispose();
      throw e;
    }
    return { chosen, entryOf: (n) => entry[n], keep, dispose: () => owned.forEach((t) => t.dispose()) };
  }

  /**
   * Head i's k best ids per row of x, recorded on the GPU ([rows, k] i32 base ids, owned by the
   * caller): its logits, the GPU top-k and the map to base ids. Null past the GPU top-k's k.
   * Heads with a fused kernel override it.
   */
  protected recordTopK(i: number, x: Tensor, k: number): Tensor | null {
    this.checkRanks(k);
    if (k > TOPK_MAX_K) return null;
    return scope((track) => this.toBase(track(gpuTopK(track(this.headLogits(i, x)), k)))); // logits [rows, scoredVocab]
  }

  /** Head i's logits on rows x: [rows, vocab], owned by the caller (ranked on the CPU where recordTopK cannot). */
  protected abstract headLogits(i: number, x: Tensor): Tensor;

  /** The chosen tokens stay on the GPU from depth to depth; every depth's top-k comes back in one read at the end. */
  async propose(req: ProposeRequest): Promise<Proposal> {
    const hT = this.checkRequest(req);
    const { tree } = req;
    const tokens = new Int32Array(tree.size);
    tokens[0] = req.root;
    if (tree.depth === 0) return { tokens, draftProbs: null };
    const draft = await this.run(this.drafting(hT, req), async (i, x, k) => this.recordTopK(i, x, k) ?? (await this.hostTopK(i, x, k)));
    try {
      const flat = draft.chosen.map((t) => draft.keep(t.reshape([t.size])));
      const all = flat.length === 1 ? flat[0] : draft.keep(concat(flat, 0)); // every depth's ids, depth after depth
      const ids = (await all.read()) as Int32Array;
      for (let n = 1; n < tree.size; n++) tokens[n] = ids[draft.entryOf(n)];
      return { tokens, draftProbs: null };
    } finally {
      draft.dispose();
    }
  }

  /** propose() without the read-back: the tokens in verify-row order on the GPU (null past the GPU top-k's k). */
  proposeOnDevice(req: DeviceProposeRequest): Tensor | null {
    const hT = this.checkRequest(req);
    const { tree } = req;
    if (tree.depth === 0) return this.device.tensor(Int32Array.of(req.root), [1], 'i32');
    for (let d = 1; d <= tree.depth; d++) if (tree.maxRankAtDepth(d) > TOPK_MAX_K) return null;
    const draft = this.runSync(this.drafting(hT, req), (i, x, k) => this.recordTopK(i, x, k)!); // k <= TOPK_MAX_K was checked above
    try {
      return gatherProposal(this.uploads, req.root, draft.chosen, req.order, draft.entryOf);
    } finally {
      draft.dispose();
    }
  }

  /**
   * Level-by-level drafting for dynamic trees: level 1 ranks the root's row; each later level
   * builds the rows of the picked nodes from their parents' rows (nextRows, as for a fixed tree)
   * and ranks them by log-probability. One read-back per level (the picks depend on it).
   */
  draftLevels(req: LevelDraftRequest): LevelDrafting {
    const hT = this.startLevels(req);
    const owned: Tensor[] = [];
    const keep: Keep = (t) => (owned.push(t), t);
    const parents: number[] = [-1];
    const depths: number[] = [0];
    let x: Tensor | null = null; // [rows, width] the last level's input rows
    let ids: Tensor | null = null; // [rows, k] their top-k ids
    let rowNodes = [0];
    let lastK = 0;
    let level = 0;
    let done = false;
    return {
      expand: async (picks, k) => {
        if (done) throw new HeadStateError(`${this.name}.draftLevels: the drafting was disposed`);
        if (level >= req.depth) throw new HeadStateError(`${this.name}.draftLevels: asked for level ${level + 1} of a ${req.depth}-level draft`);
        if (picks === null) {
          x = this.firstRows(hT, req.root, keep);
        } else {
          if (!x || !ids) throw new HeadStateError(`${this.name}.draftLevels: picks before the first level`);
          const from = Int32Array.from(picks, (p) => Math.floor(p / lastK)); // the parent's row
          for (const p of picks) if (!(p >= 0 && p < ids.size)) throw new HeadStateError(`${this.name}.draftLevels: pick ${p}, expected an entry of the last level's ${ids.size} candidates`);
          const nodes = Array.from(from, (row) => {
            parents.push(rowNodes[row]);
            depths.push(level);
            return parents.length - 1;
          });
          x = this.nextRows(x, { depth: level, from, at: picks, ids, nodes, drafted: { parents, depths } }, keep);
          rowNodes = nodes;
        }
        let host: LevelCandidates;
        if (k <= TOPK_MAX_K) {
          const top = this.recordLogProbTopK(level, x, k); // [rows, k] each
          keep(top.values);
          ids = keep(top.indices);
          host = await readLogProbTopK(top);
        } else {
          const logits = this.headLogits(level, x); // [rows, scoredVocab], ranked on the CPU past the GPU top-k's k
          try {
            const ranked = await logProbTopK(logits, k);
            ids = keep(scope((track) => this.toBase(track(ranked.ids))));
            host = { ids: this.toBaseHost(ranked.host.ids), logProbs: ranked.host.logProbs };
          } finally {
            logits.dispose();
          }
        }
        lastK = k;
        level++;
        return host;
      },
      all: (k) => {
        if (!this.devicePicks || k > TOPK_MAX_K || k > FRONTIER_MAX_WIDTH) return null;
        if (done || level > 0) throw new HeadStateError(`${this.name}.draftLevels: all() after the drafting started or ended`);
        level = req.depth;
        return this.readLevels(this.recordLevels(hT, req, k, keep), keep);
      },
      record: (k) => {
        if (!this.devicePicks || k > TOPK_MAX_K || k > FRONTIER_MAX_WIDTH) return null;
        if (done || level > 0) throw new HeadStateError(`${this.name}.draftLevels: record() after the drafting started or ended`);
        level = req.depth;
        const levels = this.recordLevels(hT, req, k, keep);
        const flat = (ts: Tensor[]) => (ts.length === 1 ? keep(ts[0].reshape([ts[0].size])) : keep(concat(ts.map((t) => keep(t.reshape([t.size]))), 0)));
        const picks = levels.picks.length > 0 ? flat(levels.picks) : this.uploads.get('dynamic tree: no picks', [0], [1], 'i32'); // held by uploads
        return { ids: flat(levels.ids), logProbs: flat(levels.logProbs), picks };
      },
      dispose: () => {
        if (done) return;
        done = true;
        for (const t of owned) t.dispose();
        this.endLevels();
      },
    };
  }

  /**
   * Every level recorded on the GPU: each level's rows ranked by log softmax and top-k, the next
   * frontier picked by `frontier` (the k best by path score), their rows built from it with no
   * read-back. Per level: ids and log-probabilities [rows, k], and the frontier's entries [k] (all
   * levels but the last), each made with `keep`.
   */
  private recordLevels(hT: Tensor, req: LevelDraftRequest, k: number, keep: Keep): { ids: Tensor[]; logProbs: Tensor[]; picks: Tensor[] } {
    let x = this.firstRows(hT, req.root, keep); // [1, width]
    let base = this.uploads.get('dynamic tree root score', [0], [1], 'f32'); // held by uploads
    const ids: Tensor[] = []; // per level [rows, k] i32
    const logProbs: Tensor[] = []; // per level [rows, k] f32
    const picks: Tensor[] = []; // per level but the last [k] i32 entries
    for (let level = 1; level <= req.depth; level++) {
      const top = this.recordLogProbTopK(level - 1, x, k);
      ids.push(keep(top.indices));
      logProbs.push(keep(top.values));
      if (level === req.depth) break;
      const next = frontier(top.values, base, k); // the k best candidates of this level
      keep(next.rows);
      picks.push(keep(next.entries));
      x = this.nextRows(x, { depth: level, from: next.rows, at: next.entries, ids: top.indices, nodes: null, drafted: null }, keep);
      base = keep(next.scores);
    }
    return { ids, logProbs, picks };
  }

  /** The recorded levels read back in one i32 and one f32 read. */
  private async readLevels(rec: { ids: Tensor[]; logProbs: Tensor[]; picks: Tensor[] }, keep: Keep): Promise<DraftedLevels> {
    const { ids, logProbs, picks } = rec;
    const flat = (ts: Tensor[]) => (ts.length === 1 ? keep(ts[0].reshape([ts[0].size])) : keep(concat(ts.map((t) => keep(t.reshape([t.size]))), 0)));
    const ints = flat([...ids, ...picks]);
    const floats = flat(logProbs);
    const [i32, f32] = await Promise.all([ints.read() as Promise<Int32Array>, floats.read() as Promise<Float32Array>]);
    const levels: DraftedLevels['levels'] = [];
    const picked: Int32Array[] = [];
    let io = 0;
    let fo = 0;
    ids.forEach((t) => {
      levels.push({ ids: i32.slice(io, io + t.size), logProbs: f32.slice(fo, fo + t.size) });
      io += t.size;
      fo += t.size;
    });
    for (const t of picks) {
      picked.push(i32.slice(io, io + t.size));
      io += t.size;
    }
    return { levels, picks: picked };
  }

  /**
   * Head i's k best ids per row of x with their log-probabilities, recorded on the GPU: [rows, k]
   * each, owned by the caller; k <= TOPK_MAX_K. Heads with a fused kernel override it.
   */
  protected recordLogProbTopK(i: number, x: Tensor, k: number): TopK {
    const top = scope((track) => topk(track(logSoftmax(track(this.headLogits(i, x)))), k)); // logits, log-probabilities [rows, scoredVocab]
    return { values: top.values, indices: scope((track) => this.toBase(track(top.indices))) as TopK['indices'] };
  }

  /** Head i's k best ids per row of x ranked on the CPU (past the GPU top-k's k), uploaded: [rows, k] i32 base ids, owned by the caller. */
  private async hostTopK(i: number, x: Tensor, k: number): Promise<Tensor> {
    const logits = this.headLogits(i, x); // [rows, scoredVocab]
    try {
      return this.device.tensor(this.toBaseHost(await cpuTopK(logits, k)), [x.shape[0], k], 'i32');
    } finally {
      logits.dispose();
    }
  }

  /** Checks a level-drafting request and returns h_t (EAGLE first brings its cache up to the root). */
  protected startLevels(req: LevelDraftRequest): Tensor {
    return this.checkLevels(req);
  }

  /** After a level drafting. */
  protected endLevels(): void {}

  /** Drives `steps`, answering each depth with `rank`'s ids. */
  protected async run(steps: Drafting, rank: (i: number, x: Tensor, k: number) => Promise<Tensor>): Promise<Draft> {
    let r = steps.next();
    while (!r.done) {
      const [i, x, k] = r.value;
      let ids: Tensor;
      try {
        ids = await rank(i, x, k);
      } catch (e) {
        steps.throw(e); // lets the drafting free what it holds, then rethrows
        throw e;
      }
      r = steps.next(ids);
    }
    return r.value;
  }

  /** run() with a ranking that records only (no read-back, nothing awaited). */
  private runSync(steps: Drafting, rank: (i: number, x: Tensor, k: number) => Tensor): Draft {
    let r = steps.next();
    while (!r.done) {
      const [i, x, k] = r.value;
      let ids: Tensor;
      try {
        ids = rank(i, x, k);
      } catch (e) {
        steps.throw(e);
        throw e;
      }
      r = steps.next(ids);
    }
    return r.value;
  }
}
