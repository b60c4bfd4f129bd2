// Measurements the tree tuner needs on this device: the base forward's time by tree rows (with
// the tree's attention mask, as the decoder runs it) at several context lengths, the heads' time
// by tree depth, and the heads' acceptance rate per (depth, rank) on calibration prompts.
import { argmax, type Tensor } from '@hydra-ts/tensor';
import type { LlamaModel } from '@hydra-ts/model';
import type { DraftHead, Proposal, ProposeRequest } from '@hydra-ts/heads';
import { buildTreeFromAcceptance, chain, PRIOR_ACCEPTANCE, type CandidateTree } from '@hydra-ts/tree';
import { decodeOnce } from '../session';
import { rowLayout } from '../rows';
import type { ForwardCost } from './cost-model';

const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

/**
 * The lower quartile of repeated timings: on a shared machine noise only ever adds time, in
 * bursts, so the low end estimates what a step costs; the median let one burst flip the order of
 * two row counts.
 */
export function typical(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 4)];
}

/** Repetitions that fit `budgetMs` at `msPerRep`, within [min, max]. */
export function repsWithin(budgetMs: number, msPerRep: number, min = 3, max = 15): number {
  if (!(msPerRep > 0)) return max;
  return Math.max(min, Math.min(max, Math.floor(budgetMs / msPerRep)));
}

/** Deterministic filler tokens (no tokenizer needed): what they are does not change a step's cost. */
function fillerTokens(n: number, vocab: number, salt = 11): number[] {
  return Array.from({ length: n }, (_, i) => (i * 37 + salt) % vocab);
}

/** Prefills `ids` into a fresh cache of the model's full context; returns it committed, the last hidden row observed by `head`. */
function prefill(model: LlamaModel, ids: number[], head?: DraftHead) {
  const cache = model.createCache(model.config.maxSeqLen);
  const layers = head?.featureLayers;
  const out = model.forward(cache, { tokens: ids, logits: 'none', capture: layers && layers.length > 0 ? layers : undefined });
  cache.commit();
  head?.observe(out.hidden, 0, out.features);
  out.hidden.dispose();
  out.features?.dispose();
  out.logits?.dispose();
  return cache;
}

/** A tree of `rows` rows shaped like the ones the tuner builds (best rows under the prior acceptance). */
function treeOfRows(rows: number): CandidateTree | null {
  return rows === 1 ? null : buildTreeFromAcceptance(PRIOR_ACCEPTANCE, rows - 1, { name: `rows-${rows}` });
}

export interface ForwardCostOptions {
  /** Context lengths to measure after (default [16]). */
  contexts?: number[];
  /** Time for the whole measurement; repetitions shrink to fit (at least minReps). Default 1500 ms. */
  budgetMs?: number;
  minReps?: number;
  maxReps?: number;
}

/**
 * Typical (lower-quartile) time of one verify step (forward over `rows` rows with the tree mask and
 * positions of a tree that size, logits for every row, GPU argmax, read-back of the ids) after
 * each context length. rows[0] should be 1: the AR step, which the decoder runs without a mask.
 */
export async function measureForwardCost(model: LlamaModel, rowCounts: number[], opts: ForwardCostOptions = {}): Promise<ForwardCost[]> {
  const contexts = opts.contexts ?? [16];
  const vocab = model.config.vocabSize;
  const trees = rowCounts.map(treeOfRows);
  const step = async (cache: ReturnType<typeof prefill>, j: number): Promise<number> => {
    const L = cache.length;
    const n = rowCounts[j];
    const layout = trees[j] ? rowLayout(trees[j]!) : null;
    const tokens = Int32Array.from(fillerTokens(n, vocab, 5));
    const positions = Int32Array.from({ length: n }, (_, r) => L + (layout ? layout.positionOffsets[r] : 0));
    const t0 = now();
    const out = model.forward(cache, { tokens, positions, mask: layout?.mask, logits: 'all' });
    const am = argmax(out.logits!);
    await am.read();
    const dt = now() - t0;
    am.dispose();
    out.hidden.dispose();
    out.logits!.dispose();
    cache.rollback(L);
    return dt;
  };
  const perContextBudget = (opts.budgetMs ?? 1500) / contexts.length;
  const tables: ForwardCost[] = [];
  for (const context of contexts) {
    const cache = prefill(model, fillerTokens(Math.max(1, context), vocab));
    try {
      // Two untimed rounds compile pipelines and fill the buffer pools; the second one sizes the budget.
      let round = 0;
      for (let k = 0; k < 2; k++) {
        const t0 = now();
        for (let j = 0; j < rowCounts.length; j++) await step(cache, j);
        round = now() - t0;
      }
      const reps = repsWithin(perContextBudget, round, opts.minReps ?? 3, opts.maxReps ?? 15);
      const times: number[][] = rowCounts.map(() => []);
      // Row counts take turns, so a burst of load elsewhere on the machine hits them all alike.
      for (let k = 0; k < reps; k++) for (let j = 0; j < rowCounts.length; j++) times[j].push(await step(cache, j));
      tables.push({ context: cache.length, rows: [...rowCounts], ms: times.map(typical) });
    } finally {
      cache.dispose();
    }
  }
  return tables;
}

