// hydra bench: decoders interleaved over the same prompts in one process, so machine noise
// falls on all alike; prints τ, throughput, speedup, time per phase, each decoder's step cost over
// the device floor and the lossless check.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import cliProgress from 'cli-progress';
import { ReplayHead, sha256Hex, SpeculativeDecoder, type GenerateResult } from '@hydra-ts/decode';
import { createHead, type DraftHead } from '@hydra-ts/heads';
import type { LlamaModel, WeightDType } from '@hydra-ts/model';
import { measureDispatchFloor } from '@hydra-ts/tensor';
import { CandidateTree, DynamicTree } from '@hydra-ts/tree';
import type { Verifier } from '@hydra-ts/verify';
import { UsageError } from '../errors';
import { checkTreeFits, decoderOption, deviceLine, dtypeOption, intOption, numberOption, outputFileOption, treeSpecOption, verifierOption, type DecoderKind, type TreeSpec } from '../options';
import { bundledModelDir, bundledPromptFile } from '../paths';
import { benchHead, type SpeculativeKind } from './bench-parts/heads';
import { readPrompts } from './bench-parts/prompts';
import { formatFloor, formatTable, runFigures, summarize, withSpeedups, type BenchReport, type FloorRow, type RunFigures } from './bench-parts/report';
import { REPLAY_ACCEPTANCE, REPLAY_SOURCE } from './bench-parts/replay-rates';
import { renderHtml } from './bench-parts/html';
import { treeForHead, tunedTreeFor } from '../tuned-tree';
import { loadModel } from './generate';

export { bundledPromptFile };

export interface BenchFlags {
  model?: string;
  dtype?: string;
  softwareThreads?: string | number;
  prompts?: string;
  decoders?: string;
  maxNewTokens?: number | string;
  verifier?: string;
  temperature?: number | string;
  seed?: number | string;
  tree?: string;
  trees?: string;
  headsDir?: string;
  untrainedHeads?: boolean;
  numHeads?: number | string;
  limit?: number | string;
  json?: string;
  html?: string;
  progress?: boolean;
  maxContext?: number | string;
  allowNonfinite?: boolean;
  /** Heads hand their tokens to the host before the verify pass (two read-backs a step), so head ms/step is their whole time. */
  hostProposals?: boolean;
  /** Untrained heads of the model's shapes whose proposals replay the AR continuation at the trained stories260K heads' rates: an estimate. */
  replay?: boolean;
}

export interface BenchPlan {
  model: string | undefined;
  dtype: WeightDType;
  /** getDevice's softwareThreads (--software-threads, default 0). */
  softwareThreads: number;
  promptFile: string;
  prompts: string[];
  decoders: DecoderKind[];
  /** The trees to bench every speculative decoder with, or null: each decoder's tuned default tree. */
  /** --trees: fixed or dynamic trees, or 'tuned' (each decoder's tuned tree, as without --trees). */
  trees: Array<TreeSpec | 'tuned'> | null;
  maxNewTokens: number;
  verifier: Verifier;
  temperature: number;
  seed: number;
  headsDir: string;
  untrainedHeads: boolean;
  numHeads: number;
  replay: boolean;
  /** The --tree / --trees entry each of `trees` came from, for errors. */
  treeSpecs: string[] | null;
  treeFlag: string;
}

