import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { getDevice } from '../device';
import { compactRows, gatherRows, writeRows } from './rows';
import { compactRowsCpu, gatherRowsCpu, writeRowsCpu } from '../cpu/rows';
import { randomArray, seededRandom } from '../testing';
import { DisposedError, DTypeError, IndexError, OptionError, ShapeError } from '../errors';

const device = await getDevice();

describe('writeRows', () => {
  it('writes rows into a cache in place, step after step', async () => {
    const width = 3;
    let want = randomArray(17 * width, 1);
    const cache = device.tensor(want, [17, width]);
    for (const [n, at, seed] of [[5, 0, 2], [1, 5, 3], [11, 6, 4], [1, 16, 5], [0, 17, 6]]) {
      const srcA = randomArray(n * width, seed);
      const src = device.tensor(srcA, [n, width]);
      writeRows(cache, src, at);
      want = writeRowsCpu(want, srcA, width, at);
      src.dispose();
    }
    expect(Array.from(await cache.read())).toEqual(Array.from(want));
    cache.dispose();
  });

  it('copies i32 rows and rows from a view of the destination itself', async () => {
    const a = Int32Array.from({ length: 8 * 4 }, (_, i) => i * 7 - 50);
    const cache = device.tensor(a, [8, 4], 'i32');
    const src = device.tensor(Int32Array.from([1, 2, 3, 4, 5, 6, 7, 8]), [2, 4], 'i32');
    writeRows(cache, src, 6);
    const self = cache.reshape([8, 4]);
    writeRows(cache, self, 0);
    expect(Array.from(await cache.read())).toEqual(Array.from(writeRowsCpu(a, Int32Array.from([1, 2, 3, 4, 5, 6, 7, 8]), 4, 6)));
    for (const t of [cache, src, self]) t.dispose();
  });

  it('rejects rows past the cache, other widths and dtypes with typed errors', () => {
    const cache = device.tensor(randomArray(17 * 3, 1), [17, 3]);
    const src = device.tensor(randomArray(5 * 3, 2), [5, 3]);
    const wide = device.tensor(randomArray(5 * 4, 2), [5, 4]);
    const ints = device.tensor(new Int32Array(15), [5, 3], 'i32');
    expect(() => writeRows(cache, src, 13)).toThrow(IndexError);
    expect(() => writeRows(cache, src, 13)).toThrow(/writeRows: rows 13\.\.17 \(src \[5, 3\]\) do not fit dst \[17, 3\]/);
    expect(() => writeRows(cache, src, -1)).toThrow(IndexError);
    expect(() => writeRows(cache, wide, 0)).toThrow(/writeRows: src and dst must have one width \(src \[5, 4\], dst \[17, 3\]\)/);
    expect(() => writeRows(cache, ints, 0)).toThrow(DTypeError);
    src.dispose();
    expect(() => writeRows(cache, src, 0)).toThrow(DisposedError);
    for (const t of [cache, wide, ints]) t.dispose();
  });
});

describe('compactRows', () => {
  it('moves an accepted path down over overlapping rows', async () => {
    const width = 5;
    const a = randomArray(20 * width, 3);
    const cache = device.tensor(a, [20, width]);
    compactRows(cache, [10, 12, 15], 10);
    const want = compactRowsCpu(a, width, [10, 12, 15], 10);
    expect(Array.from(await cache.read())).toEqual(Array.from(want));
    // rows 11 and 12 now hold old rows 12 and 15; everything else unchanged
    expect(Array.from(want.subarray(11 * width, 12 * width))).toEqual(Array.from(a.subarray(12 * width, 13 * width)));
    cache.dispose();
  });

  it('leaves a cache alone when the rows are already in place, or there are none', async () => {
    const a = randomArray(6 * 2, 4);
    const cache = device.tensor(a, [6, 2]);
    compactRows(cache, [2, 3, 4], 2);
    compactRows(cache, [], 6);
    expect(Array.from(await cache.read())).toEqual(Array.from(a));
    cache.dispose();
  });

  it('matches a CPU simulation for random paths, including backward and repeated moves (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.boolean(),
        async (capacity, width, seed, sortedPath) => {
          const r = seededRandom(seed);
          const count = Math.floor(r() * (capacity + 1));
          const to = Math.floor(r() * (capacity - count + 1));
          let from = Array.from({ length: count }, () => Math.floor(r() * capacity));
          if (sortedPath) {
            // a tree path: increasing rows at or after `to`
            const pool = Array.from({ length: capacity - to }, (_, i) => to + i).filter(() => r() < 0.6);
            from = pool.slice(0, count);
          }
          const a = Int32Array.from({ length: capacity * width }, (_, i) => i);
          const cache = device.tensor(a, [capacity, width], 'i32');
          compactRows(cache, from, to);
          expect(Array.from(await cache.read())).toEqual(Array.from(compactRowsCpu(a, width, from, to)));
          cache.dispose();
        },
      ),
      { numRuns: 30 },
    );
  });

  it('rejects rows outside the cache with IndexErrors naming the rows', () => {
    const cache = device.tensor(randomArray(8 * 2, 1), [8, 2]);
    expect(() => compactRows(cache, [1, 8], 0)).toThrow(/compactRows: source row from\[1\] = 8 is outside cache \[8, 2\]/);
    expect(() => compactRows(cache, [1, 2.5], 0)).toThrow(IndexError);
    expect(() => compactRows(cache, [1, 2, 3], 6)).toThrow(/compactRows: destination rows 6\.\.8 do not fit cache \[8, 2\]/);
    expect(() => compactRows(cache, [1], -1)).toThrow(IndexError);
    const flat = cache.reshape([16]);
    expect(() => compactRows(flat, [1], 0)).toThrow(ShapeError);
    flat.dispose();
    cache.dispose();
    expect(() => compactRows(cache, [1], 0)).toThrow(DisposedError);
  });
});

