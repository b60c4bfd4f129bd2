import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { getDevice } from '../device';
import { concat } from './concat';
import { concatCpu } from '../cpu/concat';
import { randomArray } from '../testing';
import { DisposedError, DTypeError, OptionError, ShapeError } from '../errors';
import { shapeSize, type Tensor } from '../tensor';

const device = await getDevice();

/** GPU concat vs the CPU twin for inputs of the given shapes. */
async function check(shapes: number[][], axis: number, dtype: 'f32' | 'i32' | 'f16' = 'f32') {
  const datas = shapes.map((s, k) => {
    const a = randomArray(shapeSize(s), 31 * k + s.length + 1, -100, 100);
    return dtype === 'i32' ? Int32Array.from(a, Math.round) : a;
  });
  const ts = shapes.map((s, k) => device.tensor(datas[k], s, dtype));
  // f16 inputs are compared through their stored (rounded) values
  const stored = await Promise.all(ts.map((t) => t.read()));
  const out = concat(ts, axis);
  const rank = shapes[0].length;
  const last = axis === -1 || axis === rank - 1;
  const rows = last ? shapeSize(shapes[0].slice(0, -1)) : 1;
  const widths = shapes.map((s) => (last ? s[rank - 1] : shapeSize(s)));
  const wantShape = [...shapes[0]];
  wantShape[last ? rank - 1 : 0] = shapes.reduce((s, x) => s + x[last ? rank - 1 : 0], 0);
  expect(out.shape).toEqual(wantShape);
  expect(out.dtype).toBe(dtype);
  expect(Array.from(await out.read())).toEqual(Array.from(concatCpu(stored, widths, rows)));
  for (const t of [...ts, out]) t.dispose();
}

describe('concat matches its CPU twin', () => {
  it('joins hidden states and embeddings column-wise: [r, d] ++ [r, d] -> [r, 2d]', async () => {
    await check([[17, 48], [17, 48]], -1);
    await check([[1, 3], [1, 1], [1, 257]], 1);
  });

  it('joins rows, as buffer copies', async () => {
    await check([[3, 5], [1, 5], [17, 5]], 0);
    await check([[4], [0], [9]], 0);
    await check([[2, 3, 4], [5, 3, 4]], 0, 'i32');
  });

  it('takes eight inputs in one call (two dispatches) and rank-3 columns', async () => {
    await check(Array.from({ length: 8 }, (_, k) => [3, k + 1]), -1);
    await check(Array.from({ length: 8 }, (_, k) => [k % 3, 2]), 0);
    await check([[2, 3, 1], [2, 3, 4]], 2);
  });

  it.runIf(device.hasF16)('joins f16 tensors, also blocks of odd length', async () => {
    await check([[3, 3], [1, 3]], 0, 'f16');
    await check([[3, 3], [3, 1]], -1, 'f16');
  });

  it('random shapes along both axes (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 8 }),
        fc.boolean(),
        async (n, other, sizes, rowsAxis) => {
          const shapes = sizes.slice(0, n).map((s) => (rowsAxis ? [s, other] : [other, s]));
          await check(shapes, rowsAxis ? 0 : -1);
        },
      ),
      { numRuns: 20 },
    );
  });

  it('rejects mismatched shapes, dtypes, axes and disposed inputs with typed errors', () => {
    const a = device.tensor(randomArray(6, 1), [2, 3]);
    const b = device.tensor(randomArray(8, 2), [2, 4]);
    const c = device.tensor(randomArray(24, 3), [2, 3, 4]);
    const i = device.tensor(new Int32Array(6), [2, 3], 'i32');
    expect(() => concat([a, b], 0)).toThrow(ShapeError);
    expect(() => concat([a, b], 0)).toThrow(/concat: along axis 0 every other dimension must agree \(\[2, 3\], \[2, 4\]\)/);
    expect(() => concat([a, c], -1)).toThrow(/concat: inputs differ in rank \(\[2, 3\], \[2, 3, 4\]\)/);
    expect(() => concat([a, i], 0)).toThrow(DTypeError);
    expect(() => concat([c, c], 1)).toThrow(OptionError);
    expect(() => concat([a], 2)).toThrow(/concat: axis 2 is not an axis of \[2, 3\] f32/);
    expect(() => concat([], 0)).toThrow(OptionError);
    b.dispose();
    expect(() => concat([a, b], -1)).toThrow(DisposedError);
    for (const t of [a, c, i] as Tensor[]) t.dispose();
  });
});
