// Node: tuned trees as JSON files in $HYDRA_CACHE_DIR/trees or ~/.cache/hydra-ts/trees.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TreeStore } from './tree-store';

/** The directory tuned trees go to when no other is given. */
export function defaultTreeCacheDir(): string {
  const root = process.env.HYDRA_CACHE_DIR ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'hydra-ts');
  return path.join(root, 'trees');
}

/** One `<key>.json` file per entry in `dir` (created on first write; written atomically). */
export function fileTreeStore(dir: string = defaultTreeCacheDir()): TreeStore {
  const file = (key: string) => path.join(dir, `${key.replace(/[^A-Za-z0-9_-]/g, '_')}.json`);
  return {
    where: dir,
    async get(key) {
      try {
        return await readFile(file(key), 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw e;
      }
    },
    async set(key, value) {
      await mkdir(dir, { recursive: true });
      const tmp = `${file(key)}.${process.pid}.tmp`;
      await writeFile(tmp, value);
      await rename(tmp, file(key));
    },
  };
}

/** The platform's default store: files (cacheDir, else defaultTreeCacheDir()). */
export function platformTreeStore(cacheDir?: string): TreeStore {
  return fileTreeStore(cacheDir ?? defaultTreeCacheDir());
}

/** Settings of the driver that change a step's cost without changing the adapter's description. */
export function driverSettings(): Record<string, string> {
  return { LP_NUM_THREADS: process.env.LP_NUM_THREADS ?? 'default', cpus: String(os.cpus().length) };
}
