import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { getDevice } from '../device';
import { embedding } from './embedding';
import { embeddingCpu } from '../cpu/embedding';
import { randomArray, seededRandom } from '../testing';
import { f16ToF32, f32ToF16 } from '../half';
import { DisposedError, DTypeError, IndexError, ShapeError } from '../errors';

const device = await getDevice();

/** Bit-exact equality, reported at the first difference (toEqual is slow on big typed arrays). */
function expectSame(got: Float32Array, expected: Float32Array, what: string): void {
  expect(got.length, what).toBe(expected.length);
  const i = got.findIndex((v, k) => !Object.is(v, expected[k]));
  expect(i < 0 ? 'same' : `${what}: [${i}] = ${got[i]}, expected ${expected[i]}`).toBe('same');
}

function randomIds(n: number, vocab: number, seed: number): Int32Array {
  const r = seededRandom(seed);
  return Int32Array.from({ length: n }, () => Math.floor(r() * vocab));
}

// A gather copies values: results must be bit-identical to the table rows.
describe('embedding matches its CPU twin exactly', () => {
  for (const [vocab, dim, n] of [[1, 1, 1], [3, 17, 5], [17, 3, 17], [512, 288, 257], [32000, 64, 9]] as const) {
    it(`table [${vocab}, ${dim}], ${n} ids`, async () => {
      const ta = randomArray(vocab * dim, vocab + dim);
      const ia = randomIds(n, vocab, n);
      ia[0] = vocab - 1;
      const table = device.tensor(ta, [vocab, dim]);
      const ids = device.tensor(ia, [n], 'i32');
      const fromTensor = embedding(table, ids);
      const fromHost = embedding(table, Array.from(ia));
      expect(fromTensor.shape).toEqual([n, dim]);
      const expected = embeddingCpu(ta, vocab, dim, ia);
      expectSame(await fromTensor.read(), expected, 'ids tensor');
      expectSame(await fromHost.read(), expected, 'host ids');
      for (const t of [table, ids, fromTensor, fromHost]) t.dispose();
    });
  }

  it.skipIf(!device.hasF16)('reads f16 tables into f32 rows', async () => {
    const vocab = 257, dim = 17;
    const ta = f16ToF32(f32ToF16(randomArray(vocab * dim, 3)));
    const ia = randomIds(40, vocab, 4);
    const table = device.tensor(ta, [vocab, dim], 'f16');
    const out = embedding(table, ia);
    expect(await out.read()).toEqual(embeddingCpu(ta, vocab, dim, ia));
    table.dispose();
    out.dispose();
  });

  it('row r of the result is table row ids[r] (property)', async () => {
    const vocab = 64, dim = 5;
    const ta = randomArray(vocab * dim, 11);
    const table = device.tensor(ta, [vocab, dim]);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: vocab - 1 }), { minLength: 1, maxLength: 300 }), async (ia) => {
        const out = embedding(table, ia);
        const got = await out.read();
        for (let r = 0; r < ia.length; r++) expect(got.subarray(r * dim, (r + 1) * dim)).toEqual(ta.subarray(ia[r] * dim, (ia[r] + 1) * dim));
        out.dispose();
      }),
      { numRuns: 15 },
    );
    table.dispose();
  });

  it('host ids out of range throw IndexError naming op, id and vocabulary', () => {
    const table = device.tensor(randomArray(12, 1), [4, 3]);
    expect(() => embedding(table, [0, 4])).toThrow(IndexError);
    expect(() => embedding(table, [0, 4])).toThrow(/embedding: id 4 at position 1 .*\[0, 4\)/);
    expect(() => embedding(table, Int32Array.from([-1]))).toThrow(/embedding: id -1 at position 0/);
    expect(() => embedding(table, [1.5])).toThrow(IndexError);
    table.dispose();
  });

  it('binds a table past the binding limit a slice of rows at a time (f32 and f16)', async () => {
    const vocab = 1000, dim = 24; // 96 bytes a row: 8-row steps keep slices 256-byte aligned
    for (const dtype of device.hasF16 ? (['f32', 'f16'] as const) : (['f32'] as const)) {
      const raw = randomArray(vocab * dim, 9);
      const ta = dtype === 'f16' ? f16ToF32(f32ToF16(raw)) : raw;
      const ia = randomIds(50, vocab, 10);
      ia[0] = 0;
      ia[1] = vocab - 1;
      const table = device.tensor(ta, [vocab, dim], dtype);
      for (const maxBindingBytes of [4096, 10_000, 1 << 20]) {
        const out = embedding(table, ia, { maxBindingBytes });
        expectSame(await out.read(), embeddingCpu(ta, vocab, dim, ia), `${dtype} slices of ${maxBindingBytes} bytes`);
        out.dispose();
      }
      const bad = device.tensor([5, vocab + 3, 999], [3], 'i32');
      const out = embedding(table, bad, { maxBindingBytes: 4096 });
      await expect(out.read()).rejects.toThrow(IndexError);
      const got = await out.read();
      expect(Array.from(got.subarray(dim, 2 * dim))).toEqual(new Array(dim).fill(0));
      expectSame(got.subarray(2 * dim), ta.subarray(999 * dim), 'the row after a bad id');
      for (const t of [table, bad, out]) t.dispose();
    }
  });

  it('GPU ids out of range give zero rows and an IndexError at the next read-back', async () => {
    const vocab = 4, dim = 3;
    const ta = randomArray(vocab * dim, 2);
    const table = device.tensor(ta, [vocab, dim]);
    const ids = device.tensor([1, 7, -2, 3], [4], 'i32');
    const out = embedding(table, ids);
    await expect(out.read()).rejects.toThrow(IndexError);
    // The flag is cleared once reported; the bad rows were written as zeros.
    const got = await out.read();
    expect(got).toEqual(Float32Array.from([...ta.subarray(3, 6), 0, 0, 0, 0, 0, 0, ...ta.subarray(9, 12)]));
    const two = device.tensor([2], [1], 'i32');
    const good = embedding(table, two);
    expect(await good.read()).toEqual(ta.subarray(6, 9));
    for (const t of [table, ids, out, two, good]) t.dispose();
  });

  it('rejects bad shapes, dtypes and disposed inputs with typed errors', async () => {
    const table = device.tensor(randomArray(12, 1), [4, 3]);
    const ids2 = device.tensor([0, 1], [1, 2], 'i32');
    const idsF = device.tensor([0, 1], [2]);
    expect(() => embedding(table.reshape([12]), [0])).toThrow(/embedding: table \[12\] f32 has rank 1, expected rank 2/);
    expect(() => embedding(table, ids2)).toThrow(ShapeError);
    expect(() => embedding(table, idsF)).toThrow(DTypeError);
    expect(() => embedding(ids2.reshape([2, 1]), [0])).toThrow(DTypeError);
    idsF.dispose();
    expect(() => embedding(table, idsF)).toThrow(DisposedError);
    table.dispose();
    expect(() => embedding(table, [0])).toThrow(DisposedError);
    ids2.dispose();
  });
});
