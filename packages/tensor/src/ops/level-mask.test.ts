import { describe, expect, it } from 'vitest';
import { treeMaskCpu } from '../cpu/tree-mask';
import { getDevice } from '../device';
import { DTypeError, ShapeError } from '../errors';
import type { Tensor } from '../tensor';
import { levelMask } from './level-mask';

const device = await getDevice();

/** A small deterministic generator (the parents of each level's rows). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

describe('levelMask: each level\'s rows of the whole tree\'s ancestry mask', () => {
  // levels of `width` rows, each row's parent a row of the level before (the first level's outside the rows)
  for (const [levels, width, seed] of [[1, 1, 1], [2, 3, 2], [4, 8, 3], [6, 8, 4], [5, 16, 5], [4, 1, 6]] as const) {
    it(`${levels} levels of ${width} rows`, async () => {
      const rand = lcg(seed);
      const parentRows: number[] = [];
      const got: Uint32Array[] = [];
      let prev: Tensor | null = null;
      for (let l = 0; l < levels; l++) {
        const local = Int32Array.from({ length: width }, () => Math.floor(rand() * width)); // a row of the last level
        for (const r of local) parentRows.push(l === 0 ? -1 : (l - 1) * width + r);
        const parents = device.tensor(local, [width], 'i32');
        const next = levelMask(prev, parents);
        expect(next.shape).toEqual([width, (l + 1) * width]);
        got.push((await next.read()) as Uint32Array);
        parents.dispose();
        prev?.dispose();
        prev = next;
      }
      prev!.dispose();
      const n = levels * width;
      const full = treeMaskCpu(parentRows); // [n, n]
      for (let l = 0; l < levels; l++) {
        const cols = (l + 1) * width;
        const want = Array.from({ length: width * cols }, (_, e) => full[(l * width + Math.floor(e / cols)) * n + (e % cols)]);
        expect(Array.from(got[l]), `level ${l}`).toEqual(want);
      }
    });
  }

  it('refuses operands it cannot take', () => {
    const parents = device.tensor(Int32Array.of(0, 1), [2], 'i32');
    const floats = device.tensor(new Float32Array(2), [2]);
    const tall = device.empty([3, 2], 'u32');
    const flat = device.empty([4], 'u32');
    expect(() => levelMask(null, floats)).toThrow(DTypeError);
    expect(() => levelMask(tall, parents)).toThrow(/over P >= m rows/);
    expect(() => levelMask(flat, parents)).toThrow(ShapeError);
    for (const t of [parents, floats, tall, flat]) t.dispose();
  });
});
