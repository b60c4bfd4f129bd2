import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { topkRows } from './select';

describe('topkRows', () => {
  it('equals a stable sort by value, per row, ties to the lower id', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 40 }),
        fc.array(fc.integer({ min: -3, max: 3 }), { minLength: 160, maxLength: 160 }),
        (rows, width, kk, pool) => {
          const k = Math.min(kk, width);
          // small integers: many ties
          const values = Float32Array.from({ length: rows * width }, (_, i) => pool[i % pool.length] + (i % 7 === 0 ? 0.5 : 0));
          const got = topkRows(values, rows, width, k);
          for (let r = 0; r < rows; r++) {
            const ids = Array.from({ length: width }, (_, i) => i).sort((a, b) => values[r * width + b] - values[r * width + a] || a - b);
            expect([...got.subarray(r * k, r * k + k)]).toEqual(ids.slice(0, k));
          }
        },
      ),
    );
  });

  it('refuses k wider than the row', () => {
    expect(() => topkRows(new Float32Array(3), 1, 3, 4)).toThrow(RangeError);
  });
});
