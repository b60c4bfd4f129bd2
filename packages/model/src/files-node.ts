// Node: files on disk through node:fs (chosen by the "#files" import map in package.json).
import { readFileSync, statSync, type Stats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';

/** What stat says of a path: its kind and size. */
export interface FileStat {
  /** 'file' for a regular file, else what it is ('a directory', 'a FIFO', ...) for messages. */
  kind: string;
  size: number;
}

function describeStat(st: Stats): FileStat {
  const kind = st.isFile()
    ? 'file'
    : st.isDirectory()
      ? 'a directory'
      : st.isCharacterDevice()
        ? 'a character device'
        : st.isBlockDevice()
          ? 'a block device'
          : st.isFIFO()
            ? 'a FIFO'
            : st.isSocket()
              ? 'a socket'
              : 'not a regular file';
  return { kind, size: st.size };
}

function asBytes(buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

export async function statFile(path: string): Promise<FileStat> {
  return describeStat(await stat(path));
}

export function statFileSync(path: string): FileStat {
  return describeStat(statSync(path));
}

export async function readWholeFile(path: string): Promise<Uint8Array> {
  return asBytes(await readFile(path));
}

export function readWholeFileSync(path: string): Uint8Array {
  return asBytes(readFileSync(path));
}

export async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
