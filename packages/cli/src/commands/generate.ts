// hydra generate: stream a continuation with AR or speculative decoding.
import { existsSync } from 'node:fs';
import { LlamaModel } from '@hydra-ts/model';
import { loadHead, type DraftHead } from '@hydra-ts/heads';
import { SpeculativeDecoder, type GenerateResult } from '@hydra-ts/decode';
import { formatProfile, getDevice } from '@hydra-ts/tensor';
import { DynamicTree } from '@hydra-ts/tree';
import { UsageError } from '../errors';
import { checkHeadKind, checkTreeFits, decoderOption, headsFileKind, deviceLine, dtypeOption, intOption, maxContextOption, numberOption, treeSpecOption, verifierOption, type DecoderKind, type TreeSpec } from '../options';
import { bundledModelDir, defaultHeadFile } from '../paths';
import { treeForHead } from '../tuned-tree';

export interface GenerateFlags {
  model?: string;
  prompt?: string;
  dtype?: string;
  maxNewTokens?: number | string;
  temperature?: number | string;
  topK?: number | string;
  topP?: number | string;
  seed?: number | string;
  decoder?: string;
  heads?: string;
  tree?: string;
  verifier?: string;
  json?: boolean;
  softwareThreads?: string | number;
  compare?: string;
  quiet?: boolean;
  profile?: boolean;
  /** Cap on the context (KV cache rows); needed for a config whose context is out of proportion to its weights. */
  maxContext?: number | string;
  /** Load weights holding NaN or infinities. */
  allowNonfinite?: boolean;
}

/** What every command loading the base model may say about how to load it. */
export interface ModelLoadFlags {
  maxContext?: number | string;
  allowNonfinite?: boolean;
}

/**
 * Loads the base model on the process's device. `softwareThreads` (--software-threads) goes to
 * getDevice: the decoding commands default it to 0, the training ones leave the driver's own.
 */
export async function loadModel(modelPath: string | undefined, dtype?: unknown, softwareThreads?: unknown, load: ModelLoadFlags = {}): Promise<{ model: LlamaModel; path: string }> {
  const path = modelPath ?? bundledModelDir();
  const weights = dtypeOption(dtype ?? 'f32');
  const threads = softwareThreads === undefined ? undefined : intOption('software-threads', softwareThreads, 0, 256);
  const maxContext = maxContextOption(load.maxContext);
  if (!existsSync(path)) throw new UsageError(`--model ${path}: no such file or directory`);
  const device = await getDevice({ softwareThreads: threads });
  return { model: await LlamaModel.load(path, { device, dtype: weights, maxContext, allowNonfinite: load.allowNonfinite === true }), path };
}

export async function headFor(model: LlamaModel, modelPath: string, decoder: DecoderKind, headsFile?: string, allowNonfinite = false): Promise<DraftHead | null> {
  if (decoder === 'ar') return null;
  const file = headsFile ?? defaultHeadFile(modelPath, decoder);
  if (!existsSync(file)) {
    throw new UsageError(`--heads ${file}: no such file; train one with \`hydra train --head ${decoder}\` or pass --heads`);
  }
  const head = await loadHead(model, file, { allowNonfinite });
  try {
    checkHeadKind(file, head.config.kind, decoder);
  } catch (e) {
    head.dispose();
    throw e;
  }
  return head;
}

/** A flag given twice keeps its last value (scripts append their overrides). */
export function lastValues<T extends object>(flags: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(flags)) out[k] = Array.isArray(v) && k !== '--' ? v[v.length - 1] : v;
  return out as T;
}

