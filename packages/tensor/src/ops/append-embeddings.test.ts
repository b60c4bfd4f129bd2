import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { getDevice } from '../device';
import { appendEmbeddings } from './append-embeddings';
import { appendEmbeddingsCpu } from '../cpu/append-embeddings';
import { randomArray, seededRandom } from '../testing';
import { f16ToF32, f32ToF16 } from '../half';
import { DTypeError, IndexError, ShapeError } from '../errors';

const device = await getDevice();

interface Case {
  m: number;
  w: number;
  vocab: number;
  dim: number;
  nIds: number;
  n: number;
}

async function check(c: Case, seed: number, dtype: 'f32' | 'f16' = 'f32', onDevice = false, maxBindingBytes?: number) {
  const r = seededRandom(seed);
  const int = (k: number) => Math.floor(r() * k);
  const xa = randomArray(c.m * c.w, seed + 1);
  let ta = randomArray(c.vocab * c.dim, seed + 2);
  if (dtype === 'f16') ta = f16ToF32(f32ToF16(ta)); // the values an f16 table holds
  const ida = Int32Array.from({ length: c.nIds }, () => int(c.vocab));
  const rows = Array.from({ length: c.n }, () => int(c.m));
  const at = Array.from({ length: c.n }, () => int(c.nIds));
  const x = device.tensor(xa, [c.m, c.w]);
  const ids = device.tensor(ida, [c.nIds], 'i32');
  const table = device.tensor(ta, [c.vocab, c.dim], dtype); // converted to f16 on write: ta holds f16 values already
  const rowsT = onDevice ? device.tensor(Int32Array.from(rows), [c.n], 'i32') : null;
  const atT = onDevice ? device.tensor(Int32Array.from(at), [c.n], 'i32') : null;
  const opts = maxBindingBytes ? { maxBindingBytes } : {};
  const out = rowsT && atT ? appendEmbeddings(x, rowsT, ids, atT, table, opts) : appendEmbeddings(x, rows, ids, at, table, opts);
  rowsT?.dispose();
  atT?.dispose();
  expect(out.shape).toEqual([c.n, c.w + c.dim]);
  // A gather copies values: bit-identical to the CPU twin.
  expect(Array.from(await out.read())).toEqual(Array.from(appendEmbeddingsCpu(xa, c.w, rows, ida, at, ta, c.dim)));
  for (const t of [x, ids, table, out]) t.dispose();
}

describe('appendEmbeddings matches its CPU twin exactly', () => {
  const cases: Case[] = [
    { m: 1, w: 1, vocab: 1, dim: 1, nIds: 1, n: 1 },
    { m: 1, w: 128, vocab: 512, dim: 64, nIds: 8, n: 3 }, // a Hydra head's depth 1 on stories260K
    { m: 3, w: 192, vocab: 512, dim: 64, nIds: 12, n: 7 },
    { m: 17, w: 257, vocab: 33, dim: 17, nIds: 51, n: 17 },
    { m: 4, w: 8, vocab: 9, dim: 3, nIds: 4, n: 0 },
  ];
  for (const c of cases) it(`x [${c.m}, ${c.w}], table [${c.vocab}, ${c.dim}], ${c.n} rows`, () => check(c, c.m + c.w + c.n));
  it('f16 table', async (ctx) => {
    if (!device.hasF16) ctx.skip();
    await check({ m: 3, w: 96, vocab: 40, dim: 32, nIds: 6, n: 5 }, 7, 'f16');
  });
  it('a table past the binding limit is read in slices of rows, same output (a real vocabulary\'s embedding table)', async (ctx) => {
    // f32 rows of 24 × 4 = 96 bytes: slices of 8 rows (768 bytes, 256-aligned offsets), so 37 rows are 5 slices
    const c = { m: 3, w: 40, vocab: 37, dim: 24, nIds: 30, n: 9 };
    await check(c, 11, 'f32', false, 768);
    await check(c, 12, 'f32', true, 768);
    await check(c, 13, 'f32', false, 1000); // not a whole number of aligned steps: rounded down to 8 rows
    if (device.hasF16) await check({ ...c, dim: 32 }, 14, 'f16', false, 1024); // f16 rows of 64 bytes: slices of 16 rows
    else ctx.skip();
  });
  it('rows and at as GPU tensors (a dynamic tree\'s frontier)', async () => {
    for (const c of cases) await check(c, c.m + c.n + 5, 'f32', true);
  });
  it('a bad GPU row index zeroes its row and surfaces at the next read-back', async () => {
    const x = device.tensor(randomArray(6, 1), [2, 3]);
    const ids = device.tensor(Int32Array.of(0, 1), [2], 'i32');
    const table = device.tensor(randomArray(8, 2), [4, 2]);
    const rows = device.tensor(Int32Array.of(0, 2), [2], 'i32'); // x has rows 0 and 1
    const at = device.tensor(Int32Array.of(0, 1), [2], 'i32');
    const out = appendEmbeddings(x, rows, ids, at, table);
    await expect(out.read()).rejects.toThrow(IndexError);
    expect(() => appendEmbeddings(x, rows, ids, [0, 1], table)).toThrow(/both be on the host or both be i32 tensors/);
    for (const t of [x, ids, table, rows, at, out]) t.dispose();
  });
  it('random shapes (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.record({ m: fc.integer({ min: 1, max: 6 }), w: fc.integer({ min: 1, max: 40 }), vocab: fc.integer({ min: 1, max: 50 }), dim: fc.integer({ min: 1, max: 20 }), nIds: fc.integer({ min: 1, max: 9 }), n: fc.nat(9), seed: fc.nat(999) }), (c) => check(c, c.seed)),
      { numRuns: 20 },
    );
  });
});

describe('appendEmbeddings rejects bad input with typed errors', () => {
  it('host indices are checked at once; a bad GPU id surfaces at the next read-back', async () => {
    const x = device.zeros([2, 4]);
    const ids = device.tensor([1, 7], [2], 'i32');
    const table = device.zeros([5, 3]);
    expect(() => appendEmbeddings(x, [2], ids, [0], table)).toThrow(IndexError);
    expect(() => appendEmbeddings(x, [0], ids, [2], table)).toThrow(/at\[0\] = 2 is not an index into ids/);
    expect(() => appendEmbeddings(x, [0, 1], ids, [0], table)).toThrow(ShapeError);
    expect(() => appendEmbeddings(x, [0], device.zeros([2], 'u32'), [0], table)).toThrow(DTypeError);
    const out = appendEmbeddings(x, [0, 1], ids, [0, 1], table); // id 7 is outside the vocabulary of 5
    await expect(out.read()).rejects.toThrow(/index out of range in appendEmbeddings/);
    for (const t of [x, ids, table, out]) t.dispose();
  });
});