/** Checks every option before anything is loaded; throws UsageError / PromptFileError / TreeError. */
export function planBench(flags: BenchFlags): BenchPlan {
  const maxNewTokens = intOption('max-new-tokens', flags.maxNewTokens ?? 64, 1);
  const temperature = numberOption('temperature', flags.temperature ?? 0, 0);
  const seed = intOption('seed', flags.seed ?? 0, 0);
  const decoders = String(flags.decoders ?? 'ar,medusa,hydra,hydra++').split(',').map((s) => s.trim()).filter(Boolean).map(decoderOption);
  if (decoders.length === 0) throw new UsageError('--decoders: expected a comma-separated list such as ar,medusa,hydra,hydra++');
  if (new Set(decoders).size !== decoders.length) throw new UsageError(`--decoders ${flags.decoders}: lists a decoder twice`);
  // AR runs first on each prompt: its output is what the others are checked against.
  decoders.sort((a, b) => Number(b === 'ar') - Number(a === 'ar'));
  const verifierName = flags.verifier ?? (temperature === 0 ? 'greedy' : 'sample');
  if (verifierName !== 'greedy' && temperature === 0) throw new UsageError(`--verifier ${verifierName} needs --temperature > 0`);
  const verifier = verifierOption(verifierName, temperature);
  if (flags.tree !== undefined && flags.trees !== undefined) throw new UsageError('--tree and --trees: give one of them');
  const given = flags.trees ?? flags.tree;
  const treeSpecs = given === undefined ? null : String(given).split(',').map((s) => s.trim()).filter(Boolean);
  if (treeSpecs && treeSpecs.length === 0) throw new UsageError('--trees: expected a comma-separated list of tree names or JSON files');
  const treeFlag = flags.trees !== undefined ? 'trees' : 'tree';
  const trees = treeSpecs ? distinctTreeNames(treeSpecs, treeSpecs.map((spec) => (spec === 'tuned' ? 'tuned' : treeSpecOption(spec, treeFlag)))) : null;
  if (flags.json !== undefined) outputFileOption('json', String(flags.json));
  if (flags.html !== undefined) outputFileOption('html', String(flags.html));
  const replay = flags.replay ?? false;
  if (replay && !decoders.includes('ar')) throw new UsageError('--replay: the replayed heads propose the AR continuation, so --decoders must include ar');
  if (replay && temperature !== 0) throw new UsageError('--replay: replayed proposals follow the greedy continuation; expected --temperature 0');
  const unrecorded = replay ? decoders.filter((d) => d !== 'ar' && !REPLAY_ACCEPTANCE[d as SpeculativeKind]) : [];
  if (unrecorded.length > 0) throw new UsageError(`--replay: no recorded acceptance rates for ${unrecorded.join(', ')} heads; replay only ${Object.keys(REPLAY_ACCEPTANCE).join(', ')}`);
  if (replay && flags.untrainedHeads) throw new UsageError('--replay and --untrained-heads: give one of them (replayed heads are untrained heads with borrowed acceptance)');
  const limit = flags.limit !== undefined ? intOption('limit', flags.limit, 1) : undefined;
  const promptFile = flags.prompts ?? bundledPromptFile();
  const prompts = readPrompts(promptFile, limit);
  const modelDir = flags.model ? (flags.model.endsWith('.bin') ? path.dirname(flags.model) : flags.model) : bundledModelDir();
  const deepest = trees ? Math.max(...trees.map((t) => (t === 'tuned' ? 4 : t instanceof DynamicTree ? (t.depth ?? 4) : t.depth))) : 4;
  const numHeads = intOption('num-heads', flags.numHeads ?? Math.max(deepest, 1), 1, 64);
  if (replay && numHeads > 4) throw new UsageError(`--num-heads ${numHeads}: the replayed acceptance rates cover 4 depths`);
  return {
    model: flags.model,
    dtype: dtypeOption(flags.dtype ?? 'f32'),
    softwareThreads: intOption('software-threads', flags.softwareThreads ?? 0, 0, 256),
    promptFile,
    prompts,
    decoders,
    trees,
    maxNewTokens,
    verifier,
    temperature,
    seed,
    headsDir: flags.headsDir ?? path.join(modelDir, 'heads'),
    untrainedHeads: flags.untrainedHeads ?? false,
    numHeads,
    replay,
    treeSpecs,
    treeFlag,
  };
}

interface Config {
  label: string;
  decoder: DecoderKind;
  head: DraftHead | null;
  heads: string | null;
  tree: TreeSpec | undefined;
  /** Tree name in the table ('root (tuned: AR)' where the tuner chose AR). */
  treeLabel: string | null;
}

interface BenchHeads {
  head: DraftHead;
  file: string | null;
  /** Says where the heads came from, in the table and the report. */
  label: string;
  replay: ReplayHead | null;
}

/**
 * Trees label the table's rows, so two files whose trees share a name (two `hydra tune` outputs,
 * say) are told apart by their file names; the same tree given twice is an error.
 */
function distinctTreeNames(specs: readonly string[], trees: Array<TreeSpec | 'tuned'>): Array<TreeSpec | 'tuned'> {
  const seen = new Set<string>();
  for (const spec of specs) {
    if (seen.has(spec)) throw new UsageError(`--trees lists ${spec} twice`);
    seen.add(spec);
  }
  const nameOf = (t: TreeSpec | 'tuned') => (t === 'tuned' ? t : t.name);
  return trees.map((tree, i) => {
    if (tree === 'tuned' || tree instanceof DynamicTree || trees.filter((t) => nameOf(t) === tree.name).length === 1) return tree;
    const name = `${tree.name} (${path.basename(specs[i]!)})`;
    return CandidateTree.fromPaths(tree.toJSON().paths, { name });
  });
}

