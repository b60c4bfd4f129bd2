// defaultTreeFor: the tree to decode with when the caller names none. Tuned for this (device,
// model, dtype, heads) on first use and kept in a store under a hash of all four, so a new
// driver, adapter, thread setting, weights file or heads file is a new key and is tuned afresh.
import { OptionError, type Device } from '@hydra-ts/tensor';
import type { LlamaModel } from '@hydra-ts/model';
import type { DraftHead } from '@hydra-ts/heads';
import { CandidateTree, rootOnly, type CandidateTreeJSON } from '@hydra-ts/tree';
import { driverSettings, platformTreeStore } from '#tree-store';
import type { TreeStore } from './tree-store';
import { tuneTree, type TunedTree, type TuneOptions, type TuneProgress } from './tune-tree';

/** Bumped when the tuner's measurements or choice change, so old entries are tuned afresh. */
export const TUNED_TREE_VERSION = 2; // 2: a 10 % margin over AR in the check runs, on 4 prompts

/** What a tuned tree depends on; its hash is the cache key. */
export interface TreeKeyParts {
  version: number;
  device: Record<string, string>;
  /** The model's files (e.g. name, size and mtime of config and weights; content hash of small ones). */
  model: string;
  dtype: string;
  /** The heads file (or what the head is, when it has none). */
  head: string;
}

/** A tuned tree as stored. */
export interface TunedTreeRecord {
  format: 'hydra-ts-tuned-tree';
  key: string;
  parts: TreeKeyParts;
  tree: CandidateTreeJSON;
  ar: boolean;
  tunedAt: string;
  tuning: Omit<TunedTree, 'tree'>;
}

export interface DefaultTreeOptions {
  /** Where tuned trees are kept; default files in `cacheDir` in Node, localStorage in a browser. */
  store?: TreeStore;
  /** Node: the directory of the default file store (default $HYDRA_CACHE_DIR/trees, else ~/.cache/hydra-ts/trees). */
  cacheDir?: string;
  /** Identifies the model's files; default the model's config, format and dtype (pass file fingerprints when loading from files). */
  modelId?: string;
  /** Identifies the heads; default the head's name, depth and kind (pass the heads file's fingerprint). */
  headId?: string;
  /** Options of the tuning run on a miss. Default budget 5 s. */
  tune?: TuneOptions;
  /** One line per tuning phase, e.g. to stderr. Nothing is reported on a hit. */
  onProgress?: (line: string) => void;
  /** Tune even when the store has an entry (it is then replaced). */
  retune?: boolean;
  /** The tuner (tests replace it). */
  tuner?: (model: LlamaModel, head: DraftHead, opts: TuneOptions) => Promise<TunedTree>;
}

export interface DefaultTree {
  /** The tree to decode with; the root alone when `ar`. */
  tree: CandidateTree;
  /** Plain AR is fastest here: decode without the head. */
  ar: boolean;
  /** Read from the store rather than tuned now. */
  cached: boolean;
  key: string;
  where: string;
  record: TunedTreeRecord;
}

/** The adapter and the driver settings a tuned tree is only valid for. */
export function deviceKeyParts(device: Device): Record<string, string> {
  const a = device.adapter;
  return {
    vendor: a.vendor,
    architecture: a.architecture,
    device: a.device,
    description: a.description,
    platform: a.platform,
    f16: String(device.hasF16),
    subgroups: device.subgroups ? `${device.subgroups.minSize}-${device.subgroups.maxSize}` : 'none',
    flushEvery: String(device.flushEvery),
    ...driverSettings(),
  };
}

/** The key parts of (model, head) on the model's device. */
export function treeKeyParts(model: LlamaModel, head: DraftHead, ids: { modelId?: string; headId?: string } = {}): TreeKeyParts {
  return {
    version: TUNED_TREE_VERSION,
    device: deviceKeyParts(model.device),
    model: ids.modelId ?? `${model.format} ${JSON.stringify(model.config)}`,
    dtype: model.dtype,
    head: ids.headId ?? `${head.name} depth ${head.depth}${head.sequential ? ' sequential' : ''}`,
  };
}

/** JSON with object keys sorted, so equal parts always hash alike. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Hex SHA-256 of `text` (WebCrypto, in Node and browsers alike). */
export async function sha256Hex(text: string | Uint8Array): Promise<string> {
  const bytes = typeof text === 'string' ? new TextEncoder().encode(text) : text;
  const digest = await crypto.subtle.digest('SHA-256', bytes as BufferSource);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** The cache key of these parts: 32 hex digits of their SHA-256. */
export async function treeKey(parts: TreeKeyParts): Promise<string> {
  return (await sha256Hex(canonical(parts))).slice(0, 32);
}

/** A stored record for these parts, or null when the entry is missing, unreadable or for other parts. */
function readRecord(text: string | null, key: string, parts: TreeKeyParts): TunedTreeRecord | null {
  if (text === null) return null;
  try {
    const r = JSON.parse(text) as TunedTreeRecord;
    if (r.format !== 'hydra-ts-tuned-tree' || r.key !== key || canonical(r.parts) !== canonical(parts)) return null;
    if (!r.ar) CandidateTree.fromJSON(r.tree); // a damaged tree is tuned afresh
    return r;
  } catch {
    return null;
  }
}

function treeOf(r: TunedTreeRecord): CandidateTree {
  return r.ar ? rootOnly() : CandidateTree.fromJSON(r.tree);
}

function progressLine(p: TuneProgress): string {
  return `tuning the tree for this device [${p.done}/${p.total}] ${p.message}`;
}

/**
 * The tree `head` should decode with on this device: read from the store, or tuned now (a few
 * seconds, reported through onProgress) and stored. When the result says `ar`, decoding without
 * the head is fastest here.
 */
export async function defaultTreeFor(model: LlamaModel, head: DraftHead, opts: DefaultTreeOptions = {}): Promise<DefaultTree> {
  if (!model || !head) throw new OptionError('defaultTreeFor: expected a model and a draft head');
  const store = opts.store ?? platformTreeStore(opts.cacheDir);
  const parts = treeKeyParts(model, head, opts);
  const key = await treeKey(parts);
  if (!opts.retune) {
    const hit = readRecord(await store.get(key), key, parts);
    if (hit) return { tree: treeOf(hit), ar: hit.ar, cached: true, key, where: store.where, record: hit };
  }
  const tuner = opts.tuner ?? tuneTree;
  const onProgress = opts.onProgress;
  const tuned = await tuner(model, head, {
    budgetMs: 5000,
    ...opts.tune,
    onProgress: (p) => {
      opts.tune?.onProgress?.(p);
      onProgress?.(progressLine(p));
    },
  });
  const { tree, ...tuning } = tuned;
  const record: TunedTreeRecord = { format: 'hydra-ts-tuned-tree', key, parts, tree: tree.toJSON(), ar: tuned.ar, tunedAt: new Date().toISOString(), tuning };
  await store.set(key, JSON.stringify(record) + '\n');
  onProgress?.(
    `tuned in ${(tuned.elapsedMs / 1000).toFixed(1)} s: ${tuned.ar ? 'plain AR (no tree pays on this device)' : `${tree.size - 1} nodes, depth ${tree.depth}`}; kept in ${store.where}`,
  );
  return { tree: treeOf(record), ar: tuned.ar, cached: false, key, where: store.where, record };
}
