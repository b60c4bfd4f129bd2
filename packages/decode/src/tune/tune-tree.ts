// tuneTree: the candidate tree that decodes fastest with this model, these heads and this device,
// or plain AR when none pays. Measures the cost model (cost-model.ts) in a bounded time, ranks
// every acceptance-built tree and AR by it, then times the few best against AR in real decoding
// runs: the model picks the shortlist, the runs pick the winner, and a tree must beat AR there
// and, by the model corrected with those runs, at every context length measured.
import { OptionError } from '@hydra-ts/tensor';
import type { LlamaModel } from '@hydra-ts/model';
import type { DraftHead } from '@hydra-ts/heads';
import { buildTreeFromAcceptance, PRIOR_ACCEPTANCE, rootOnly, type AcceptanceTable, type CandidateTree } from '@hydra-ts/tree';
import { decodeOnce } from '../session';
import { acceptanceFromCounts, monotoneCost, rankTrees, treeThroughput, type StepCost, type TreeChoice } from './cost-model';
import { measureAcceptance, measureForwardCost, measureHeadCost } from './measure';

export type TunePhase = 'forward' | 'heads' | 'acceptance' | 'check';

export interface TuneProgress {
  phase: TunePhase;
  /** Phases finished, of `total`. */
  done: number;
  total: number;
  message: string;
}

export interface TuneOptions {
  /** Calibration prompts (text or token ids); default: the BOS token followed by a few fixed tokens. */
  prompts?: ReadonlyArray<string | readonly number[]>;
  /** Known acceptance rates [depth][rank]: skips their measurement (replayed heads, or rates from an earlier run). */
  acceptance?: AcceptanceTable;
  /** Wall time the measurements aim for; each phase shrinks its repetitions to its share (at least 3). Default 5000 ms. */
  budgetMs?: number;
  /** Tree row counts to time; must start at 1. Default 1,2,3,4,6,8,12,16,24,32,48,64. */
  rows?: number[];
  /** Context lengths the cost is measured after; default 16 and half the context (at most 512). */
  contexts?: number[];
  /** Largest tree considered (candidates, root excluded). Default 63. */
  maxNodes?: number;
  /** Wide tree whose nodes are scored for acceptance; default the best 63 under the prior rates, as deep as the heads. */
  calibrationTree?: CandidateTree;
  /** New tokens per calibration prompt. Default 48. */
  maxNewTokens?: number;
  /** Fewest timed repetitions of each forward and head measurement, whatever the budget. Default 3. */
  minReps?: number;
  /** Trees (besides AR) timed in real decoding runs. Default 2. */
  shortlist?: number;
  /**
   * A tree must beat AR by this fraction in those runs. Default 0.1: the check runs decode a few
   * short prompts, and a whole benchmark has measured up to ~10 % less gain than they showed, so
   * a smaller margin could keep a tree that is slower than AR on ordinary use.
   */
  minGain?: number;
  /** Name of the tuned tree. Default 'tuned-<nodes>'. */
  name?: string;
  onProgress?: (p: TuneProgress) => void;
}

export interface TunedCandidate {
  nodes: number;
  depth: number;
  expected: TreeChoice;
  /** Median tokens/s in the check runs. */
  measuredTokensPerSecond: number;
  /** Median over the check runs of its speed-up over the AR run of the same prompt and round (AR: 1). */
  measuredSpeedup: number;
  /**
   * Speed-up over AR at each context of the cost table: the measured one at the first (the check
   * runs' short prompts), the cost model's scaled by the same measured/expected factor at the others.
   */
  predictedSpeedup: number[];
}

export interface TunedTree {
  /** The tree to decode with; the root alone when `ar`. */
  tree: CandidateTree;
  /** Plain AR was fastest: decode without the head. */
  ar: boolean;
  /** The cost model's figures for the chosen tree. */
  expected: TreeChoice;
  /** AR and the shortlisted trees as the check runs timed them, AR first. */
  checked: TunedCandidate[];
  cost: StepCost;
  acceptProb: AcceptanceTable;
  /** The cost model's figures for AR and every tree size tried. */
  curve: TreeChoice[];
  calibration: { tree: string; prompts: number; maxNewTokens: number } | null;
  elapsedMs: number;
}

const DEFAULT_ROWS = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64];
const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

/** The default calibration prompts: BOS, then each of a few fixed token ids (the base model's own continuations are the text). */
function defaultPrompts(model: LlamaModel): number[][] {
  const { bosId, vocabSize } = model.config;
  return [0, 1, 2, 3].map((k) => [bosId, (97 + 211 * k) % vocabSize]);
}

