// Where model files come from. Loaders read through this interface so the same code runs in Node
// (files on disk), browsers (fetch) and tests (bytes in memory).
import { isFile, readWholeFile } from '#files';
import { FileSourceError } from './errors';

export interface FileSource {
  /** The whole file; throws FileSourceError when it cannot be read. */
  read(name: string): Promise<Uint8Array>;
  exists(name: string): Promise<boolean>;
  /** A human-readable location for error messages (a path or URL). */
  describe(name: string): string;
}

function joinPath(dir: string, name: string): string {
  if (dir === '' || dir === '.') return name;
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

/** Files under a directory on disk (Node; browser bundles get a stand-in that says it cannot read them). */
export function nodeFileSource(dir: string): FileSource {
  return {
    describe: (name) => joinPath(dir, name),
    async read(name) {
      const path = joinPath(dir, name);
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

/** Files under a base URL, fetched with the global fetch. */
export function httpFileSource(baseUrl: string, fetchFn: typeof fetch = globalThis.fetch): FileSource {
  const url = (name: string) => (baseUrl.endsWith('/') ? baseUrl + name : `${baseUrl}/${name}`);
  return {
    describe: url,
    async read(name) {
      let res: Response;
      try {
        res = await fetchFn(url(name));
      } catch (e) {
        throw new FileSourceError(`cannot fetch ${url(name)}: ${(e as Error).message}`, { cause: e });
      }
      if (!res.ok) throw new FileSourceError(`cannot fetch ${url(name)}: HTTP ${res.status}`);
      return new Uint8Array(await res.arrayBuffer());
    },
    async exists(name) {
      try {
        const res = await fetchFn(url(name), { method: 'HEAD' });
        return res.ok;
      } catch {
        return false;
      }
    },
  };
}

/** Files held in memory, e.g. the output of convertLlama2cToHf. */
export function memoryFileSource(files: Map<string, Uint8Array> | Record<string, Uint8Array>, label = 'memory'): FileSource {
  const map = files instanceof Map ? files : new Map(Object.entries(files));
  return {
    describe: (name) => `${label}:${name}`,
    async read(name) {
      const f = map.get(name);
      if (!f) throw new FileSourceError(`cannot read ${label}:${name}: no such file`);
      return f;
    },
    async exists(name) {
      return map.has(name);
    },
  };
}
