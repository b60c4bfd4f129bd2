// Training corpora: token files (what `hydra distill` writes), JSONL and plain text, all turned
// into token sequences of at most `length` tokens for the trainer.
//
// Token file (little-endian):
//   bytes 0..3   magic "HTOK"
//   u32          version (1)
//   u32          vocabSize of the tokenizer the ids belong to
//   u32          n, the number of sequences
//   u32[n]       length of each sequence
//   i32[Σ len]   the ids, sequences one after another
import { HydraError } from '@hydra-ts/tensor';
import type { Tokenizer } from '@hydra-ts/model';

/** A corpus file that cannot be read as one: bad magic, truncated, ids outside the vocabulary, bad JSON. */
export class DataError extends HydraError {}

export interface TokenCorpus {
  vocabSize: number;
  sequences: Int32Array[];
}

export const TOKEN_FILE_MAGIC = 'HTOK';
export const TOKEN_FILE_VERSION = 1;

export function encodeTokenFile(corpus: TokenCorpus): Uint8Array {
  const total = corpus.sequences.reduce((a, s) => a + s.length, 0);
  const out = new Uint8Array(16 + 4 * corpus.sequences.length + 4 * total);
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode(TOKEN_FILE_MAGIC), 0);
  view.setUint32(4, TOKEN_FILE_VERSION, true);
  view.setUint32(8, corpus.vocabSize, true);
  view.setUint32(12, corpus.sequences.length, true);
  let o = 16;
  for (const s of corpus.sequences) {
    view.setUint32(o, s.length, true);
    o += 4;
  }
  for (const s of corpus.sequences) {
    for (const id of s) {
      view.setInt32(o, id, true);
      o += 4;
    }
  }
  return out;
}

export function isTokenFile(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && new TextDecoder().decode(bytes.subarray(0, 4)) === TOKEN_FILE_MAGIC;
}

export function decodeTokenFile(bytes: Uint8Array, file = 'token file'): TokenCorpus {
  if (!isTokenFile(bytes)) throw new DataError(`${file}: not a token file (expected the magic "${TOKEN_FILE_MAGIC}" in its first 4 bytes)`);
  if (bytes.length < 16) throw new DataError(`${file}: truncated header (${bytes.length} bytes, expected at least 16)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(4, true);
  if (version !== TOKEN_FILE_VERSION) throw new DataError(`${file}: version ${version}, expected ${TOKEN_FILE_VERSION}`);
  const vocabSize = view.getUint32(8, true);
  const n = view.getUint32(12, true);
  if (vocabSize < 1) throw new DataError(`${file}: vocabSize 0, expected at least 1`);
  if (16 + 4 * n > bytes.length) throw new DataError(`${file}: header lists ${n} sequences but the file has only ${bytes.length} bytes`);
  const lengths: number[] = [];
  let total = 0;
  for (let i = 0; i < n; i++) {
    const len = view.getUint32(16 + 4 * i, true);
    lengths.push(len);
    total += len;
  }
  const expected = 16 + 4 * n + 4 * total;
  if (bytes.length !== expected) throw new DataError(`${file}: ${bytes.length} bytes, expected ${expected} for ${n} sequences of ${total} tokens in all`);
  const sequences: Int32Array[] = [];
  let o = 16 + 4 * n;
  for (let i = 0; i < n; i++) {
    const s = new Int32Array(lengths[i]);
    for (let j = 0; j < s.length; j++, o += 4) {
      const id = view.getInt32(o, true);
      if (id < 0 || id >= vocabSize) throw new DataError(`${file}: sequence ${i} token ${j} = ${id} is outside the vocabulary [0, ${vocabSize})`);
      s[j] = id;
    }
    sequences.push(s);
  }
  return { vocabSize, sequences };
}

/**
 * JSONL: one sequence per line, either an array of ids, {"tokens": [ids]}, or {"text": "..."}
 * (encoded with BOS by `tokenizer`). Blank lines are skipped.
 */
export function parseJsonlCorpus(text: string, vocabSize: number, tokenizer: Tokenizer | undefined, file = 'JSONL corpus'): TokenCorpus {
  const sequences: Int32Array[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `${file}:${i + 1}`;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new DataError(`${where}: not JSON (${(e as Error).message})`, { cause: e });
    }
    let ids: unknown = v;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      if (typeof o.text === 'string') {
        if (!tokenizer) throw new DataError(`${where}: a "text" line needs the model's tokenizer`);
        ids = tokenizer.encode(o.text, { bos: true });
      } else ids = o.tokens;
    }
    if (!Array.isArray(ids)) throw new DataError(`${where}: expected an array of token ids, {"tokens": [...]} or {"text": "..."}`);
    // Checked before the conversion: Int32Array.from turns a nested array into a number by
    // joining it, which a deeply nested line makes overflow the stack.
    ids.forEach((id, j) => {
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= vocabSize) {
        throw new DataError(`${where}: token ${j} = ${typeof id === 'number' || typeof id === 'string' ? JSON.stringify(id).slice(0, 40) : Array.isArray(id) ? 'an array' : String(typeof id)} is not an id in [0, ${vocabSize})`);
      }
    });
    const s = Int32Array.from(ids as number[]);
    if (s.length > 0) sequences.push(s);
  });
  if (sequences.length === 0) throw new DataError(`${file}: no sequences`);
  return { vocabSize, sequences };
}

/** Plain text: each non-blank line is one sequence, encoded with BOS. */
export function parseTextCorpus(text: string, tokenizer: Tokenizer, file = 'text corpus'): TokenCorpus {
  const sequences = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
    .map((l) => Int32Array.from(tokenizer.encode(l, { bos: true })));
  if (sequences.length === 0) throw new DataError(`${file}: no non-blank lines`);
  return { vocabSize: tokenizer.vocabSize, sequences };
}

/** Any corpus file's bytes: a token file by its magic, JSONL by its name (or a first line starting with [ or {), else text. */
export function parseCorpus(bytes: Uint8Array, file: string, vocabSize: number, tokenizer?: Tokenizer): TokenCorpus {
  if (isTokenFile(bytes)) {
    const c = decodeTokenFile(bytes, file);
    if (c.vocabSize > vocabSize) throw new DataError(`${file}: token ids from a vocabulary of ${c.vocabSize}, the model has ${vocabSize}`);
    return c;
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e) {
    throw new DataError(`${file}: neither a token file nor UTF-8 text`, { cause: e });
  }
  const first = text.trimStart()[0];
  if (file.endsWith('.jsonl') || first === '[' || first === '{') return parseJsonlCorpus(text, vocabSize, tokenizer, file);
  if (!tokenizer) throw new DataError(`${file}: a text corpus needs the model's tokenizer`);
  return parseTextCorpus(text, tokenizer, file);
}

/**
 * Training windows: each sequence cut into consecutive pieces of at most `length` tokens;
 * pieces shorter than `minLength` (too short to give any head a target) are dropped.
 */
export function windows(corpus: TokenCorpus, length: number, minLength = 3): Int32Array[] {
  if (!Number.isInteger(length) || length < minLength) throw new DataError(`windows: length ${length}, expected an integer >= ${minLength}`);
  const out: Int32Array[] = [];
  for (const s of corpus.sequences) {
    for (let at = 0; at < s.length; at += length) {
      const w = s.subarray(at, Math.min(s.length, at + length));
      if (w.length >= minLength) out.push(w);
    }
  }
  return out;
}