function checkOptions(model: LlamaModel, head: DraftHead, opts: TuneOptions, rows: number[], contexts: number[]): void {
  if (rows[0] !== 1 || rows.some((r, i) => !Number.isInteger(r) || r < 1 || (i > 0 && r <= rows[i - 1]))) {
    throw new OptionError(`tuneTree: rows ${rows.join(',')}; expected increasing integers starting at 1 (the AR step)`);
  }
  const cap = model.config.maxSeqLen - rows[rows.length - 1] - 1;
  for (const c of contexts) {
    if (!Number.isInteger(c) || c < 1 || c > cap) throw new OptionError(`tuneTree: context ${c}; expected an integer in [1, ${cap}] (the context holds ${model.config.maxSeqLen})`);
  }
  if (opts.budgetMs !== undefined && !(opts.budgetMs > 0)) throw new OptionError(`tuneTree: budgetMs ${opts.budgetMs}; expected a time > 0`);
  if (opts.minGain !== undefined && !(opts.minGain >= 0)) throw new OptionError(`tuneTree: minGain ${opts.minGain}; expected a fraction >= 0`);
  if (head.depth < 1) throw new OptionError(`tuneTree: head '${head.name}' fills ${head.depth} levels; expected at least 1`);
}

/** Tunes a candidate tree for `head` on `model`'s device; see the file header. */
export async function tuneTree(model: LlamaModel, head: DraftHead, opts: TuneOptions = {}): Promise<TunedTree> {
  const started = now();
  const rows = opts.rows ?? DEFAULT_ROWS;
  const half = Math.min(512, Math.floor(model.config.maxSeqLen / 2));
  const contexts = opts.contexts ?? [...new Set([16, half])].filter((c) => c + rows[rows.length - 1] + 1 <= model.config.maxSeqLen && c >= 1);
  checkOptions(model, head, opts, rows, contexts);
  const budget = opts.budgetMs ?? 5000;
  const share = opts.acceptance ? { forward: 0.4, heads: 0.15, acceptance: 0, check: 0.45 } : { forward: 0.25, heads: 0.1, acceptance: 0.3, check: 0.35 };
  const total = opts.acceptance ? 3 : 4;
  let done = 0;
  const report = (phase: TunePhase, message: string) => opts.onProgress?.({ phase, done, total, message });
  const prompts = opts.prompts ?? defaultPrompts(model);
  if (prompts.length === 0) throw new OptionError('tuneTree: prompts is empty; expected at least one calibration prompt');
  const maxNewTokens = opts.maxNewTokens ?? 48;

  report('forward', `forward cost by rows (${rows.length} row counts × contexts ${contexts.join(', ')})`);
  const forward = await measureForwardCost(model, rows, { contexts, budgetMs: budget * share.forward, minReps: opts.minReps });
  done++;
  report('heads', `head cost by depth (1..${head.depth})`);
  const headMs = await measureHeadCost(model, head, { budgetMs: budget * share.heads, minReps: opts.minReps });
  done++;

  let acceptProb: AcceptanceTable;
  let overheadMs = 0;
  let calibration: TunedTree['calibration'] = null;
  if (opts.acceptance) {
    acceptProb = opts.acceptance;
  } else {
    const calibrationTree = opts.calibrationTree ?? buildTreeFromAcceptance(PRIOR_ACCEPTANCE.slice(0, head.depth), 63, { name: `calibration-${head.depth}` });
    if (calibrationTree.depth > head.depth) {
      throw new OptionError(`tuneTree: calibration tree '${calibrationTree.name}' is ${calibrationTree.depth} deep; the heads fill only ${head.depth}`);
    }
    report('acceptance', `acceptance on up to ${prompts.length} prompts (${calibrationTree.name})`);
    const counts = await measureAcceptance(model, head, prompts, calibrationTree, maxNewTokens, { budgetMs: budget * share.acceptance });
    acceptProb = acceptanceFromCounts(counts.accepted, counts.seen);
    overheadMs = counts.overheadMs;
    calibration = { tree: calibrationTree.name, prompts: counts.prompts, maxNewTokens };
    done++;
  }

  const cost: StepCost = { forward: forward.map(monotoneCost), headMs, overheadMs };
  const { ranked, curve } = rankTrees(acceptProb, cost, { maxNodes: opts.maxNodes ?? 63, maxDepth: head.depth, name: opts.name });
  // The cost model's error is a bias shared by all trees (the head time includes a read-back the
  // decoder shares with the verify pass), so the best few are timed even when it puts them under AR.
  const shortlist = ranked.filter((e) => e.choice.nodes > 0).slice(0, opts.shortlist ?? 2);
  report('check', `timing AR against ${shortlist.map((e) => `${e.choice.nodes} nodes`).join(', ') || 'no tree'}`);
  const timed = shortlist.length > 0 ? await timeCandidates(model, head, [null, ...shortlist.map((e) => e.tree)], prompts.slice(0, CHECK_PROMPTS), maxNewTokens, budget * share.check) : { tokensPerSecond: [0], speedup: [1] };
  const measured = timed.tokensPerSecond;
  done++;

  const arExpected = treeThroughput(rootOnly(), acceptProb, cost);
  const checked: TunedCandidate[] = [
    { nodes: 0, depth: 0, expected: arExpected, measuredTokensPerSecond: measured[0], measuredSpeedup: 1, predictedSpeedup: arExpected.speedup },
    ...shortlist.map((e, i) => {
      // The check runs decode short prompts, i.e. at the first context; the cost model's error is
      // taken as one factor for all contexts, so the measured speed-up carries to the longer ones.
      const correction = timed.speedup[i + 1] / e.choice.speedup[0];
      return {
        nodes: e.choice.nodes,
        depth: e.choice.depth,
        expected: e.choice,
        measuredTokensPerSecond: measured[i + 1],
        measuredSpeedup: timed.speedup[i + 1],
        predictedSpeedup: e.choice.speedup.map((x) => x * correction),
      };
    }),
  ];
  const minGain = opts.minGain ?? 0.1;
  let best = -1;
  for (let i = 0; i < shortlist.length; i++) {
    const c = checked[i + 1];
    const pays = c.measuredSpeedup > 1 + minGain && Math.min(...c.predictedSpeedup) >= 1;
    if (pays && (best < 0 || c.measuredSpeedup > checked[best + 1].measuredSpeedup)) best = i;
  }
  const choice = best >= 0 ? shortlist[best] : { tree: rootOnly(), choice: checked[0].expected };
  return {
    tree: choice.tree,
    ar: best < 0,
    expected: choice.choice,
    checked,
    cost,
    acceptProb,
    curve,
    calibration,
    elapsedMs: now() - started,
  };
}

