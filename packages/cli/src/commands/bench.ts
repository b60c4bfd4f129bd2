// hydra bench: decoders interleaved over the same prompts in one process, so machine noise
// falls on all alike; prints τ, throughput, speedup, time per phase and the lossless check.
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import cliProgress from 'cli-progress';
import { SpeculativeDecoder, type GenerateResult } from '@hydra-ts/decode';
import type { Heads } from '@hydra-ts/heads';
import type { WeightDType } from '@hydra-ts/model';
import { CandidateTree } from '@hydra-ts/tree';
import type { Verifier } from '@hydra-ts/verify';
import { UsageError } from '../errors';
import { checkTreeFits, decoderOption, deviceLine, dtypeOption, intOption, numberOption, outputFileOption, treeOption, verifierOption, type DecoderKind } from '../options';
import { bundledModelDir } from '../paths';
import { benchHead, type SpeculativeKind } from '../bench/calibrate';
import { readPrompts } from '../bench/prompts';
import { formatTable, runFigures, summarize, withSpeedups, type BenchReport, type RunFigures } from '../bench/report';
import { renderHtml } from '../bench/html';
import { loadModel } from './generate';

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
}

/** The held-out story openings shipped with the package. */
export function bundledPromptFile(name = 'stories.txt'): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // src/commands/ in development, dist/ when built.
  for (const up of ['../../prompts', '../prompts']) {
    const file = path.resolve(here, up, name);
    if (existsSync(file)) return file;
  }
  return path.resolve(here, '../../prompts', name);
}

export interface BenchPlan {
  model: string | undefined;
  dtype: WeightDType;
  /** getDevice's softwareThreads (--software-threads, default 0). */
  softwareThreads: number;
  promptFile: string;
  prompts: string[];
  decoders: DecoderKind[];
  trees: CandidateTree[];
  maxNewTokens: number;
  verifier: Verifier;
  temperature: number;
  seed: number;
  headsDir: string;
  untrainedHeads: boolean;
  numHeads: number;
  /** The --tree / --trees entry each of `trees` came from, for errors. */
  treeSpecs: string[];
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
  const treeSpecs = String(flags.trees ?? flags.tree ?? 'cpu-16').split(',').map((s) => s.trim()).filter(Boolean);
  if (treeSpecs.length === 0) throw new UsageError('--trees: expected a comma-separated list of tree names or JSON files');
  const treeFlag = flags.trees !== undefined ? 'trees' : 'tree';
  const trees = distinctTreeNames(treeSpecs, treeSpecs.map((spec) => treeOption(spec, treeFlag)));
  if (flags.json !== undefined) outputFileOption('json', String(flags.json));
  if (flags.html !== undefined) outputFileOption('html', String(flags.html));
  const limit = flags.limit !== undefined ? intOption('limit', flags.limit, 1) : undefined;
  const promptFile = flags.prompts ?? bundledPromptFile();
  const prompts = readPrompts(promptFile, limit);
  const modelDir = flags.model ? (flags.model.endsWith('.bin') ? path.dirname(flags.model) : flags.model) : bundledModelDir();
  const deepest = Math.max(...trees.map((t) => t.depth));
  const numHeads = intOption('num-heads', flags.numHeads ?? Math.max(deepest, 1), 1, 64);
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
    treeSpecs,
    treeFlag,
  };
}

interface Config {
  label: string;
  decoder: DecoderKind;
  head: Heads | null;
  heads: string | null;
  tree: CandidateTree | undefined;
}

/**
 * Trees label the table's rows, so two files whose trees share a name (two `hydra tune` outputs,
 * say) are told apart by their file names; the same tree given twice is an error.
 */
function distinctTreeNames(specs: readonly string[], trees: CandidateTree[]): CandidateTree[] {
  const seen = new Set<string>();
  for (const spec of specs) {
    if (seen.has(spec)) throw new UsageError(`--trees lists ${spec} twice`);
    seen.add(spec);
  }
  return trees.map((tree, i) => {
    if (trees.filter((t) => t.name === tree.name).length === 1) return tree;
    const name = `${tree.name} (${path.basename(specs[i]!)})`;
    return CandidateTree.fromPaths(tree.toJSON().paths, { name });
  });
}