describe('gatherRows', () => {
  it('picks rows by host ids and by GPU ids, f32 and u32, with repeats', async () => {
    for (const [n, width] of [[1, 1], [17, 3], [257, 5]] as const) {
      const xa = randomArray(n * width, n + width);
      const r = seededRandom(n);
      const ids = Int32Array.from({ length: 17 }, () => Math.floor(r() * n));
      const x = device.tensor(xa, [n, width]);
      const idT = device.tensor(ids, [ids.length], 'i32');
      const a = gatherRows(x, ids);
      const b = gatherRows(x, idT);
      expect(a.shape).toEqual([17, width]);
      expect(Array.from(await a.read())).toEqual(Array.from(gatherRowsCpu(xa, width, ids)));
      expect(Array.from(await b.read())).toEqual(Array.from(gatherRowsCpu(xa, width, ids)));
      const ua = Uint32Array.from(xa, (v) => Math.floor((v + 1) * 1e9));
      const u = device.tensor(ua, [n, width], 'u32');
      const c = gatherRows(u, ids);
      expect(Array.from(await c.read())).toEqual(Array.from(gatherRowsCpu(ua, width, ids)));
      for (const t of [x, idT, a, b, u, c]) t.dispose();
    }
  });

  it('reads an x past the binding limit one aligned slice of rows at a time', async () => {
    // 257 rows of 5 floats (20 bytes): slices of 64 rows start on 256-byte boundaries.
    const [n, width] = [257, 5];
    const xa = randomArray(n * width, 3);
    const x = device.tensor(xa, [n, width]);
    const ids = Int32Array.from([256, 0, 63, 64, 127, 128, 200, 5, 256, 64]);
    const idT = device.tensor(ids, [ids.length], 'i32');
    const before = device.stats.dispatches;
    const a = gatherRows(x, ids, { maxBindingBytes: 1400 });
    expect(device.stats.dispatches - before).toBe(5); // 257 rows in slices of 64
    const b = gatherRows(x, idT, { maxBindingBytes: 1400 });
    const want = Array.from(gatherRowsCpu(xa, width, ids));
    expect(Array.from(await a.read())).toEqual(want);
    expect(Array.from(await b.read())).toEqual(want);
    const bad = device.tensor(Int32Array.from([3, 300]), [2], 'i32');
    const c = gatherRows(x, bad, { maxBindingBytes: 1400 });
    await expect(c.read()).rejects.toThrow(IndexError);
    expect(() => gatherRows(x, ids, { maxBindingBytes: 0 })).toThrow(OptionError);
    expect(() => gatherRows(x, ids, { maxBindingBytes: 200 })).toThrow(/gatherRows: .*exceed the binding limit of 200 bytes/);
    for (const t of [x, idT, a, b, bad, c]) t.dispose();
  });

  it.runIf(device.hasF16)('gathers f16 rows of odd width', async () => {
    const x = device.tensor(randomArray(9 * 3, 8), [9, 3], 'f16');
    const xa = await x.read();
    const ids = Int32Array.from([8, 0, 4, 4]);
    const g = gatherRows(x, ids);
    expect(g.dtype).toBe('f16');
    expect(Array.from(await g.read())).toEqual(Array.from(gatherRowsCpu(xa, 3, ids)));
    x.dispose();
    g.dispose();
  });

  it('rejects bad ids: host ids at once, GPU ids at the next read-back', async () => {
    const x = device.tensor(randomArray(4 * 2, 1), [4, 2]);
    expect(() => gatherRows(x, Int32Array.from([0, 4]))).toThrow(/gatherRows: row id rows\[1\] = 4 is outside x \[4, 2\]/);
    expect(() => gatherRows(x, Int32Array.from([-1]))).toThrow(IndexError);
    const badIds = device.tensor(Int32Array.from([1, 9, -3]), [3], 'i32');
    const g = gatherRows(x, badIds);
    await expect(g.read()).rejects.toThrow(/index out of range in .*gatherRows/);
    const okIds = device.tensor(Int32Array.from([3]), [1], 'i32');
    const h = gatherRows(x, okIds);
    expect(Array.from(await h.read())).toEqual(Array.from((await x.read()).subarray(6, 8))); // flag was cleared
    const fIds = device.tensor([1], [1], 'f32');
    expect(() => gatherRows(x, fIds)).toThrow(DTypeError);
    for (const t of [badIds, g, okIds, h, fIds]) t.dispose();
    x.dispose();
    expect(() => gatherRows(x, Int32Array.from([0]))).toThrow(DisposedError);
  });
});
