// Browsers have no file system: nodeFileSource (and loading by path) says so; httpFileSource reads URLs.
import type { FileStat } from './files-node';

const NO_FILES = 'reading files by path needs Node (node:fs); in a browser load the model from a URL (httpFileSource) or from bytes (memoryFileSource)';

export type { FileStat };

export async function statFile(path: string): Promise<FileStat> {
  throw new Error(`${path}: ${NO_FILES}`);
}

export function statFileSync(path: string): FileStat {
  throw new Error(`${path}: ${NO_FILES}`);
}

export async function readWholeFile(path: string): Promise<Uint8Array> {
  throw new Error(`${path}: ${NO_FILES}`);
}

export function readWholeFileSync(path: string): Uint8Array {
  throw new Error(`${path}: ${NO_FILES}`);
}

export async function isFile(_path: string): Promise<boolean> {
  return false;
}