/** Prompt ids as the decoder encodes a text prompt (BOS first). */
function promptIds(model: LlamaModel, prompt: string): number[] {
  if (!model.tokenizer) throw new UsageError('--replay: the model has no tokenizer to encode the prompts with (convert it with --tokenizer)');
  return model.tokenizer.encode(prompt, { bos: true });
}

/** The heads of each speculative decoder: trained ones from --heads-dir, fresh ones, or (--replay) fresh ones replaying AR. */
async function loadBenchHeads(model: LlamaModel, plan: BenchPlan): Promise<Map<DecoderKind, BenchHeads>> {
  const heads = new Map<DecoderKind, BenchHeads>();
  for (const kind of plan.decoders) {
    if (kind === 'ar') continue;
    if (plan.replay) {
      const inner = await createHead(model, { kind, numHeads: plan.numHeads });
      const replay = new ReplayHead(inner, model.device, model.config.vocabSize, { acceptance: REPLAY_ACCEPTANCE[kind as SpeculativeKind]!, seed: plan.seed + 1 });
      heads.set(kind, { head: replay, file: null, label: `replayed (untrained ${kind} kernels, ${plan.numHeads} heads; ${REPLAY_SOURCE})`, replay });
      continue;
    }
    const h = await benchHead(model, kind as SpeculativeKind, plan.headsDir, plan.numHeads, plan.untrainedHeads);
    if (!h) {
      for (const other of heads.values()) other.head.dispose?.();
      throw new UsageError(
        `--heads-dir ${plan.headsDir}: no ${kind} heads file there; train one, point --heads-dir elsewhere, pass --untrained-heads to bench fresh createHead heads, or --replay for an estimate`,
      );
    }
    heads.set(kind, { head: h.head, file: h.file, label: h.file ?? 'untrained (createHead)', replay: null });
    if (!h.file) process.stderr.write(`note: ${kind}: no trained heads in ${plan.headsDir}; using untrained createHead heads (${plan.numHeads} heads)\n`);
  }
  return heads;
}

