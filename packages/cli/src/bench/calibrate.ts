// Measurements the tree tuner needs on this device: base forward time by tree rows, head time
// by tree depth, and the heads' acceptance rate per (depth, rank) on calibration prompts.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { argmax } from '@hydra-ts/tensor';
import type { LlamaModel } from '@hydra-ts/model';
import { createHead, HeadCheckpointError, loadHead, type DraftHead, type Heads, type Proposal, type ProposeRequest } from '@hydra-ts/heads';
import { SpeculativeDecoder } from '@hydra-ts/decode';
import { chain, type CandidateTree } from '@hydra-ts/tree';
import type { Tensor } from '@hydra-ts/tensor';
import { HEAD_FILES } from '../paths';
import type { ForwardCost } from './tune-tree';

export type SpeculativeKind = 'medusa' | 'hydra' | 'hydra++';

export interface BenchHead {
  head: Heads;
  /** The file it was loaded from, or null for untrained heads from createHead. */
  file: string | null;
}

/**
 * The trained heads in `headsDir` for this decoder kind, or, when the file is not there and
 * `allowUntrained` is set, fresh createHead heads (every head then predicts what the base
 * model predicts from h_t: a floor for τ, not a result).
 */
export async function benchHead(model: LlamaModel, kind: SpeculativeKind, headsDir: string, numHeads: number, allowUntrained: boolean): Promise<BenchHead | null> {
  const file = path.join(headsDir, HEAD_FILES[kind]);
  if (existsSync(file)) {
    const head = await loadHead(model, file);
    if (head.config.kind !== kind) {
      head.dispose();
      throw new HeadCheckpointError(`${file} holds ${head.config.kind} heads, but is the ${kind} heads file of ${headsDir} (${HEAD_FILES[kind]}); expected ${kind} heads`);
    }
    return { head, file };
  }
  if (!allowUntrained) return null;
  return { head: await createHead(model, { kind, numHeads }), file: null };
}

/**
 * The lower quartile of repeated timings: on a shared machine the noise only ever adds time, in
 * bursts, so the low end estimates what a step costs; the median let one burst flip the order of
 * two row counts.
 */
function typical(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 4)];
}

const now = (): number => performance.now();

/** Prefills `promptIds` into a fresh cache; returns it committed, with the last hidden row observed by `head`. */
function prefill(model: LlamaModel, promptIds: number[], head?: DraftHead) {
  const cache = model.createCache();
  const out = model.forward(cache, { tokens: promptIds, logits: 'none' });
  cache.commit();
  head?.observe(out.hidden, 0);
  out.hidden.dispose();
  out.logits?.dispose();
  return cache;
}

/**
 * Typical (lower-quartile) time of one verify-style base step (forward over `rows` rows with
 * logits for all of them, GPU argmax, readback of the ids) after a prompt of `contextTokens` tokens.
 */
export async function measureForwardCost(model: LlamaModel, rowCounts: number[], opts: { reps?: number; contextTokens?: number } = {}): Promise<ForwardCost> {
  const reps = opts.reps ?? 15;
  const promptIds = Array.from({ length: opts.contextTokens ?? 32 }, (_, i) => (i * 37 + 11) % model.config.vocabSize);
  const cache = prefill(model, promptIds);
  const L = cache.length;
  const times: number[][] = rowCounts.map(() => []);
  try {
    // Row counts take turns, so a burst of load elsewhere on the machine hits them all alike.
    for (let k = 0; k < reps + 2; k++) {
      for (let j = 0; j < rowCounts.length; j++) {
        const tokens = Int32Array.from({ length: rowCounts[j] }, (_, i) => (i * 13 + 5) % model.config.vocabSize);
        const t0 = now();
        const out = model.forward(cache, { tokens, logits: 'all' });
        const am = argmax(out.logits!);
        await am.read();
        const dt = now() - t0;
        am.dispose();
        out.hidden.dispose();
        out.logits!.dispose();
        cache.rollback(L);
        if (k >= 2) times[j].push(dt); // the first two rounds compile pipelines and fill buffer pools
      }
    }
  } finally {
    cache.dispose();
  }
  const ms = times.map(typical);
  return { rows: [...rowCounts], ms };
}

/** Typical (lower-quartile) head.propose time for a chain 1..depth deep (headMs[d-1]); the head's work grows with depth, barely with width. */
export async function measureHeadCost(model: LlamaModel, head: DraftHead, opts: { reps?: number } = {}): Promise<number[]> {
  const reps = opts.reps ?? 15;
  const promptIds = Array.from({ length: 16 }, (_, i) => (i * 37 + 11) % model.config.vocabSize);
  const cache = prefill(model, promptIds, head);
  const headMs: number[] = [];
  try {
    for (let d = 1; d <= head.depth; d++) {
      const tree = chain(d);
      const times: number[] = [];
      for (let k = 0; k < reps + 2; k++) {
        const t0 = now();
        await head.propose({ tree, root: 5, context: promptIds });
        if (k >= 2) times.push(now() - t0);
      }
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
  constructor(readonly inner: DraftHead) {}
  get name() {
    return this.inner.name;
  }
  get depth() {
    return this.inner.depth;
  }
  get sequential() {
    return this.inner.sequential;
  }
  observe(hidden: Tensor, start: number): void {
    if (start === 0) this.promptTokens = hidden.shape[0];
    this.inner.observe(hidden, start);
  }
  async propose(req: ProposeRequest): Promise<Proposal> {
    const p = await this.inner.propose(req);
    this.proposals.push({ tokens: p.tokens, rootIndex: req.context.length - this.promptTokens, tree: req.tree });
    return p;
  }
  rollback(length: number): void {
    this.inner.rollback(length);
  }
  reset(): void {
    this.inner.reset();
  }
  dispose(): void {
    this.inner.dispose();
  }
}

export interface AcceptanceCounts {
  /** accepted[d][r] / seen[d][r]: how often a rank-r node at depth d+1 was the base's token, given its parent was. */
  accepted: number[][];
  seen: number[][];
  steps: number;
  /** Per-step time outside base forward and heads in these runs. */
  overheadMs: number;
}

/**
 * Greedy speculative decoding of each prompt with a wide tree; since the output equals the base
 * model's greedy continuation, each step's proposal can be scored node by node against it.
 */
export async function measureAcceptance(
  model: LlamaModel,
  head: DraftHead,
  prompts: string[],
  tree: CandidateTree,
  maxNewTokens: number,
  onPrompt?: () => void,
): Promise<AcceptanceCounts> {
  const maxRank = Math.max(...tree.nodes.slice(1).map((n) => n.rank)) + 1;
  const accepted = Array.from({ length: tree.depth }, () => new Array<number>(maxRank).fill(0));
  const seen = Array.from({ length: tree.depth }, () => new Array<number>(maxRank).fill(0));
  let steps = 0;
  let otherMs = 0;
  const decoder = new SpeculativeDecoder(model);
  for (const prompt of prompts) {
    const rec = new RecordingHead(head);
    const r = await decoder.generate({ prompt, maxNewTokens, head: rec, tree });
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
    onPrompt?.();
  }
  return { accepted, seen, steps, overheadMs: steps ? otherMs / steps : 0 };
}
