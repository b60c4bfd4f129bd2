// Browsers have no file system: nodeFileSource (and loading by path) says so; httpFileSource reads URLs.
const NO_FILES = 'reading files by path needs Node (node:fs); in a browser load the model from a URL (httpFileSource) or from bytes (memoryFileSource)';

export async function readWholeFile(path: string): Promise<Uint8Array> {
  throw new Error(`${path}: ${NO_FILES}`);
}

export async function isFile(_path: string): Promise<boolean> {
  return false;
}
