import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { getDevice } from '../device';
import { add, mul, sub } from './elementwise';
import { scale, silu, softcap, swiglu } from './unary';
import { binaryCpu, scaleCpu, siluCpu, swigluCpu } from '../cpu/elementwise';
import { assertClose, randomArray } from '../testing';
import { DisposedError, ShapeError, DTypeError } from '../errors';

const device = await getDevice();

describe('element-wise ops match their CPU twins', () => {
  for (const [rows, cols] of [[1, 1], [3, 17], [17, 3], [257, 5], [2, 70000]] as const) {
    it(`add/mul/sub ${rows}x${cols}, full and row-broadcast`, async () => {
      const xa = randomArray(rows * cols, rows + cols);
      const ya = randomArray(rows * cols, 7 * rows + cols);
      const ra = randomArray(cols, 99 + cols);
      const x = device.tensor(xa, [rows, cols]);
      const y = device.tensor(ya, [rows, cols]);
      const r = device.tensor(ra, [cols]);
      for (const [name, fn] of [['add', add], ['mul', mul], ['sub', sub]] as const) {
        const full = fn(x, y);
        const row = fn(x, r);
        assertClose(await full.read(), binaryCpu(name, xa, ya), { what: `${name} full` });
        assertClose(await row.read(), binaryCpu(name, xa, ra), { what: `${name} row` });
        full.dispose();
        row.dispose();
      }
      for (const t of [x, y, r]) t.dispose();
    });
  }

  it('scale, silu, swiglu on random shapes (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 3000 }), fc.float({ min: -4, max: 4, noNaN: true }), async (n, s) => {
        const xa = randomArray(n, n, -8, 8);
        const ua = randomArray(n, n + 1);
        const x = device.tensor(xa, [n]);
        const u = device.tensor(ua, [n]);
        const a = scale(x, s);
        const b = silu(x);
        const c = swiglu(x, u);
        assertClose(await a.read(), scaleCpu(xa, s), { what: 'scale' });
        assertClose(await b.read(), siluCpu(xa), { what: 'silu', atol: 1e-5, rtol: 1e-5 });
        assertClose(await c.read(), swigluCpu(xa, ua), { what: 'swiglu', atol: 1e-5, rtol: 1e-5 });
        const cap = 1 + Math.abs(s);
        const d = softcap(x, cap);
        assertClose(await d.read(), xa.map((v) => cap * Math.tanh(v / cap)), { what: 'softcap', atol: 1e-5, rtol: 1e-5 });
        for (const t of [x, u, a, b, c, d]) t.dispose();
      }),
      { numRuns: 15 },
    );
  });

  it('rejects mismatched shapes, wrong dtypes and disposed inputs with typed errors', async () => {
    const x = device.tensor(randomArray(6, 1), [2, 3]);
    const y = device.tensor(randomArray(4, 2), [2, 2]);
    const ids = device.tensor([1, 2, 3], [3], 'i32');
    expect(() => add(x, y)).toThrow(ShapeError);
    expect(() => add(x, y)).toThrow(/add: .*x \[2, 3\], y \[2, 2\]/);
    expect(() => mul(ids, ids)).toThrow(DTypeError);
    y.dispose();
    expect(() => add(x, y)).toThrow(DisposedError);
    x.dispose();
    ids.dispose();
    await expect(x.read()).rejects.toThrow(DisposedError);
  });
});
