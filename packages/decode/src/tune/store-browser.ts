// Browsers: tuned trees in localStorage (memory where there is none, e.g. in a worker).
import { OptionError } from '@hydra-ts/tensor';
import { memoryTreeStore, webStorageTreeStore, type TreeStore } from './tree-store';

export function defaultTreeCacheDir(): string {
  return 'localStorage';
}

export function fileTreeStore(): TreeStore {
  throw new OptionError('fileTreeStore: no file system in a browser; use webStorageTreeStore or memoryTreeStore');
}

let fallback: TreeStore | null = null;

/** localStorage when the page has it; `cacheDir` has no meaning here. */
export function platformTreeStore(_cacheDir?: string): TreeStore {
  const storage = (globalThis as { localStorage?: Storage }).localStorage;
  if (storage) return webStorageTreeStore(storage);
  return (fallback ??= memoryTreeStore());
}

export function driverSettings(): Record<string, string> {
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number; userAgent?: string } }).navigator;
  return { cpus: String(nav?.hardwareConcurrency ?? 0), userAgent: nav?.userAgent ?? '' };
}