export async function runGenerate(rawFlags: GenerateFlags): Promise<void> {
  const flags = lastValues(rawFlags);
  const maxNewTokens = intOption('max-new-tokens', flags.maxNewTokens ?? 128, 0);
  const temperature = numberOption('temperature', flags.temperature ?? 0, 0);
  const topK = flags.topK !== undefined ? intOption('top-k', flags.topK, 1) : undefined;
  const topP = flags.topP !== undefined ? numberOption('top-p', flags.topP, Number.MIN_VALUE, 1) : undefined;
  const seed = intOption('seed', flags.seed ?? 0, 0);
  // Without --decoder, heads decode as the kind their file records.
  const decoder = decoderOption(flags.decoder ?? (flags.heads ? (headsFileKind(flags.heads) ?? 'hydra') : 'ar'));
  const verifierName = flags.verifier ?? (temperature === 0 ? 'greedy' : 'sample');
  const verifier = verifierOption(verifierName, temperature, topK, topP);
  const givenTree = flags.tree ? treeSpecOption(flags.tree) : null;
  const others = (flags.compare ?? '').split(',').filter(Boolean).map(decoderOption).filter((d) => d !== decoder);
  const { model, path } = await loadModel(flags.model, flags.dtype, flags.softwareThreads ?? 0, flags);
  if (givenTree && (decoder !== 'ar' || others.length > 0)) checkTreeFits(givenTree, 'tree', flags.tree, model.config);
  const prompt = flags.prompt ?? '';
  // Each speculative decoder's tree: --tree, else the one tuned for its heads on this device
  // (cached; the root alone when no tree beats AR here, and the decoder then runs without its head).
  const trees = new Map<DecoderKind, TreeSpec>();
  const treeFor = async (kind: DecoderKind, head: DraftHead, headFile: string): Promise<TreeSpec> => {
    let tree = trees.get(kind);
    if (!tree) {
      tree = await treeForHead(model, path, head, givenTree, { headFile });
      trees.set(kind, tree);
    }
    return tree;
  };
  const pays = (t: TreeSpec): boolean => t instanceof DynamicTree || t.size > 1;
  const treeName = (kind: DecoderKind) => {
    const t = trees.get(kind);
    return !t ? null : !pays(t) ? 'root (AR: no tree pays on this device)' : t.name;
  };

  const run = async (kind: DecoderKind, stream: boolean, tokens = maxNewTokens): Promise<GenerateResult> => {
    const headFile = kind === 'ar' ? '' : ((kind === decoder ? flags.heads : undefined) ?? defaultHeadFile(path, kind));
    const loaded = await headFor(model, path, kind, headFile || undefined, flags.allowNonfinite === true);
    const tree = loaded ? await treeFor(kind, loaded, headFile) : undefined;
    const head = tree && pays(tree) ? loaded : null;
    try {
      const dec = new SpeculativeDecoder(model);
      const it = dec.stream({
        prompt,
        maxNewTokens: tokens,
        head,
        tree: head ? tree : undefined,
        verifier,
        sampling: { temperature, topK, topP },
        seed,
      });
      for (;;) {
        const r = await it.next();
        if (r.done) return r.value;
        if (stream) process.stdout.write(r.value.text);
      }
    } finally {
      loaded?.dispose?.();
    }
  };

  const streamText = !flags.json && !flags.quiet;
  // Trees are tuned (on first use) before any text is printed, so their progress lines come first.
  for (const kind of [decoder, ...others]) {
    if (kind === 'ar') continue;
    const headFile = (kind === decoder ? flags.heads : undefined) ?? defaultHeadFile(path, kind);
    const head = (await headFor(model, path, kind, headFile, flags.allowNonfinite === true))!;
    try {
      await treeFor(kind, head, headFile);
    } finally {
      head.dispose?.();
    }
  }
  // Shader compilation happens on first use: warm every decoder up before timing any of them.
  if (others.length > 0) for (const kind of [decoder, ...others]) await run(kind, false, Math.min(maxNewTokens, 256));
  if (flags.profile) {
    if (!model.device.hasTimestamps) throw new UsageError(`--profile: the adapter ${model.device.name} cannot time kernels (no timestamp-query)`);
    if (others.length === 0) await run(decoder, false, Math.min(maxNewTokens, 256)); // compile kernels outside the profile
    model.device.startProfile();
  }
  if (streamText && prompt) process.stdout.write(prompt);
  const before = { ...model.device.stats };
  const result = await run(decoder, streamText);
  if (flags.profile) {
    const report = await model.device.stopProfile();
    const steps = Math.max(1, result.steps);
    process.stderr.write(`GPU time per kernel over ${result.steps} steps (ms per step; each dispatch in its own timed pass, so slower than a plain run):\n`);
    const perStep = { ...report, totalMs: report.totalMs / steps, kernels: report.kernels.map((k) => ({ ...k, ms: k.ms / steps, calls: k.calls / steps })) };
    process.stderr.write(formatProfile(perStep, 30) + '\n');
    const after = model.device.stats;
    const per = (k: keyof typeof after) => ((after[k] - before[k]) / steps).toFixed(1);
    process.stderr.write(`per step: ${per('dispatches')} dispatches, ${per('submits')} submits, ${per('readbacks')} read-backs, ${per('bindGroups')} bind groups and ${per('pipelines')} pipelines created\n`);
  }
  if (streamText) process.stdout.write('\n');
  const compared: Array<[DecoderKind, GenerateResult]> = [[decoder, result]];
  for (const kind of others) compared.push([kind, await run(kind, false)]);

  if (flags.json) {
    const { text, tokenIds, promptTokens, steps, elapsedMs, tokensPerSecond, meanAcceptedLength, acceptedPerStep } = result;
    const json: Record<string, unknown> = {
      text, tokenIds, promptTokens, steps, elapsedMs, tokensPerSecond, meanAcceptedLength, acceptedPerStep,
      decoder, tree: treeName(decoder), verifier: verifier.kind, device: model.device.name,
      acceptanceByDepth: result.acceptanceByDepth, stopReason: result.stopReason, timing: result.timing,
    };
    if (compared.length > 1) {
      json.compare = Object.fromEntries(compared.map(([k, r]) => [k, { tokensPerSecond: r.tokensPerSecond, meanAcceptedLength: r.meanAcceptedLength, steps: r.steps, sameText: r.text === result.text }]));
    }
    process.stdout.write(JSON.stringify(json) + '\n');
  } else {
    const ar = compared.find(([k]) => k === 'ar')?.[1];
    for (const [kind, r] of compared) {
      const speed = ar && kind !== 'ar' && ar.tokensPerSecond > 0 ? `  ${(r.tokensPerSecond / ar.tokensPerSecond).toFixed(2)}× AR` : '';
      process.stderr.write(
        `[${kind.padEnd(7)}] ${r.tokenIds.length} tokens, ${r.steps} steps, τ = ${r.meanAcceptedLength.toFixed(2)}, ` +
          `${r.tokensPerSecond.toFixed(1)} tokens/s${speed}` +
          `${kind !== 'ar' ? `  (tree ${treeName(kind)}, ${verifier.kind})` : ''}\n`,
      );
    }
    process.stderr.write(`device: ${deviceLine(model.device.name)}\n`);
  }
  model.dispose();
}
