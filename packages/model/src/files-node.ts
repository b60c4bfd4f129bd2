// Node: files on disk through node:fs (chosen by the "#files" import map in package.json).
import { readFile, stat } from 'node:fs/promises';

export async function readWholeFile(path: string): Promise<Uint8Array> {
  const buf = await readFile(path);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

export async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
