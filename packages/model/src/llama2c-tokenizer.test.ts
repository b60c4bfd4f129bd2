import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TokenizerError, TokenLimitError } from './errors';
import { Llama2cTokenizer } from './llama2c-tokenizer';
import { HAVE_LLAMA2_TOKENIZER, LLAMA2_TOKENIZER_DIR, STORIES_DIR } from './testdata';

const tok512Bytes = readFileSync(`${STORIES_DIR}/tok512.bin`);
const tok = Llama2cTokenizer.fromBytes(tok512Bytes, 'tok512.bin', 512);
// Any text of Unicode scalar values, weighted toward ASCII (fc.string's 'binary' unit is slow to generate).
const unicodeText = fc
  .array(fc.oneof(fc.integer({ min: 0, max: 0x7f }), fc.integer({ min: 0x80, max: 0xd7ff }), fc.integer({ min: 0xe000, max: 0x10ffff })), { maxLength: 40 })
  .map((cps) => String.fromCodePoint(...cps));
const id = (piece: string) => tok.pieces.findIndex((p) => Buffer.from(p).toString('latin1') === Buffer.from(piece, 'utf8').toString('latin1'));

/**
 * run.c's encode written out plainly (strings in, a full scan for the best pair per merge): the
 * reference the heap-based merge must agree with, id for id.
 */