/**
 * Typical (lower-quartile) time for the heads to fill a chain 1..depth deep (headMs[d-1]) the way
 * the decoder asks them to: on the device when the head can (its tokens read back here, so the
 * time includes one read-back the decoder shares with the verify pass), else on the host.
 */
export async function measureHeadCost(model: LlamaModel, head: DraftHead, opts: { budgetMs?: number; minReps?: number; maxReps?: number } = {}): Promise<number[]> {
  const context = fillerTokens(16, model.config.vocabSize);
  const cache = prefill(model, context, head);
  const once = async (tree: CandidateTree): Promise<number> => {
    const t0 = now();
    const onDevice = head.proposeOnDevice?.({ tree, root: 5, context, order: rowLayout(tree).nodeOf }) ?? null;
    if (onDevice) {
      await onDevice.read();
      onDevice.dispose();
    } else await head.propose({ tree, root: 5, context });
    return now() - t0;
  };
  const headMs: number[] = [];
  try {
    const perDepth = (opts.budgetMs ?? 500) / Math.max(1, head.depth);
    for (let d = 1; d <= head.depth; d++) {
      const tree = chain(d);
      await once(tree);
      const warm = await once(tree);
      const reps = repsWithin(perDepth, warm, opts.minReps ?? 3, opts.maxReps ?? 15);
      const times: number[] = [];
      for (let k = 0; k < reps; k++) times.push(await once(tree));
      headMs.push(typical(times));
    }
  } finally {
    cache.dispose();
    head.reset();
  }
  return headMs;
}

/** Passes everything to `inner` and remembers what it proposed and where. */
class RecordingHead implements DraftHead {
  readonly proposals: Array<{ tokens: Int32Array; rootIndex: number; tree: CandidateTree }> = [];
  promptTokens = 0;
  constructor(readonly inner: DraftHead) {
    if (inner.rollback) this.rollback = (length) => inner.rollback!(length);
  }
  get name() {
    return this.inner.name;
  }
  get depth() {
    return this.inner.depth;
  }
  get sequential() {
    return this.inner.sequential ?? false;
  }
  /** The inner head's rollback, where it has one. */
  readonly rollback?: (length: number) => void;
  /** The inner head's feature layers. */
  get featureLayers(): readonly number[] | undefined {
    return this.inner.featureLayers;
  }
  observe(hidden: Tensor, start: number, features?: Tensor): void {
    if (start === 0) this.promptTokens = hidden.shape[0];
    this.inner.observe(hidden, start, features);
  }
  async propose(req: ProposeRequest): Promise<Proposal> {
    const p = await this.inner.propose(req);
    this.proposals.push({ tokens: p.tokens, rootIndex: req.context.length - this.promptTokens, tree: req.tree });
    return p;
  }
  reset(): void {
    this.inner.reset();
  }
  dispose(): void {
    this.inner.dispose?.();
  }
}

export interface AcceptanceCounts {
  /** accepted[d][r] / seen[d][r]: how often a rank-r node at depth d+1 was the base's token, given its parent was. */
  accepted: number[][];
  seen: number[][];
  steps: number;
  /** Per-step time outside base forward and heads in these runs (verify and commit). */
  overheadMs: number;
  /** Prompts decoded (fewer than given when the time budget ran out). */
  prompts: number;
}

/**
 * Greedy speculative decoding of each prompt with a wide tree; since the output equals the base
 * model's greedy continuation, each step's proposal can be scored node by node against it. Stops
 * before a prompt once `budgetMs` has passed (the first prompt always runs).
 */
export async function measureAcceptance(
  model: LlamaModel,
  head: DraftHead,
  prompts: ReadonlyArray<string | readonly number[]>,
  tree: CandidateTree,
  maxNewTokens: number,
  opts: { budgetMs?: number; onPrompt?: () => void } = {},
): Promise<AcceptanceCounts> {
  const maxRank = Math.max(...tree.nodes.slice(1).map((n) => n.rank)) + 1;
  const accepted = Array.from({ length: tree.depth }, () => new Array<number>(maxRank).fill(0));
  const seen = Array.from({ length: tree.depth }, () => new Array<number>(maxRank).fill(0));
  let steps = 0;
  let otherMs = 0;
  let done = 0;
  const started = now();
  for (const prompt of prompts) {
    if (done > 0 && now() - started > (opts.budgetMs ?? Infinity)) break;
    const rec = new RecordingHead(head);
    const r = await decodeOnce(model, { prompt, maxNewTokens, head: rec, tree });
    steps += r.steps;
    otherMs += r.timing.verifyMs + r.timing.commitMs;
    const out = r.tokenIds;
    for (const { tokens, rootIndex, tree: t } of rec.proposals) {
      let parent = 0;
      for (let d = 1; d <= t.depth; d++) {
        const truth = out[rootIndex + d];
        if (truth === undefined) break;
        let next = -1;
        for (const c of t.nodes[parent].children) {
          const rank = t.nodes[c].rank;
          seen[d - 1][rank]++;
          if (tokens[c] === truth) {
            accepted[d - 1][rank]++;
            next = c;
          }
        }
        if (next < 0) break;
        parent = next;
      }
    }
    done++;
    opts.onPrompt?.();
  }
  return { accepted, seen, steps, overheadMs: steps ? otherMs / steps : 0, prompts: done };
}