export async function runBench(flags: BenchFlags): Promise<BenchReport> {
  const plan = planBench(flags);
  const { model, path: modelPath } = await loadModel(plan.model, plan.dtype, plan.softwareThreads, flags);
  let heads = new Map<DecoderKind, BenchHeads>();
  try {
    if (plan.trees && plan.decoders.some((d) => d !== 'ar')) plan.trees.forEach((t, i) => t !== 'tuned' && checkTreeFits(t, plan.treeFlag, plan.treeSpecs![i], model.config));
    heads = await loadBenchHeads(model, plan);
    const dec = new SpeculativeDecoder(model);

    // Replayed heads need the AR continuation of every prompt they see, the tuner's check runs included.
    const replays = [...heads.values()].map((h) => h.replay).filter((r): r is ReplayHead => r !== null);
    const learn = (prompt: string, tokens: number[]) => {
      const ids = promptIds(model, prompt);
      for (const r of replays) r.setContinuation(ids, tokens);
    };
    // Their tuning is cut down to what a model of real size can afford on a slow device: one
    // calibration prompt of 16 tokens, rows up to 16, two repetitions at least.
    const replayTuning = { prompts: readPrompts(bundledPromptFile('calibration.txt'), 1), maxNewTokens: 16, rows: [1, 2, 3, 4, 6, 8, 12, 16], contexts: [16, 256], minReps: 2 };
    if (replays.length > 0 && !plan.trees) {
      for (const prompt of replayTuning.prompts) learn(prompt, (await dec.generate({ prompt, maxNewTokens: replayTuning.maxNewTokens + 8 })).tokenIds);
    }

    const configs: Config[] = [];
    const multiTree = (plan.trees?.length ?? 0) > 1;
    for (const decoder of plan.decoders) {
      const h = heads.get(decoder);
      if (!h) {
        configs.push({ label: decoder, decoder, head: null, heads: null, tree: undefined, treeLabel: null });
        continue;
      }
      // The default (and --trees tuned): the tree tuned for these heads on this device (cached after the first run).
      const tuned = async (label: string): Promise<Config> => {
        const headId = h.file ? undefined : h.replay ? `${h.label} sha256:${await sha256Hex(JSON.stringify(REPLAY_ACCEPTANCE[decoder as SpeculativeKind]))}` : `untrained ${decoder} createHead ${plan.numHeads} heads`;
        const t = await tunedTreeFor(model, modelPath, h.head, {
          headFile: h.file,
          headId,
          acceptance: h.replay ? REPLAY_ACCEPTANCE[decoder as SpeculativeKind] : undefined,
          tune: h.replay ? replayTuning : undefined,
        });
        return {
          label,
          decoder,
          head: t.ar ? null : h.head,
          heads: h.label,
          tree: t.ar ? undefined : t.tree,
          treeLabel: t.ar ? 'root (tuned: AR)' : `${t.tree.name} (${t.tree.size - 1} nodes)`,
        };
      };
      if (!plan.trees) {
        configs.push(await tuned(decoder));
        continue;
      }
      for (const tree of plan.trees) {
        const label = multiTree ? `${decoder} @ ${tree === 'tuned' ? 'tuned' : tree.name}` : decoder;
        if (tree === 'tuned') {
          configs.push(await tuned(label));
          continue;
        }
        if (tree instanceof DynamicTree) {
          if (!h.head.draftLevels) throw new UsageError(`--trees ${tree.name}: the ${decoder} heads give no draft probabilities level by level (draftLevels); dynamic trees need them`);
          const grown = await treeForHead(model, modelPath, h.head, tree, { headFile: h.file });
          configs.push({ label, decoder, head: h.head, heads: h.label, tree: grown, treeLabel: `${tree.name} (≤ ${tree.maxNodes} nodes, top-${tree.topK}, ${tree.depthFor(h.head.depth)} deep)` });
          continue;
        }
        if (tree.depth > h.head.depth) {
          throw new UsageError(`--trees ${tree.name}: ${tree.depth} levels deep, but the ${decoder} heads fill only ${h.head.depth}`);
        }
        const ar = tree.size === 1; // 'root': the decoder without its head
        configs.push({ label, decoder, head: ar ? null : h.head, heads: h.label, tree: ar ? undefined : tree, treeLabel: tree.name });
      }
    }

    const sampling = { temperature: plan.temperature };
    const run = (c: Config, prompt: string, maxNewTokens: number): Promise<GenerateResult> =>
      dec.generate({ prompt, maxNewTokens, head: c.head, tree: c.tree, verifier: plan.verifier, sampling, seed: plan.seed, deviceProposals: !flags.hostProposals });

    const showProgress = flags.progress !== false && process.stderr.isTTY !== false;
    const bar = showProgress
      ? new cliProgress.SingleBar(
          { stream: process.stderr, format: 'bench [{bar}] {value}/{total} runs | ETA {eta_formatted} | {task}', etaBuffer: 12, hideCursor: true },
          cliProgress.Presets.shades_classic,
        )
      : null;
    bar?.start(configs.length * (plan.prompts.length + 1), 0, { task: 'warm-up' });
    // Warm-up: one whole untimed run per decoder compiles the pipelines of every row count its tree
    // and acceptances lead to (a shader compile costs milliseconds on a software rasterizer) and
    // fills the buffer pool and bind-group cache, so no timed prompt pays for them.
    for (const c of configs) {
      const r = await run(c, plan.prompts[0], plan.maxNewTokens);
      if (c.decoder === 'ar') learn(plan.prompts[0], r.tokenIds);
      bar?.increment(1, { task: `warm-up ${c.label}` });
    }
    const compiledBefore = model.device.stats.pipelines;

    const runs: RunFigures[][] = configs.map(() => []);
    // Device work per decoder over the timed runs, for the floor comparison.
    const work = configs.map(() => ({ dispatches: 0, readbacks: 0, steps: 0, decodeMs: 0, prefillDispatches: 0, prefillReadbacks: 0, runs: 0 }));
    const greedy = plan.verifier.kind === 'greedy';
    for (let p = 0; p < plan.prompts.length; p++) {
      let arTokens: number[] | null = null;
      for (let k = 0; k < configs.length; k++) {
        const c = configs[k];
        bar?.update({ task: `prompt ${p + 1} ${c.label}` });
        const before = { ...model.device.stats };
        const r = await run(c, plan.prompts[p], plan.maxNewTokens);
        const w = work[k];
        w.dispatches += model.device.stats.dispatches - before.dispatches;
        w.readbacks += model.device.stats.readbacks - before.readbacks;
        w.steps += r.steps;
        w.decodeMs += r.elapsedMs - r.prefillMs;
        w.runs++;
        if (c.decoder === 'ar') {
          arTokens = r.tokenIds;
          if (p > 0) learn(plan.prompts[p], r.tokenIds);
        }
        const same = greedy && c.decoder !== 'ar' && arTokens ? sameTokens(r.tokenIds, arTokens) : null;
        runs[k].push(runFigures(p, r, same));
        bar?.increment(1);
      }
    }
    bar?.stop();
    const lateCompiles = model.device.stats.pipelines - compiledBefore;
    if (lateCompiles > 0) process.stderr.write(`note: ${lateCompiles} pipelines were compiled during timed runs (shapes the warm-up did not reach)\n`);

    // The prefill's share of those counts: a run of one new token is the prefill alone (its root
    // is emitted without a forward pass).
    for (let k = 0; k < configs.length; k++) {
      const before = { ...model.device.stats };
      await run(configs[k], plan.prompts[0], 1);
      work[k].prefillDispatches = (model.device.stats.dispatches - before.dispatches) * work[k].runs;
      work[k].prefillReadbacks = (model.device.stats.readbacks - before.readbacks) * work[k].runs;
    }
    const perStep = work.map((w) => ({
      dispatches: w.steps ? (w.dispatches - w.prefillDispatches) / w.steps : 0,
      readbacks: w.steps ? (w.readbacks - w.prefillReadbacks) / w.steps : 0,
      stepMs: w.steps ? w.decodeMs / w.steps : 0,
    }));
    const counts = [...new Set(perStep.map((s) => Math.round(s.dispatches)))].sort((a, b) => a - b);
    const floorMs = new Map((await measureDispatchFloor(model.device, counts, { reps: 20 })).map((f) => [f.dispatches, f.ms]));
    const floor: FloorRow[] = configs.map((c, k) => {
      const s = perStep[k];
      const ms = floorMs.get(Math.round(s.dispatches))!;
      return { label: c.label, dispatchesPerStep: s.dispatches, readbacksPerStep: s.readbacks, stepMs: s.stepMs, floorMs: ms, overFloor: ms > 0 ? s.stepMs / ms : 0 };
    });

    const report: BenchReport = {
      device: model.device.name,
      model: modelPath,
      weights: plan.dtype,
      promptFile: plan.promptFile,
      prompts: plan.prompts,
      maxNewTokens: plan.maxNewTokens,
      verifier: plan.verifier.kind,
      proposals: flags.hostProposals ? 'host' : 'device',
      softwareThreads: process.env.LP_NUM_THREADS ?? 'default',
      date: new Date().toISOString(),
      decoders: withSpeedups(configs.map((c, k) => summarize(c.label, c.decoder, c.treeLabel, c.heads, runs[k]))),
      floor,
      estimate: plan.replay ? `replayed heads: τ borrowed from the ${REPLAY_SOURCE}; the heads' kernels ran as usual` : undefined,
    };

    const out = process.stdout;
    if (plan.replay) out.write(`ESTIMATE (--replay): untrained heads of this model's shapes ran their kernels, but their proposals replay the AR continuation at the ${REPLAY_SOURCE}; speeds are estimates, not results of trained heads\n`);
    out.write(formatTable(report) + '\n');
    out.write(
      `device: ${deviceLine(report.device, report.softwareThreads)}; weights ${plan.dtype}; ${plan.prompts.length} prompts × ${plan.maxNewTokens} new tokens; verifier ${report.verifier}; decoders interleaved per prompt after a warm-up\n`,
    );
    out.write(
      flags.hostProposals
        ? 'proposals: host (the heads read their tokens back before the verify pass; head ms/step is their whole time)\n'
        : 'proposals: device (the verify pass is recorded behind the drafting, one read-back a step; head ms/step is the time to record the drafting, its GPU time is in base ms/step; --host-proposals splits them)\n',
    );
    if (!plan.trees) out.write('trees: each speculative decoder\'s default, tuned for its heads on this device (cached; root = the tuner found no tree faster than AR, and the decoder ran without its head)\n');
    for (const [kind, h] of heads) out.write(`${kind} heads: ${h.label}\n`);
    out.write(`\nstep cost over the device floor (a step of as many trivial dispatches and one read-back, measured in this run):\n${formatFloor(floor)}\n`);
    const broken = report.decoders.filter((d) => d.identical && d.identical.same !== d.identical.of);
    if (greedy) {
      out.write(
        broken.length === 0 ? 'lossless: every greedy speculative output equals AR\n' : `LOSSLESS CHECK FAILED: ${broken.map((d) => d.label).join(', ')} differ from AR\n`,
      );
    }
    if (flags.json) writeFileSync(flags.json, JSON.stringify(report, null, 2) + '\n');
    if (flags.html) writeFileSync(flags.html, renderHtml(report));
    if (broken.length > 0) process.exitCode = 1;
    return report;
  } finally {
    for (const h of heads.values()) h.head.dispose?.();
    model.dispose();
  }
}

function sameTokens(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((t, i) => t === b[i]);
}
