// Browsers: tuned trees in localStorage; in a Web Worker (no localStorage) in Cache Storage; in memory where there is neither.
import { OptionError } from '@hydra-ts/tensor';
import { cacheStorageTreeStore, memoryTreeStore, webStorageTreeStore, type ResponseCacheLike, type TreeStore } from './tree-store';

export function defaultTreeCacheDir(): string {
  return 'localStorage';
}

export function fileTreeStore(): TreeStore {
  throw new OptionError('fileTreeStore: no file system in a browser; use webStorageTreeStore or memoryTreeStore');
}

let fallback: TreeStore | null = null;

/** localStorage when the page has it, else Cache Storage (workers), else memory; `cacheDir` has no meaning here. */
export function platformTreeStore(_cacheDir?: string): TreeStore {
  const storage = (globalThis as { localStorage?: Storage }).localStorage;
  if (storage) return webStorageTreeStore(storage);
  const caches = (globalThis as { caches?: { open(name: string): Promise<ResponseCacheLike> } }).caches;
  if (caches) return (fallback ??= cacheStorageTreeStore(caches.open('hydra-ts-trees'), "Cache Storage 'hydra-ts-trees'"));
  return (fallback ??= memoryTreeStore());
}

export function driverSettings(): Record<string, string> {
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number; userAgent?: string } }).navigator;
  return { cpus: String(nav?.hardwareConcurrency ?? 0), userAgent: nav?.userAgent ?? '' };
}
