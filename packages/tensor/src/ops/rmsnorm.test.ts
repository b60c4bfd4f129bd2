import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { getDevice } from '../device';
import { rmsnorm } from './rmsnorm';
import { rmsnormCpu } from '../cpu/rmsnorm';
import { assertClose, randomArray } from '../testing';
import { f16ToF32, f32ToF16 } from '../half';
import { DisposedError, DTypeError, OptionError, ShapeError } from '../errors';

const device = await getDevice();

// f32 GPU sums (tree order) against f64 CPU sums: relative error ~1e-6 per element.
const TOL = { atol: 1e-5, rtol: 1e-5 };

describe('rmsnorm matches its CPU twin', () => {
  for (const [rows, dim] of [[1, 1], [3, 3], [17, 17], [2, 64], [5, 257], [3, 288], [1, 288], [70, 64], [2, 576], [7, 2048]] as const) {
    it(`[${rows}, ${dim}]`, async () => {
      const xa = randomArray(rows * dim, rows * 31 + dim, -3, 3);
      const wa = randomArray(dim, dim + 7, 0.5, 1.5);
      const x = device.tensor(xa, [rows, dim]);
      const w = device.tensor(wa, [dim]);
      const out = rmsnorm(x, w, 1e-5);
      expect(out.shape).toEqual([rows, dim]);
      assertClose(await out.read(), rmsnormCpu(xa, wa, rows, dim, 1e-5), { ...TOL, what: `rmsnorm [${rows}, ${dim}]` });
      for (const t of [x, w, out]) t.dispose();
    });
  }

  it.skipIf(!device.hasF16)('takes an f16 weight', async () => {
    const rows = 3, dim = 288;
    const xa = randomArray(rows * dim, 5, -2, 2);
    const wa = f16ToF32(f32ToF16(randomArray(dim, 6, 0.5, 1.5)));
    const x = device.tensor(xa, [rows, dim]);
    const w = device.tensor(wa, [dim], 'f16');
    const out = rmsnorm(x, w);
    assertClose(await out.read(), rmsnormCpu(xa, wa, rows, dim), { ...TOL, what: 'rmsnorm f16 weight' });
    for (const t of [x, w, out]) t.dispose();
  });

  it('is scale invariant and has unit RMS with unit weight (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 600 }), fc.double({ min: 0.1, max: 50, noNaN: true }), async (rows, dim, s) => {
        const xa = randomArray(rows * dim, rows * 1000 + dim, -1, 1);
        const xs = xa.map((v) => v * s);
        const ones = new Float32Array(dim).fill(1);
        const x = device.tensor(xa, [rows, dim]);
        const y = device.tensor(xs, [rows, dim]);
        const w = device.tensor(ones, [dim]);
        const a = rmsnorm(x, w, 0);
        const b = rmsnorm(y, w, 0);
        const ra = await a.read();
        assertClose(await b.read(), ra, { atol: 1e-5, rtol: 1e-4, what: 'rmsnorm(s·x) = rmsnorm(x)' });
        for (let r = 0; r < rows; r++) {
          let ss = 0;
          for (let j = 0; j < dim; j++) ss += ra[r * dim + j] ** 2;
          expect(Math.abs(Math.sqrt(ss / dim) - 1)).toBeLessThan(1e-4);
        }
        for (const t of [x, y, w, a, b]) t.dispose();
      }),
      { numRuns: 10 },
    );
  });

  it('rejects bad shapes, dtypes, eps and disposed inputs with typed errors', () => {
    const x = device.tensor(randomArray(6, 1), [2, 3]);
    const w = device.tensor(randomArray(4, 2), [4]);
    const w3 = device.tensor(randomArray(3, 2), [3]);
    const ids = device.tensor([1, 2, 3], [3], 'i32');
    expect(() => rmsnorm(x, w)).toThrow(ShapeError);
    expect(() => rmsnorm(x, w)).toThrow(/rmsnorm: .*x \[2, 3\], weight \[4\]/);
    expect(() => rmsnorm(x.reshape([6]), w3)).toThrow(/rmsnorm: x \[6\] f32 has rank 1, expected rank 2/);
    expect(() => rmsnorm(x, ids)).toThrow(DTypeError);
    expect(() => rmsnorm(x, w3, -1)).toThrow(OptionError);
    expect(() => rmsnorm(x, w3, NaN)).toThrow(/rmsnorm: eps/);
    w3.dispose();
    expect(() => rmsnorm(x, w3)).toThrow(DisposedError);
    for (const t of [x, w, ids]) t.dispose();
  });
});
