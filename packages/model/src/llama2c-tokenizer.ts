// The llama2.c tokenizer file and its BPE: start from UTF-8 characters (or raw bytes when a
// character is not in the vocabulary) and repeatedly merge the adjacent pair whose concatenation
// is the highest-scoring vocabulary entry, as llama2.c run.c does.
import { mergeBestPairs } from './bpe-merge';
import { TokenizerError, TokenLimitError } from './errors';
import type { EncodeOptions, StreamDecoder, Tokenizer } from './tokenizer';

const BYTE_PIECE = /^<0x([0-9A-F]{2})>$/;
const MAX_VOCAB = 1 << 22;

/** Bytes as a 1:1 binary string, usable as a Map key. */
function binaryKey(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return s;
}

export class Llama2cTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosId = 1;
  readonly eosId = 2;
  readonly eosIds: readonly number[] = [2];
  readonly maxTokenLength: number;
  /** Raw bytes of each piece (llama2.c stores SentencePiece's '▁' as a plain space). */
  readonly pieces: Uint8Array[];
  readonly scores: Float32Array; // [vocabSize]
  /** What each id prints as: the byte itself for <0xNN> pieces, else the piece. */
  private readonly output: Uint8Array[];
  private readonly lookup = new Map<string, number>();
  /** Each piece as a binary string (the lookup's key), so a pair's key is one concatenation. */
  private readonly keys: string[];
  /** The most text bytes one token can stand for (byte pieces stand for one). */
  private readonly maxPieceBytes: number;
  /** Id of the <0xNN> piece of each byte (ids 3..258 in llama2.c files), or unk (0) when absent. */
  private readonly byteIds: Int32Array; // [256]

  constructor(pieces: Uint8Array[], scores: Float32Array, maxTokenLength: number) {
    if (pieces.length < 3) throw new TokenizerError(`tokenizer has ${pieces.length} pieces, expected at least 3 (unk, bos, eos)`);
    this.vocabSize = pieces.length;
    this.pieces = pieces;
    this.scores = scores;
    this.maxTokenLength = maxTokenLength;
    this.output = pieces.map((p) => {
      const m = p.length === 6 ? BYTE_PIECE.exec(binaryKey(p)) : null;
      return m ? Uint8Array.of(parseInt(m[1], 16)) : p;
    });
    this.keys = pieces.map(binaryKey);
    // First id wins on duplicate pieces, as a sorted binary search would usually find it.
    this.keys.forEach((k, id) => {
      if (!this.lookup.has(k)) this.lookup.set(k, id);
    });
    this.maxPieceBytes = pieces.reduce((m, p) => Math.max(m, p.length), 1);
    this.byteIds = Int32Array.from({ length: 256 }, (_, b) => this.lookup.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`) ?? 0);
  }

  /**
   * Parses a llama2.c tokenizer file: int32 max_token_length, then for each of `vocabSize` tokens
   * (or until the end of the file when omitted) f32 score, int32 length, bytes.
   */
  static fromBytes(bytes: Uint8Array, name = 'tokenizer', vocabSize?: number): Llama2cTokenizer {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.byteLength < 4) throw new TokenizerError(`${name}: ${bytes.byteLength} bytes, expected a 4-byte max_token_length header`);
    const maxTokenLength = view.getInt32(0, true);
    if (maxTokenLength < 1 || maxTokenLength > 1 << 16) {
      throw new TokenizerError(`${name}: max_token_length = ${maxTokenLength}, expected an integer in [1, 65536]`);
    }
    const pieces: Uint8Array[] = [];
    const scores: number[] = [];
    let o = 4;
    while (vocabSize === undefined ? o < bytes.byteLength : pieces.length < vocabSize) {
      const id = pieces.length;
      if (id >= MAX_VOCAB) throw new TokenizerError(`${name}: more than ${MAX_VOCAB} tokens`);
      if (o + 8 > bytes.byteLength) {
        throw new TokenizerError(`${name}: truncated at token ${id} (byte ${o}), expected an 8-byte score/length record`);
      }
      const score = view.getFloat32(o, true);
      const len = view.getInt32(o + 4, true);
      if (!Number.isFinite(score)) throw new TokenizerError(`${name}: token ${id} has score ${score}, expected a finite number`);
      if (len < 0 || len > maxTokenLength) {
        throw new TokenizerError(`${name}: token ${id} has length ${len}, expected [0, max_token_length = ${maxTokenLength}]`);
      }
      if (o + 8 + len > bytes.byteLength) {
        throw new TokenizerError(`${name}: truncated in token ${id}: needs ${len} bytes at byte ${o + 8}, file has ${bytes.byteLength}`);
      }
      scores.push(score);
      pieces.push(Uint8Array.prototype.slice.call(bytes, o + 8, o + 8 + len));
      o += 8 + len;
    }
    if (vocabSize !== undefined && o !== bytes.byteLength) {
      throw new TokenizerError(`${name}: ${bytes.byteLength - o} bytes left after ${vocabSize} tokens, expected the file to end`);
    }
    return new Llama2cTokenizer(pieces, Float32Array.from(scores), maxTokenLength);
  }

  /** The file format read by fromBytes. */
  toBytes(): Uint8Array {
    const size = 4 + this.pieces.reduce((n, p) => n + 8 + p.length, 0);
    const out = new Uint8Array(size);
    const view = new DataView(out.buffer);
    view.setInt32(0, this.maxTokenLength, true);
    let o = 4;
    this.pieces.forEach((p, i) => {
      view.setFloat32(o, this.scores[i], true);
      view.setInt32(o + 4, p.length, true);
      out.set(p, o + 8);
      o += 8 + p.length;
    });
    return out;
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const bos = opts.bos || opts.addSpecialTokens;
    const utf8 = new TextEncoder();
    // SentencePiece's dummy prefix: the text is encoded as if it began with a space.
    const prefix = text.length > 0 ? this.lookup.get(' ') : undefined;
    if (opts.maxTokens !== undefined) {
      // No token covers more than maxPieceBytes bytes of the text, so this many tokens at least
      // are needed: an over-long text is rejected before any merging.
      const bytes = utf8.encode(text).length + (prefix !== undefined ? 1 : 0);
      const atLeast = (bos ? 1 : 0) + Math.ceil(bytes / this.maxPieceBytes) + (opts.eos ? 1 : 0);
      if (atLeast > opts.maxTokens) throw new TokenLimitError(opts.maxTokens, atLeast);
    }
    const tokens: number[] = [];
    if (bos) tokens.push(this.bosId);
    if (prefix !== undefined) tokens.push(prefix);
    for (const ch of text) {
      const bytes = utf8.encode(ch);
      const id = this.lookup.get(binaryKey(bytes));
      if (id !== undefined) {
        tokens.push(id);
      } else {
        for (const b of bytes) tokens.push(this.byteIds[b]);
      }
    }
    const merged = this.merge(tokens, bos ? 1 : 0);
    if (opts.eos) merged.push(this.eosId);
    if (opts.maxTokens !== undefined && merged.length > opts.maxTokens) throw new TokenLimitError(opts.maxTokens, merged.length);
    return merged;
  }

  /** run.c's merge loop over tokens[from..]: the highest-scoring pair first, the leftmost on ties. */
  private merge(tokens: number[], from: number): number[] {
    const merged = mergeBestPairs(tokens.slice(from), (a, b) => {
      const id = this.lookup.get(this.keys[a] + this.keys[b]);
      return id === undefined ? undefined : { score: this.scores[id], merged: id };
    });
    return [...tokens.slice(0, from), ...merged];
  }

  /** Bytes that `id` prints after `prev`; the space after BOS is dropped as llama2.c does. */
  private pieceBytes(prev: number, id: number): Uint8Array {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new TokenizerError(`token id ${id} is outside the vocabulary [0, ${this.vocabSize})`);
    }
    if (id === this.bosId || id === this.eosId) return new Uint8Array(0);
    const out = this.output[id];
    if (prev === this.bosId && out[0] === 0x20) return out.subarray(1);
    return out;
  }

  decode(ids: readonly number[]): string {
    const parts: Uint8Array[] = [];
    let prev = -1;
    for (const id of ids) {
      parts.push(this.pieceBytes(prev, id));
      prev = id;
    }
    const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) {
      all.set(p, o);
      o += p.length;
    }
    return new TextDecoder().decode(all);
  }

  createStreamDecoder(context: readonly number[] = []): StreamDecoder {
    for (const id of context) this.pieceBytes(-1, id); // range check
    const utf8 = new TextDecoder();
    let prev = context.length > 0 ? context[context.length - 1] : -1;
    return {
      push: (id) => {
        const bytes = this.pieceBytes(prev, id);
        prev = id;
        return utf8.decode(bytes, { stream: true });
      },
      flush: () => utf8.decode(),
    };
  }
}