function runcEncode(t: Llama2cTokenizer, text: string): number[] {
  const key = (p: Uint8Array) => Buffer.from(p).toString('latin1');
  const lookup = new Map<string, number>();
  t.pieces.forEach((p, i) => lookup.has(key(p)) || lookup.set(key(p), i));
  const tokens: number[] = [];
  if (text.length > 0 && lookup.has(' ')) tokens.push(lookup.get(' ')!);
  for (const ch of text) {
    const k = Buffer.from(ch, 'utf8').toString('latin1');
    if (lookup.has(k)) tokens.push(lookup.get(k)!);
    else for (const b of Buffer.from(ch, 'utf8')) tokens.push(lookup.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`) ?? 0);
  }
  for (;;) {
    let best = -Infinity;
    let at = -1;
    let merged = -1;
    for (let i = 0; i + 1 < tokens.length; i++) {
      const id = lookup.get(key(t.pieces[tokens[i]]) + key(t.pieces[tokens[i + 1]]));
      if (id !== undefined && t.scores[id] > best) [best, at, merged] = [t.scores[id], i, id];
    }
    if (at < 0) return tokens;
    tokens.splice(at, 2, merged);
  }
}

describe('Llama2cTokenizer (tok512)', () => {
  it('reads the file: 512 pieces, control tokens and byte pieces where llama2.c puts them', () => {
    expect(tok.vocabSize).toBe(512);
    expect(tok.maxTokenLength).toBe(7);
    expect(new TextDecoder().decode(tok.pieces[1])).toBe('\n<s>\n');
    expect(new TextDecoder().decode(tok.pieces[3 + 0x41])).toBe('<0x41>');
    expect(new TextDecoder().decode(tok.pieces[259])).toBe(' t');
    expect(tok.scores[260]).toBe(-1);
  });

  it('encodes small cases to hand-checked ids', () => {
    expect(tok.encode('')).toEqual([]);
    expect(tok.encode('', { bos: true, eos: true })).toEqual([1, 2]);
    // ' ' + 'a' merge into the vocabulary entry ' a'.
    expect(tok.encode('a')).toEqual([id(' a')]);
    expect(tok.encode('a', { bos: true })).toEqual([1, id(' a')]);
    // ' '+'t'+'h'+'e': ' t' (score 0) merges first, then 'he' (-1) rather than ' th' (-49), then ' the' (-6).
    expect([id(' t'), id('he'), id(' th'), id(' the')]).toEqual([259, 260, 308, 265]);
    expect(tok.encode('the')).toEqual([265]);
    expect(tok.decode([1, 265])).toBe('the');
    expect(tok.decode([265])).toBe(' the');
  });

  it('merges the best-scoring pair first, leftmost on ties', () => {
    // A 5-piece vocabulary makes the order visible: 'ab' (score -1) beats 'bc' (score -2).
    const enc = new TextEncoder();
    const pieces = ['<unk>', '<s>', '</s>', ' ', 'a', 'b', 'c', 'ab', 'bc', ' ab'].map((s) => enc.encode(s));
    const t = new Llama2cTokenizer(pieces, Float32Array.from([0, 0, 0, -9, -9, -9, -9, -1, -2, -3]), 3);
    // ' a b c' -> ' ab c'? No: pairs are (' ','a'):none, ('a','b'):-1, ('b','c'):-2 -> 'ab' first,
    // then (' ','ab'):-3 -> ' ab', then (' ab','c'): none.
    expect(t.encode('abc')).toEqual([9, 6]);
    // Without <0xNN> pieces, bytes of unknown characters become unk (0).
    expect(t.encode('é')).toEqual([3, 0, 0]);
    // With them, 'Ж' = D0 96 falls back to its two byte pieces.
    expect(id('Ж')).toBe(-1);
    expect(tok.encode('Ж')).toEqual([id(' '), 0xd0 + 3, 0x96 + 3]);
  });

  it('falls back to bytes for an emoji and decodes it back, streaming without splitting it', () => {
    const ids = tok.encode('Hi 🦙!', { bos: true });
    const emoji = [0xf0, 0x9f, 0xa6, 0x99].map((b) => b + 3);
    expect(ids.join(',')).toContain(emoji.join(','));
    expect(tok.decode(ids)).toBe('Hi 🦙!');
    const dec = tok.createStreamDecoder();
    const parts = ids.map((i) => dec.push(i));
    parts.push(dec.flush());
    expect(parts.join('')).toBe('Hi 🦙!');
    expect(parts.some((p) => p.includes('\uFFFD'))).toBe(false);
    expect(parts).toContain('🦙'); // arrives whole, with its last byte
  });

  it('round-trips any text through encode/decode and the stream decoder (property)', () => {
    fc.assert(
      fc.property(unicodeText, (s) => {
        const ids = tok.encode(s, { bos: true });
        expect(tok.decode(ids)).toBe(s);
        const dec = tok.createStreamDecoder();
        let out = '';
        for (const i of ids) out += dec.push(i);
        expect(out + dec.flush()).toBe(s);
      }),
      { numRuns: 300 },
    );
  });

  it('merges exactly as run.c\'s scan, including ties, on random text and the story (property)', () => {
    const story = readFileSync(`${STORIES_DIR}/expected-greedy-200-steps.txt`, 'utf8');
    expect(tok.encode(story)).toEqual(runcEncode(tok, story));
    // Every pair of a 9-piece vocabulary ties at score 0: only the leftmost rule decides.
    const enc = new TextEncoder();
    const ties = new Llama2cTokenizer(['<unk>', '<s>', '</s>', ' ', 'a', 'aa', 'aaa', ' a', 'aaaa'].map((x) => enc.encode(x)), new Float32Array(9), 4);
    const aText = fc.array(fc.constantFrom('a', ' ', 'b'), { maxLength: 30 }).map((a) => a.join(''));
    fc.assert(
      fc.property(unicodeText, (x) => {
        expect(tok.encode(x)).toEqual(runcEncode(tok, x));
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(aText, (x) => {
        expect(ties.encode(x)).toEqual(runcEncode(ties, x));
      }),
      { numRuns: 300 },
    );
  });

  it('maxTokens: the early bound never exceeds the true count, and a long text is rejected by it', () => {
    fc.assert(
      fc.property(unicodeText, fc.boolean(), (x, bos) => {
        const n = tok.encode(x, { bos }).length;
        expect(tok.encode(x, { bos, maxTokens: n })).toHaveLength(n);
        if (n > 0) expect(() => tok.encode(x, { bos, maxTokens: n - 1 })).toThrow(TokenLimitError);
      }),
      { numRuns: 300 },
    );
    const long = 'Lily and Ben went to the park. '.repeat(40000); // 1.2 MB
    let err: TokenLimitError | undefined;
    try {
      tok.encode(long, { addSpecialTokens: true, maxTokens: 512 });
    } catch (e) {
      err = e as TokenLimitError;
    }
    expect(err).toBeInstanceOf(TokenLimitError);
    expect(err!.limit).toBe(512);
    // The bound: (bytes + the dummy-prefix space) / the longest piece (7 bytes), plus BOS.
    expect(err!.atLeast).toBe(1 + Math.ceil((long.length + 1) / 7));
    expect(err!.message).toMatch(/needs at least 177144 tokens, more than the limit of 512/);
  });

  it('round-trips the file format', () => {
    expect(Buffer.from(tok.toBytes()).equals(tok512Bytes)).toBe(true);
  });

  it('rejects truncated and garbled files with TokenizerError naming the file', () => {
    expect(() => Llama2cTokenizer.fromBytes(tok512Bytes.subarray(0, 2), 'tok512.bin')).toThrow(/tok512\.bin.*4-byte/);
    expect(() => Llama2cTokenizer.fromBytes(tok512Bytes.subarray(0, 1000), 'tok512.bin', 512)).toThrow(TokenizerError);
    expect(() => Llama2cTokenizer.fromBytes(tok512Bytes.subarray(0, 1000), 'tok512.bin', 512)).toThrow(/tok512\.bin: truncated/);
    const bad = Uint8Array.from(tok512Bytes);
    new DataView(bad.buffer).setInt32(4 + 4, 1 << 30, true); // length of token 0
    expect(() => Llama2cTokenizer.fromBytes(bad, 'tok512.bin', 512)).toThrow(/token 0 has length 1073741824/);
    const neg = Uint8Array.from(tok512Bytes);
    new DataView(neg.buffer).setInt32(0, -5, true);
    expect(() => Llama2cTokenizer.fromBytes(neg, 'tok512.bin', 512)).toThrow(/max_token_length = -5/);
    expect(() => Llama2cTokenizer.fromBytes(tok512Bytes, 'tok512.bin', 32000)).toThrow(TokenizerError);
    const longer = new Uint8Array(tok512Bytes.length + 3);
    longer.set(tok512Bytes);
    expect(() => Llama2cTokenizer.fromBytes(longer, 'tok512.bin', 512)).toThrow(/3 bytes left/);
    expect(() => tok.decode([512])).toThrow(/token id 512 is outside the vocabulary \[0, 512\)/);
  });
});

// Expected ids from SentencePiece itself (python sentencepiece 0.2, tokenizer.model), not from this code.
const SENTENCEPIECE_IDS: Record<string, number[]> = {
  'Hello world': [15043, 3186],
  'Once upon a time, there was a little girl named Lily.': [9038, 2501, 263, 931, 29892, 727, 471, 263, 2217, 7826, 4257, 365, 2354, 29889],
  'The quick brown fox jumps over the lazy dog!': [450, 4996, 17354, 1701, 29916, 432, 17204, 975, 278, 17366, 11203, 29991],
  'naïve café 🦙 €100': [1055, 30085, 345, 274, 28059, 29871, 243, 162, 169, 156, 25540, 29896, 29900, 29900],
  '  leading spaces\nand\ttabs': [259, 8236, 8162, 13, 392, 12, 21175],
  'def f(x):\n    return x**2': [822, 285, 29898, 29916, 1125, 13, 1678, 736, 921, 1068, 29906],
};

describe.skipIf(!HAVE_LLAMA2_TOKENIZER)('Llama2cTokenizer (Llama 2, 32000 tokens)', () => {
  const big = HAVE_LLAMA2_TOKENIZER
    ? Llama2cTokenizer.fromBytes(readFileSync(`${LLAMA2_TOKENIZER_DIR}tokenizer.bin`), 'tokenizer.bin', 32000)
    : (undefined as never);

  it.each(Object.entries(SENTENCEPIECE_IDS))('encodes %j like SentencePiece', (text, ids) => {
    expect(big.encode(text)).toEqual(ids);
    expect(big.decode([1, ...ids])).toBe(text);
  });

  it('merges exactly as run.c\'s scan on mixed-script text', () => {
    const mixed = 'Once upon a time 中文 مرحبا שלום 👨‍👩‍👧 e\u0301 naïve\u0000end. '.repeat(3);
    expect(big.encode(mixed)).toEqual(runcEncode(big, mixed));
  });

  it('encodes a long text quickly enough to be usable (no quadratic string work)', () => {
    const text = readFileSync(`${STORIES_DIR}/expected-greedy-200-steps.txt`, 'utf8').repeat(4);
    const ids = big.encode(text, { bos: true });
    expect(big.decode(ids)).toBe(text);
    expect(ids.length).toBeLessThan(text.length / 2);
  });
});
