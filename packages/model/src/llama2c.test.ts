import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CheckpointError, FileSourceError } from './errors';
import { parseLlama2cCheckpoint, parseLlama2cConfig, serializeLlama2cCheckpoint } from './llama2c';
import { loadModelFiles } from './load';
import { memoryFileSource } from './source';
import { STORIES_DIR, randomCheckpoint } from './testdata';

const bytes = new Uint8Array(readFileSync(`${STORIES_DIR}/stories260K.bin`));
const ckpt = parseLlama2cCheckpoint(bytes, 'stories260K.bin');

/** Copy of the checkpoint with header field `i` (0..6) set to `v`. */
function withHeader(i: number, v: number): Uint8Array {
  const b = bytes.slice();
  new DataView(b.buffer).setInt32(i * 4, v, true);
  return b;
}

describe('parseLlama2cCheckpoint (stories260K)', () => {
  it('reads the header the model card states', () => {
    expect(ckpt.config).toEqual({
      architecture: 'llama', dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, headDim: 8, vocabSize: 512,
      maxSeqLen: 512, ropeTheta: 10000, ropeLayout: 'interleaved', normEps: 1e-5, tiedEmbeddings: true, qkvBias: false, bosId: 1, eosId: 2,
    });
    expect(ckpt.weights.output).toBe(ckpt.weights.tokenEmbedding);
  });

  it('takes each weight from the offset llama2.c reads it at', () => {
    // Offsets in floats after the 28-byte header, worked out from llama2.c's memory_map_weights.
    const f = (i: number) => new DataView(bytes.buffer).getFloat32(28 + 4 * i, true);
    const [dim, hidden, L, vocab, kv] = [64, 172, 5, 512, 32];
    const emb = vocab * dim;
    const wq = emb + L * dim;
    const wk = wq + L * dim * dim;
    const wv = wk + L * kv * dim;
    const wo = wv + L * kv * dim;
    const ffn = wo + L * dim * dim;
    const w1 = ffn + L * dim;
    const w2 = w1 + L * hidden * dim;
    const w3 = w2 + L * dim * hidden;
    const fin = w3 + L * hidden * dim;
    const w = ckpt.weights;
    expect(w.tokenEmbedding[513]).toBe(f(513));
    expect(w.layers[2].attnNorm[5]).toBe(f(emb + 2 * dim + 5));
    expect(w.layers[3].wq[100]).toBe(f(wq + 3 * dim * dim + 100));
    expect(w.layers[4].wk[kv * dim - 1]).toBe(f(wk + 5 * kv * dim - 1));
    expect(w.layers[1].wv[7]).toBe(f(wv + kv * dim + 7));
    expect(w.layers[0].wo[9]).toBe(f(wo + 9));
    expect(w.layers[2].ffnNorm[0]).toBe(f(ffn + 2 * dim));
    expect(w.layers[1].w1[3]).toBe(f(w1 + hidden * dim + 3));
    expect(w.layers[4].w2[11]).toBe(f(w2 + 4 * dim * hidden + 11));
    expect(w.layers[0].w3[hidden * dim - 1]).toBe(f(w3 + hidden * dim - 1));
    expect(w.finalNorm[63]).toBe(f(fin + 63));
    expect(bytes.length).toBe(28 + 4 * (fin + dim + 512 * 8));
  });

  it('writes the same bytes back, apart from recomputed RoPE tables', () => {
    const out = serializeLlama2cCheckpoint(ckpt);
    expect(out.length).toBe(bytes.length);
    const ropeStart = bytes.length - 512 * 8 * 4;
    expect(Buffer.from(out.subarray(0, ropeStart)).equals(Buffer.from(bytes.subarray(0, ropeStart)))).toBe(true);
    const a = new Float32Array(out.slice(ropeStart).buffer);
    const b = new Float32Array(bytes.slice(ropeStart).buffer);
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThan(2e-4);
  });

  it('round-trips an untied model (negative vocab_size, separate classifier)', () => {
    const m = randomCheckpoint({ qkvBias: false, nKvHeads: 3, dim: 18, ropeTheta: 10000 }, 5);
    expect(() => serializeLlama2cCheckpoint(randomCheckpoint({ qkvBias: false, ropeTheta: 10000 }))).toThrow(/headDim = dim \/ nHeads/);
    expect(() => serializeLlama2cCheckpoint(randomCheckpoint({ dim: 18, ropeTheta: 10000 }))).toThrow(/without q\/k\/v biases/);
    const out = serializeLlama2cCheckpoint(m);
    expect(new DataView(out.buffer).getInt32(20, true)).toBe(-31);
    expect(parseLlama2cCheckpoint(out)).toEqual(m);
  });
});