export async function runBench(flags: BenchFlags): Promise<BenchReport> {
  const plan = planBench(flags);
  const { model, path: modelPath } = await loadModel(plan.model, plan.dtype, plan.softwareThreads, flags);
  const heads = new Map<DecoderKind, { head: Heads; file: string | null }>();
  try {
    if (plan.decoders.some((d) => d !== 'ar')) plan.trees.forEach((t, i) => checkTreeFits(t, plan.treeFlag, plan.treeSpecs[i], model.config));
    for (const kind of plan.decoders) {
      if (kind === 'ar') continue;
      const h = await benchHead(model, kind as SpeculativeKind, plan.headsDir, plan.numHeads, plan.untrainedHeads);
      if (!h) {
        throw new UsageError(
          `--heads-dir ${plan.headsDir}: no ${kind} heads file there; train one, point --heads-dir elsewhere, or pass --untrained-heads to bench fresh createHead heads`,
        );
      }
      heads.set(kind, h);
      if (!h.file) process.stderr.write(`note: ${kind}: no trained heads in ${plan.headsDir}; using untrained createHead heads (${plan.numHeads} heads)\n`);
    }

    const configs: Config[] = [];
    const multiTree = plan.trees.length > 1;
    for (const decoder of plan.decoders) {
      const h = heads.get(decoder);
      if (!h) {
        configs.push({ label: decoder, decoder, head: null, heads: null, tree: undefined });
        continue;
      }
      for (const tree of plan.trees) {
        if (tree.depth > h.head.depth) {
          throw new UsageError(`--trees ${tree.name}: ${tree.depth} levels deep, but the ${decoder} heads fill only ${h.head.depth}`);
        }
        configs.push({
          label: multiTree ? `${decoder} @ ${tree.name}` : decoder,
          decoder,
          head: h.head,
          heads: h.file ?? 'untrained (createHead)',
          tree,
        });
      }
    }

    const dec = new SpeculativeDecoder(model);
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
      await run(c, plan.prompts[0], plan.maxNewTokens);
      bar?.increment(1, { task: `warm-up ${c.label}` });
    }
    const compiledBefore = model.device.stats.pipelines;

    const runs: RunFigures[][] = configs.map(() => []);
    const greedy = plan.verifier.kind === 'greedy';
    for (let p = 0; p < plan.prompts.length; p++) {
      let arTokens: number[] | null = null;
      for (let k = 0; k < configs.length; k++) {
        const c = configs[k];
        bar?.update({ task: `prompt ${p + 1} ${c.label}` });
        const r = await run(c, plan.prompts[p], plan.maxNewTokens);
        if (c.decoder === 'ar') arTokens = r.tokenIds;
        const same = greedy && c.decoder !== 'ar' && arTokens ? sameTokens(r.tokenIds, arTokens) : null;
        runs[k].push(runFigures(p, r, same));
        bar?.increment(1);
      }
    }
    bar?.stop();
    const lateCompiles = model.device.stats.pipelines - compiledBefore;
    if (lateCompiles > 0) process.stderr.write(`note: ${lateCompiles} pipelines were compiled during timed runs (shapes the warm-up did not reach)\n`);

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
      decoders: withSpeedups(configs.map((c, k) => summarize(c.label, c.decoder, c.tree?.name ?? null, c.heads, runs[k]))),
    };

    process.stdout.write(formatTable(report) + '\n');
    process.stdout.write(
      `device: ${deviceLine(report.device, report.softwareThreads)}; weights ${plan.dtype}; ${plan.prompts.length} prompts × ${plan.maxNewTokens} new tokens; verifier ${report.verifier}; decoders interleaved per prompt after a warm-up\n`,
    );
    process.stdout.write(
      flags.hostProposals
        ? 'proposals: host (the heads read their tokens back before the verify pass; head ms/step is their whole time)\n'
        : 'proposals: device (the verify pass is recorded behind the drafting, one read-back a step; head ms/step is the time to record the drafting, its GPU time is in base ms/step; --host-proposals splits them)\n',
    );
    for (const [kind, h] of heads) process.stdout.write(`${kind} heads: ${h.file ?? `untrained (createHead, ${plan.numHeads} heads)`}\n`);
    const broken = report.decoders.filter((d) => d.identical && d.identical.same !== d.identical.of);
    if (greedy) {
      process.stdout.write(
        broken.length === 0 ? 'lossless: every greedy speculative output equals AR\n' : `LOSSLESS CHECK FAILED: ${broken.map((d) => d.label).join(', ')} differ from AR\n`,
      );
    }
    if (flags.json) writeFileSync(flags.json, JSON.stringify(report, null, 2) + '\n');
    if (flags.html) writeFileSync(flags.html, renderHtml(report));
    if (broken.length > 0) process.exitCode = 1;
    return report;
  } finally {
    for (const h of heads.values()) h.head.dispose();
    model.dispose();
  }
}

function sameTokens(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((t, i) => t === b[i]);
}
