import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { getDevice } from '../device';
import { topk } from './topk';
import type { TopkKernel } from './topk/select';
import { topkCpu } from '../cpu/topk';
import { randomArray, seededRandom } from '../testing';
import { DisposedError, DTypeError, OptionError, ShapeError } from '../errors';

const device = await getDevice();

// Top-k selects and copies values: both values and indices must equal the CPU twin's exactly.
// Without a kernel, the one topk/select.ts picks runs.
async function check(xa: Float32Array, rows: number, n: number, k: number, kernel?: TopkKernel): Promise<void> {
  const x = device.tensor(xa, [rows, n]);
  const { values, indices } = topk(x, k, { kernel });
  expect(values.shape).toEqual([rows, k]);
  expect(indices.shape).toEqual([rows, k]);
  const want = topkCpu(xa, rows, n, k);
  expect(Array.from(await indices.read()), `indices, kernel ${kernel ?? 'selected'}`).toEqual(Array.from(want.indices));
  expect(Array.from(await values.read()), `values, kernel ${kernel ?? 'selected'}`).toEqual(Array.from(want.values));
  for (const t of [x, values, indices]) t.dispose();
}

describe('topk matches its CPU twin', () => {
  const cases = [
    // rows, n, k
    [1, 1, 1],
    [3, 3, 3],
    [17, 17, 5],
    [2, 257, 10],
    [3, 512, 64],
    [2, 32000, 10],
    [1, 49157, 64],
    [1, 300, 37],
  ] as const;
  for (const [rows, n, k] of cases) {
    for (const kernel of [undefined, 'thread', 'workgroup'] as const) {
      it(`[${rows}, ${n}], k = ${k}, ${kernel ?? 'selected'} kernel`, async () => {
        await check(randomArray(rows * n, rows * 3 + n + k, -30, 30), rows, n, k, kernel);
      });
    }
  }

  it('breaks ties by lower index, and handles -inf entries', async () => {
    const n = 700, k = 20;
    const r = seededRandom(9);
    const xa = Float32Array.from({ length: 3 * n }, () => Math.floor(r() * 3)); // lots of ties
    xa.fill(-Infinity, n, 2 * n); // row 1: all -inf -> indices 0..k-1
    xa[n + 650] = 1;
    for (const kernel of ['thread', 'workgroup'] as const) await check(xa, 3, n, k, kernel);
    const want = topkCpu(xa, 3, n, k);
    expect(Array.from(want.indices.subarray(k, 2 * k))).toEqual([650, ...Array.from({ length: k - 1 }, (_, i) => i)]);
  });

  it('agrees with the CPU twin on random shapes, k and tie-heavy rows (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 3000 }),
        fc.integer({ min: 1, max: 64 }),
        fc.integer(),
        fc.boolean(),
        async (rows, n, k0, seed, ties) => {
          const k = Math.min(k0, n);
          const r = seededRandom(seed);
          const xa = Float32Array.from({ length: rows * n }, () => (ties ? Math.floor(r() * 5) : r() * 2 - 1));
          for (const kernel of ['thread', 'workgroup'] as const) await check(xa, rows, n, k, kernel);
        },
      ),
      { numRuns: 12 },
    );
  });

  it('rejects bad k, shapes, dtypes and disposed inputs with typed errors', () => {
    const x = device.tensor(randomArray(6, 1), [2, 3]);
    const ids = device.tensor([1, 2, 3], [1, 3], 'i32');
    expect(() => topk(x, 4)).toThrow(ShapeError);
    expect(() => topk(x, 4)).toThrow(/topk: k = 4 exceeds the row length of x \[2, 3\] f32/);
    expect(() => topk(x, 0)).toThrow(OptionError);
    expect(() => topk(x, 65)).toThrow(/topk: k must be an integer in \[1, 64\], got 65/);
    expect(() => topk(x, 1.5)).toThrow(OptionError);
    expect(() => topk(x.reshape([6]), 1)).toThrow(/topk: x \[6\] f32 has rank 1, expected rank 2/);
    expect(() => topk(ids, 1)).toThrow(DTypeError);
    expect(() => topk(x, 1, { kernel: 'warp' as TopkKernel })).toThrow(/topk: option kernel = "warp", expected 'thread' or 'workgroup'/);
    x.dispose();
    expect(() => topk(x, 1)).toThrow(DisposedError);
    ids.dispose();
  });
});