/** Prompts decoded by the check runs: enough that one easy prompt does not pick the tree. */
const CHECK_PROMPTS = 4;

/** The median of a non-empty list. */
function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Each tree (null: AR without the head) decoding `prompts`: configurations take turns prompt by
 * prompt (in reversed order every other round) after one untimed run each, for at least two
 * rounds and then while the budget lasts. Returns the median tokens/s of each, and the median of
 * its speed-up over the AR run of the same prompt and round: runs that close in time see the same
 * load on a shared machine, so their ratio is steadier than either speed.
 */
async function timeCandidates(
  model: LlamaModel,
  head: DraftHead,
  trees: ReadonlyArray<CandidateTree | null>,
  prompts: ReadonlyArray<string | readonly number[]>,
  maxNewTokens: number,
  budgetMs: number,
): Promise<{ tokensPerSecond: number[]; speedup: number[] }> {
  const run = async (tree: CandidateTree | null, prompt: string | readonly number[]) => {
    const r = await decodeOnce(model, { prompt, maxNewTokens, head: tree ? head : null, tree: tree ?? undefined });
    const ms = r.elapsedMs - r.prefillMs;
    return ms > 0 ? (1000 * r.tokenIds.length) / ms : 0;
  };
  for (const t of trees) await run(t, prompts[0]);
  const speeds: number[][] = trees.map(() => []);
  const ratios: number[][] = trees.map(() => []);
  const order = trees.map((_, k) => k);
  const started = now();
  for (let round = 0; round < 2 || (now() - started < budgetMs && round < 50); round++) {
    for (const prompt of prompts) {
      const tps = new Array<number>(trees.length);
      for (const k of round % 2 ? [...order].reverse() : order) tps[k] = await run(trees[k], prompt);
      tps.forEach((x, k) => {
        speeds[k].push(x);
        ratios[k].push(tps[0] > 0 ? x / tps[0] : 0);
      });
    }
  }
  return { tokensPerSecond: speeds.map(median), speedup: ratios.map(median) };
}
