import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { getDevice } from '../device';
import { slice } from './slice';
import { sliceCpu } from '../cpu/slice';
import { randomArray } from '../testing';
import { DisposedError, IndexError, OptionError } from '../errors';
import { shapeSize } from '../tensor';

const device = await getDevice();

async function check(shape: number[], axis: number, start: number, end: number, dtype: 'f32' | 'u32' | 'f16' = 'f32') {
  const a = randomArray(shapeSize(shape), shapeSize(shape) + start, 0, 1000);
  const x = device.tensor(dtype === 'u32' ? Uint32Array.from(a, Math.floor) : a, shape, dtype);
  const xa = await x.read(); // f16 through its stored values
  const out = slice(x, axis, start, end);
  const rank = shape.length;
  const last = axis === -1 || axis === rank - 1;
  const want = last
    ? sliceCpu(xa, shapeSize(shape.slice(0, -1)), shape[rank - 1], start, end)
    : sliceCpu(xa, 1, xa.length, (start * xa.length) / shape[0], (end * xa.length) / shape[0]);
  const wantShape = [...shape];
  wantShape[last ? rank - 1 : 0] = end - start;
  expect(out.shape).toEqual(wantShape);
  expect(Array.from(await out.read())).toEqual(Array.from(want));
  x.dispose();
  out.dispose();
}

describe('slice matches its CPU twin', () => {
  it('takes rows (a buffer copy) and columns (a kernel)', async () => {
    await check([17, 5], 0, 3, 17);
    await check([257, 3], 0, 256, 257);
    await check([17, 96], -1, 48, 96); // second half of a concat([h, e])
    await check([1, 257], 1, 1, 256);
    await check([3, 4, 5], 2, 1, 4, 'u32');
    await check([3, 4, 5], 0, 1, 2, 'u32');
    await check([9], 0, 2, 7);
    await check([4, 3], 0, 2, 2); // empty
  });

  it.runIf(device.hasF16)('slices f16 rows at odd element offsets and f16 columns', async () => {
    await check([5, 3], 0, 1, 4, 'f16');
    await check([5, 3], -1, 1, 2, 'f16');
  });

  it('random ranges along both axes (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 30 }),
        fc.integer({ min: 1, max: 30 }),
        fc.boolean(),
        fc.nat(),
        fc.nat(),
        async (rows, cols, rowsAxis, s, e) => {
          const dim = rowsAxis ? rows : cols;
          const [a, b] = [s % (dim + 1), e % (dim + 1)].sort((x, y) => x - y);
          await check([rows, cols], rowsAxis ? 0 : 1, a, b);
        },
      ),
      { numRuns: 20 },
    );
  });

  it('rejects ranges, axes and disposed inputs with typed errors', () => {
    const x = device.tensor(randomArray(24, 1), [2, 3, 4]);
    expect(() => slice(x, 0, 1, 3)).toThrow(IndexError);
    expect(() => slice(x, 0, 1, 3)).toThrow(/slice: range 1\.\.3 along axis 0 is outside \[2, 3, 4\] f32/);
    expect(() => slice(x, -1, 3, 2)).toThrow(IndexError);
    expect(() => slice(x, -1, -1, 2)).toThrow(IndexError);
    expect(() => slice(x, 1, 0, 1)).toThrow(OptionError);
    expect(() => slice(x, 3, 0, 1)).toThrow(/slice: axis 3 is not an axis of \[2, 3, 4\] f32/);
    x.dispose();
    expect(() => slice(x, 0, 0, 1)).toThrow(DisposedError);
  });
});
