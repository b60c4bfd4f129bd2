import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { getDevice } from '../device';
import { argmax } from './argmax';
import { argmaxCpu } from '../cpu/argmax';
import { randomArray, seededRandom } from '../testing';
import { DisposedError, DTypeError, ShapeError } from '../errors';

const device = await getDevice();

// Argmax is exact: indices must equal the CPU twin's.
describe('argmax matches its CPU twin', () => {
  for (const [rows, n] of [[1, 1], [3, 3], [17, 17], [5, 257], [3, 512], [64, 512], [70, 4096], [2, 32000], [1, 49157]] as const) {
    it(`[${rows}, ${n}]`, async () => {
      const xa = randomArray(rows * n, rows * 5 + n, -20, 20);
      // Put each row's maximum at a chosen column, including the first and last.
      for (let r = 0; r < rows; r++) xa[r * n + [0, n - 1, (r * 7919) % n][r % 3]] = 21 + r;
      const x = device.tensor(xa, [rows, n]);
      const out = argmax(x);
      expect(out.shape).toEqual([rows]);
      expect(Array.from(await out.read())).toEqual(Array.from(argmaxCpu(xa, rows, n)));
      x.dispose();
      out.dispose();
    });
  }

  it('ties go to the lowest index, across threads and for -inf rows', async () => {
    const n = 1000;
    const xa = new Float32Array(4 * n).fill(-1);
    // Row 0: equal maxima at 900, 300 (different threads) and 556 (300's thread, later).
    xa[900] = xa[300] = xa[556] = 5;
    // Row 1: all equal. Row 2: all -inf. Row 3: max at the last column only.
    xa.fill(2, n, 2 * n);
    xa.fill(-Infinity, 2 * n, 3 * n);
    xa[4 * n - 1] = 0;
    const x = device.tensor(xa, [4, n]);
    const out = argmax(x);
    expect(Array.from(await out.read())).toEqual([300, 0, 0, n - 1]);
    expect(Array.from(argmaxCpu(xa, 4, n))).toEqual([300, 0, 0, n - 1]);
    x.dispose();
    out.dispose();
  });

  it('agrees with the CPU twin on rows with many ties (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 2000 }), fc.integer(), async (rows, n, seed) => {
        const r = seededRandom(seed);
        const xa = Float32Array.from({ length: rows * n }, () => Math.floor(r() * 4)); // values 0..3
        const x = device.tensor(xa, [rows, n]);
        const out = argmax(x);
        expect(Array.from(await out.read())).toEqual(Array.from(argmaxCpu(xa, rows, n)));
        x.dispose();
        out.dispose();
      }),
      { numRuns: 15 },
    );
  });

  it('rejects bad shapes, dtypes and disposed inputs with typed errors', () => {
    const x = device.tensor(randomArray(6, 1), [2, 3]);
    const ids = device.tensor([1, 2, 3], [1, 3], 'i32');
    const empty = device.empty([2, 0]);
    expect(() => argmax(x.reshape([6]))).toThrow(/argmax: x \[6\] f32 has rank 1, expected rank 2/);
    expect(() => argmax(empty)).toThrow(ShapeError);
    expect(() => argmax(ids)).toThrow(DTypeError);
    x.dispose();
    expect(() => argmax(x)).toThrow(DisposedError);
    ids.dispose();
    empty.dispose();
  });
});
