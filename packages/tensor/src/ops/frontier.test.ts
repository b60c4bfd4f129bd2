import { describe, expect, it } from 'vitest';
import { getDevice } from '../device';
import { frontier } from './frontier';
import { frontierCpu } from '../cpu/frontier';
import { randomArray } from '../testing';
import { DTypeError, ShapeError } from '../errors';

const device = await getDevice();

async function check(logq: Float32Array, base: Float32Array, rows: number, k: number, width: number): Promise<void> {
  const q = device.tensor(logq, [rows, k]);
  const b = device.tensor(base, [rows]);
  const got = frontier(q, b, width);
  const want = frontierCpu(logq, base, rows, k, width);
  expect(Array.from(await got.entries.read())).toEqual(Array.from(want.entries));
  expect(Array.from(await got.rows.read())).toEqual(Array.from(want.rows));
  expect(Array.from(await got.scores.read())).toEqual(Array.from(want.scores));
  for (const t of [q, b, got.scores, got.rows, got.entries]) t.dispose();
}

describe('frontier matches its CPU twin', () => {
  for (const [rows, k, width] of [[1, 1, 1], [1, 8, 8], [8, 8, 8], [16, 16, 16], [3, 10, 7], [64, 64, 64]] as const) {
    it(`[${rows}, ${k}] -> ${width}`, async () => {
      await check(randomArray(rows * k, rows + 7 * k, -12, 0), randomArray(rows, rows * 3 + k, -6, 0), rows, k, width);
    });
  }

  it('breaks ties toward the lower entry, across rows too', async () => {
    // rows 0 and 1 have the same scores: entries of row 0 come first
    const logq = Float32Array.of(-1, -2, -3, -1, -2, -3);
    const base = Float32Array.of(-0.5, -0.5);
    await check(logq, base, 2, 3, 4);
    const q = device.tensor(logq, [2, 3]);
    const b = device.tensor(base, [2]);
    const { scores, rows, entries } = frontier(q, b, 4);
    expect(Array.from(await rows.read())).toEqual([0, 1, 0, 1]);
    expect(Array.from(await entries.read())).toEqual([0, 3, 1, 4]);
    expect(Array.from(await scores.read())).toEqual([-1.5, -1.5, -2.5, -2.5]);
    for (const t of [q, b, scores, rows, entries]) t.dispose();
  });

  it('refuses shapes it cannot take', () => {
    const q = device.tensor(new Float32Array(6), [2, 3]);
    const b = device.tensor(new Float32Array(3), [3]);
    const bi = device.tensor(new Int32Array(2), [2], 'i32');
    expect(() => frontier(q, b, 2)).toThrow(ShapeError);
    const b2 = device.tensor(new Float32Array(2), [2]);
    expect(() => frontier(q, b2, 7)).toThrow(/width = 7, expected an integer in \[1, 6\]/);
    expect(() => frontier(q, bi, 2)).toThrow(DTypeError);
    for (const t of [q, b, bi, b2]) t.dispose();
  });
});