describe('bad llama2.c checkpoints', () => {
  it.each<[string, Uint8Array, RegExp]>([
    ['a file shorter than the header', bytes.subarray(0, 20), /stories260K\.bin: 20 bytes, expected at least a 28-byte llama2\.c header/],
    ['a truncated file', bytes.subarray(0, bytes.length - 4), /stories260K\.bin: 1056536 bytes, expected 1056540 for the header \(dim 64, hidden 172, 5 layers/],
    ['trailing bytes', (() => { const b = new Uint8Array(bytes.length + 8); b.set(bytes); return b; })(), /1056548 bytes, expected 1056540/],
    ['dim 0', withHeader(0, 0), /impossible llama2\.c header: .*dim = 0/],
    ['dim not divisible by n_heads', withHeader(0, 63), /dim = 63 is not a multiple of n_heads = 8/],
    ['n_kv_heads > n_heads', withHeader(4, 16), /nKvHeads = 16, expected an integer in \[1, 8\]/],
    ['n_kv_heads not dividing n_heads', withHeader(4, 3), /nHeads = 8 is not a multiple of nKvHeads = 3/],
    ['negative seq_len', withHeader(6, -1), /maxSeqLen = -1/],
    ['an absurd vocab_size', withHeader(5, 2 ** 31 - 1), /vocabSize = 2147483647/],
    ['a vocabulary without bos/eos', withHeader(5, 2), /vocab_size = 2, expected at least 3/],
    ['an absurd hidden_dim (size checked before allocating)', withHeader(1, 200000), /1056540 bytes, expected 768396060 for the header \(dim 64, hidden 200000/],
  ])('rejects %s with CheckpointError', (_, b, message) => {
    const fn = () => parseLlama2cCheckpoint(b, 'stories260K.bin');
    expect(fn).toThrow(CheckpointError);
    expect(fn).toThrow(message);
  });

  it('parseLlama2cConfig reports the exact expected size', () => {
    expect(parseLlama2cConfig(bytes).expectedBytes).toBe(bytes.length);
  });

  it('loadModelFiles wants a tokenizer beside a .bin file (tokenizer.bin or tok<vocab>.bin)', async () => {
    // Only the checkpoint, no tokenizer beside it.
    const bytes = new Uint8Array(readFileSync(`${STORIES_DIR}/stories260K.bin`));
    const lone = memoryFileSource(new Map([['stories260K.bin', bytes]]), 'lone');
    await expect(loadModelFiles(lone, { checkpoint: 'stories260K.bin' })).rejects.toThrow(FileSourceError);
    await expect(loadModelFiles(lone, { checkpoint: 'stories260K.bin' })).rejects.toThrow(/tokenizer\.bin: not found \(nor tok512\.bin\); pass the tokenizer/);
    // The bundled directory has tok512.bin, which llama2.c's naming convention finds.
    expect((await loadModelFiles(`${STORIES_DIR}/stories260K.bin`)).tokenizer.encode('the')).toEqual([265]);
    expect((await loadModelFiles(STORIES_DIR)).format).toBe('llama2c');
    await expect(loadModelFiles(`${STORIES_DIR}/nope.bin`, { tokenizer: 'tok512.bin' })).rejects.toThrow(/cannot read .*nope\.bin/);
    const m = await loadModelFiles(`${STORIES_DIR}/stories260K.bin`, { tokenizer: 'tok512.bin' });
    expect(m.format).toBe('llama2c');
    expect(m.tokenizer.encode('the')).toEqual([265]);
  });
});
