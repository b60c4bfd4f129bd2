// Where model files come from. Loaders read through this interface so the same code runs in Node
// (files on disk), browsers (fetch) and tests (bytes in memory). Nothing is read before it is
// known to be a file of bounded size: a path to /dev/zero, a FIFO or a directory is refused
// from its stat, and a file larger than the reader's limit is refused before any byte is read.
import { isFile, listDirectory, readWholeFile, readWholeFileSync, statFile, statFileSync, type FileStat } from '#files';
import { FileSourceError } from './errors';

export interface ReadOptions {
  /** Largest size accepted, in bytes; a larger file is refused before it is read. */
  maxBytes?: number;
  /** What the file should be, for messages (e.g. "a tree JSON file"); default "a regular file". */
  expected?: string;
}

export interface FileSource {
  /** The whole file; throws FileSourceError when it cannot be read, is not a regular file or exceeds opts.maxBytes. */
  read(name: string, opts?: ReadOptions): Promise<Uint8Array>;
  exists(name: string): Promise<boolean>;
  /** A human-readable location for error messages (a path or URL). */
  describe(name: string): string;
}

function joinPath(dir: string, name: string): string {
  if (dir === '' || dir === '.') return name;
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

export function formatBytes(n: number): string {
  if (n < 1 << 10) return `${n} bytes`;
  if (n < 1 << 20) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  if (n < 1 << 30) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  return `${(n / (1 << 30)).toFixed(2)} GiB`;
}

/** Refuses what stat says cannot be read as a bounded file. */
function checkStat(path: string, st: FileStat, opts: ReadOptions): void {
  const expected = opts.expected ?? 'a regular file';
  if (st.kind !== 'file') throw new FileSourceError(`${path}: is ${st.kind}, expected ${expected}`);
  if (opts.maxBytes !== undefined && st.size > opts.maxBytes) {
    throw new FileSourceError(`${path}: ${formatBytes(st.size)}, larger than the ${formatBytes(opts.maxBytes)} accepted for ${expected}`);
  }
}

/**
 * Reads a local file synchronously after checking it is a regular file within opts.maxBytes.
 * For Node callers that parse options before any async work (the CLI, training checkpoints).
 */
export function readFileChecked(path: string, opts: ReadOptions = {}): Uint8Array {
  let st: FileStat;
  try {
    st = statFileSync(path);
  } catch (e) {
    throw new FileSourceError(`cannot read ${path}: ${(e as Error).message}; expected ${opts.expected ?? 'a regular file'}`, { cause: e });
  }
  checkStat(path, st, opts);
  try {
    return readWholeFileSync(path);
  } catch (e) {
    throw new FileSourceError(`cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/** Files under a directory on disk (Node; browser bundles get a stand-in that says it cannot read them). */
export function nodeFileSource(dir: string): FileSource {
  return {
    describe: (name) => joinPath(dir, name),
    async read(name, opts = {}) {
      const path = joinPath(dir, name);
      let st: FileStat;
      try {
        st = await statFile(path);
      } catch (e) {
        throw new FileSourceError(`cannot read ${path}: ${(e as Error).message}`, { cause: e });
      }
      checkStat(path, st, opts);
      try {
        return await readWholeFile(path);
      } catch (e) {
        throw new FileSourceError(`cannot read ${path}: ${(e as Error).message}`, { cause: e });
      }
    },
    async exists(name) {
      return isFile(joinPath(dir, name));
    },
  };
}

/** Files held in memory, e.g. the output of convertLlama2cToHf. */
export function memoryFileSource(files: Map<string, Uint8Array> | Record<string, Uint8Array>, label = 'memory'): FileSource {
  const map = files instanceof Map ? files : new Map(Object.entries(files));
  return {
    describe: (name) => `${label}:${name}`,
    async read(name, opts = {}) {
      const f = map.get(name);
      if (!f) throw new FileSourceError(`cannot read ${label}:${name}: no such file`);
      if (opts.maxBytes !== undefined && f.byteLength > opts.maxBytes) {
        throw new FileSourceError(`${label}:${name}: ${formatBytes(f.byteLength)}, larger than the ${formatBytes(opts.maxBytes)} accepted for ${opts.expected ?? 'this file'}`);
      }
      return f;
    },
    async exists(name) {
      return map.has(name);
    },
  };
}

/**
 * What a local path is (Node): 'file', 'directory', another kind ('a FIFO', ...), or 'missing'.
 * In a browser there are no local paths: every path is 'missing'.
 */
export async function localPathKind(path: string): Promise<string> {
  try {
    const st = await statFile(path);
    return st.kind === 'a directory' ? 'directory' : st.kind;
  } catch {
    return 'missing';
  }
}

/** The names in a local directory (Node); FileSourceError when it cannot be listed. */
export async function listLocalDirectory(path: string): Promise<string[]> {
  try {
    return await listDirectory(path);
  } catch (e) {
    throw new FileSourceError(`cannot list ${path}: ${(e as Error).message}`, { cause: e });
  }
}
