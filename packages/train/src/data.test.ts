// Corpus files: token-file round trip, JSONL and text corpora through the model's tokenizer,
// training windows, and bad files -> DataError naming the file and what was expected.
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Llama2cTokenizer } from '@hydra-ts/model';
import { readFileSync } from 'node:fs';
import { DataError, decodeTokenFile, encodeTokenFile, parseCorpus, parseJsonlCorpus, parseTextCorpus, windows } from './data';

const tokenizer = Llama2cTokenizer.fromBytes(new Uint8Array(readFileSync(fileURLToPath(new URL('../../../models/stories260K/tok512.bin', import.meta.url)))), 'tok512.bin', 512);

describe('token file', () => {
  it('round-trips any corpus (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 600 }), fc.array(fc.array(fc.nat(), { maxLength: 40 }), { maxLength: 12 }), (vocab, seqs) => {
        const sequences = seqs.map((s) => Int32Array.from(s, (x) => x % vocab));
        const back = decodeTokenFile(encodeTokenFile({ vocabSize: vocab, sequences }));
        expect(back.vocabSize).toBe(vocab);
        expect(back.sequences.map((s) => [...s])).toEqual(sequences.map((s) => [...s]));
      }),
      { numRuns: 50 },
    );
  });

  it('has the documented layout', () => {
    const bytes = encodeTokenFile({ vocabSize: 512, sequences: [Int32Array.from([1, 2, 3]), Int32Array.from([7])] });
    const view = new DataView(bytes.buffer);
    expect(new TextDecoder().decode(bytes.subarray(0, 4))).toBe('HTOK');
    expect([1, 2, 3].map((i) => view.getUint32(4 * i, true))).toEqual([1, 512, 2]);
    expect([view.getUint32(16, true), view.getUint32(20, true)]).toEqual([3, 1]);
    expect([0, 1, 2, 3].map((i) => view.getInt32(24 + 4 * i, true))).toEqual([1, 2, 3, 7]);
    expect(bytes.length).toBe(40);
  });

  it('rejects bad files with DataError', () => {
    const good = encodeTokenFile({ vocabSize: 10, sequences: [Int32Array.from([1, 2, 3])] });
    expect(() => decodeTokenFile(new Uint8Array([1, 2, 3, 4, 5]), 'x.bin')).toThrow(/x\.bin: not a token file/);
    expect(() => decodeTokenFile(good.subarray(0, 12), 'x.bin')).toThrow(/truncated header/);
    expect(() => decodeTokenFile(good.subarray(0, good.length - 4), 'x.bin')).toThrow(/x\.bin: 28 bytes, expected 32/);
    const bigId = good.slice();
    new DataView(bigId.buffer).setInt32(28, 10, true);
    expect(() => decodeTokenFile(bigId, 'x.bin')).toThrow(/token 2 = 10 is outside the vocabulary \[0, 10\)/);
    const version = good.slice();
    new DataView(version.buffer).setUint32(4, 9, true);
    expect(() => decodeTokenFile(version, 'x.bin')).toThrow(DataError);
    const many = good.slice();
    new DataView(many.buffer).setUint32(12, 1000, true);
    expect(() => decodeTokenFile(many, 'x.bin')).toThrow(/lists 1000 sequences/);
    expect(() => parseCorpus(good, 'x.bin', 5)).toThrow(/vocabulary of 10, the model has 5/);
  });
});

describe('JSONL and text corpora', () => {
  it('reads id arrays, {"tokens"} and {"text"} lines, skipping blank lines', () => {
    const c = parseJsonlCorpus('[1, 5, 9]\n\n{"tokens": [2, 3]}\n', 16, undefined, 'c.jsonl');
    expect(c.sequences.map((s) => [...s])).toEqual([[1, 5, 9], [2, 3]]);
    const t = parseJsonlCorpus('{"text": "Once upon a time"}\n', 512, tokenizer);
    expect([...t.sequences[0]]).toEqual(tokenizer.encode('Once upon a time', { bos: true }));
  });

  it('rejects bad JSONL with the line number', () => {
    expect(() => parseJsonlCorpus('[1, 2]\n[1, oops]\n', 16, undefined, 'c.jsonl')).toThrow(/c\.jsonl:2: not JSON/);
    expect(() => parseJsonlCorpus('[1, 20]\n', 16, undefined, 'c.jsonl')).toThrow(/c\.jsonl:1: token 1 = 20 is not an id in \[0, 16\)/);
    expect(() => parseJsonlCorpus('[1, 2.5]\n', 16, undefined, 'c.jsonl')).toThrow(DataError);
    expect(() => parseJsonlCorpus('{"foo": 1}\n', 16, undefined, 'c.jsonl')).toThrow(/expected an array of token ids/);
    expect(() => parseJsonlCorpus('{"text": "hi"}\n', 16, undefined, 'c.jsonl')).toThrow(/needs the model's tokenizer/);
    expect(() => parseJsonlCorpus('\n\n', 16, undefined, 'c.jsonl')).toThrow(/no sequences/);
  });

  it('tokenises text one line per sequence, and parseCorpus tells the formats apart', () => {
    const text = 'Once upon a time.\n\n  Lily saw a cat.  \n';
    const c = parseTextCorpus(text, tokenizer);
    expect(c.sequences.map((s) => [...s])).toEqual([tokenizer.encode('Once upon a time.', { bos: true }), tokenizer.encode('Lily saw a cat.', { bos: true })]);
    const enc = new TextEncoder();
    expect(parseCorpus(enc.encode(text), 'a.txt', 512, tokenizer).sequences.length).toBe(2);
    expect(parseCorpus(enc.encode('[1, 2]\n'), 'a.txt', 512, tokenizer).sequences[0].length).toBe(2);
    expect(() => parseCorpus(new Uint8Array([0xff, 0xfe, 0x00, 0x41]), 'b.txt', 512, tokenizer)).toThrow(/neither a token file nor UTF-8 text/);
    expect(() => parseCorpus(enc.encode('hello'), 'c.txt', 512)).toThrow(/needs the model's tokenizer/);
  });
});

describe('windows', () => {
  it('cuts sequences into consecutive pieces and drops pieces too short to train on', () => {
    const c = { vocabSize: 100, sequences: [Int32Array.from({ length: 10 }, (_, i) => i), Int32Array.from([50, 51])] };
    expect(windows(c, 4).map((w) => [...w])).toEqual([[0, 1, 2, 3], [4, 5, 6, 7]]);
    expect(windows(c, 4, 2).map((w) => [...w])).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9], [50, 51]]);
    expect(() => windows(c, 2)).toThrow(DataError);
  });
});
