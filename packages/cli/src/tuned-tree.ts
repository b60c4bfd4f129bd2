// The decoding commands' default tree: defaultTreeFor (decode) keyed by fingerprints of the
// model's and the heads' files, calibrated on the bundled calibration openings, with its progress
// on stderr. generate, bench and chat call tunedTreeFor when a head is given and --tree is not.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { defaultTreeFor, withStepCost, type DefaultTree, type TuneOptions } from '@hydra-ts/decode';
import type { DraftHead } from '@hydra-ts/heads';
import type { LlamaModel } from '@hydra-ts/model';
import { DynamicTree } from '@hydra-ts/tree';
import { checkTreeFits, type TreeSpec } from './options';
import { bundledPromptFile } from './paths';
import { readPrompts } from './commands/bench-parts/prompts';

/** Files up to this size are identified by their content's hash; larger ones by name, size and mtime. */
const HASH_LIMIT = 64 * 1024 * 1024;

/** What identifies one file: its name and content hash, or name, size and mtime when large. */
export function fileFingerprint(file: string): string {
  const st = statSync(file);
  const name = path.basename(file);
  if (st.size <= HASH_LIMIT) return `${name} sha256:${createHash('sha256').update(readFileSync(file)).digest('hex')}`;
  return `${name} ${st.size} bytes mtime ${st.mtimeMs}`;
}

/** The model's files: a llama2.c .bin (and its tokenizer beside it), or a Hugging Face directory's config, weights and tokenizer. */
export function modelFingerprint(modelPath: string): string {
  if (!existsSync(modelPath)) return modelPath;
  if (!statSync(modelPath).isDirectory()) return fileFingerprint(modelPath);
  const files = readdirSync(modelPath)
    .filter((f) => /^(config\.json|tokenizer\.json|tok.*\.bin|.*\.safetensors|.*\.bin)$/.test(f))
    .sort();
  return files.map((f) => fileFingerprint(path.join(modelPath, f))).join('; ');
}

export interface TunedTreeOptions {
  /** The heads file; identifies the heads in the cache key. */
  headFile?: string | null;
  /** Identifies heads that have no file (untrained or replayed heads). */
  headId?: string;
  /** Known acceptance rates (replayed heads): skips measuring them. */
  acceptance?: TuneOptions['acceptance'];
  /** Tree cache directory; default $HYDRA_CACHE_DIR/trees or ~/.cache/hydra-ts/trees. */
  cacheDir?: string;
  /** Default: one line per tuning phase on stderr. */
  onProgress?: (line: string) => void;
  /** Tune even when a tree is cached for this configuration. */
  retune?: boolean;
  /** Tuning options over the defaults (fewer rows and tokens for a slow model, say). */
  tune?: TuneOptions;
}

/** The tree `head` decodes fastest with on this device (tuned on first use, then cached); `ar` says decode without the head. */
export async function tunedTreeFor(model: LlamaModel, modelPath: string, head: DraftHead, opts: TunedTreeOptions = {}): Promise<DefaultTree> {
  const headId = opts.headId ?? (opts.headFile ? fileFingerprint(opts.headFile) : undefined);
  return defaultTreeFor(model, head, {
    cacheDir: opts.cacheDir,
    modelId: modelFingerprint(modelPath),
    headId,
    retune: opts.retune,
    tune: { prompts: readPrompts(bundledPromptFile('calibration.txt'), 8), acceptance: opts.acceptance, name: `tuned-${head.name}`, ...opts.tune },
    onProgress: opts.onProgress ?? ((line) => process.stderr.write(`${line}\n`)),
  });
}

/**
 * The head a decoding command runs with, and its tree: `given` (--tree, checked against the
 * model) or the tree tuned for the heads on this device. Where that is the root alone (no tree
 * beats AR here) the head is disposed and the command decodes as AR: { head: null }.
 */
export async function withDefaultTree(
  model: LlamaModel,
  modelPath: string,
  head: DraftHead | null,
  given: TreeSpec | null,
  spec: { tree?: string; headFile: string },
): Promise<{ head: DraftHead | null; tree: TreeSpec | undefined }> {
  if (!head) return { head: null, tree: undefined };
  if (given) checkTreeFits(given, 'tree', spec.tree, model.config);
  const tree = await treeForHead(model, modelPath, head, given, { headFile: spec.headFile });
  if (tree instanceof DynamicTree || tree.size > 1) return { head, tree };
  head.dispose?.();
  return { head: null, tree: undefined };
}

/**
 * The tree `head` decodes with: `given` as it is, a measured dynamic tree ('dynamic') with the
 * step cost of the tuning for these heads on this device, or with none given the tuned tree.
 */
export async function treeForHead(model: LlamaModel, modelPath: string, head: DraftHead, given: TreeSpec | null, opts: TunedTreeOptions = {}): Promise<TreeSpec> {
  if (given instanceof DynamicTree) {
    if (!given.measured || given.stepMs) return given;
    const tuned = await tunedTreeFor(model, modelPath, head, opts);
    return withStepCost(given, tuned.record.tuning.cost, given.depthFor(head.depth));
  }
  return given ?? (await tunedTreeFor(model, modelPath, head, opts)).tree;
}
