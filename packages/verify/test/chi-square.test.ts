import { describe, expect, it } from 'vitest';
import { chiSquarePValue, chiSquareTest } from './chi-square';

describe('chi-square helper', () => {
  it('reproduces published chi-square table quantiles', () => {
    // (dof, x, upper-tail probability) from standard tables.
    const table: [number, number, number][] = [
      [1, 3.841459, 0.05],
      [1, 15.13671, 1e-4],
      [10, 18.307038, 0.05],
      [35, 49.80185, 0.05],
      [100, 124.342114, 0.05],
      [100, 149.449252, 0.001],
      [200, 233.994267, 0.05],
      [4, 1.063623, 0.9],
    ];
    for (const [dof, x, p] of table) expect(chiSquarePValue(x, dof)).toBeCloseTo(p, p < 0.01 ? 6 : 5);
  });

  it('pools sparse cells and flags impossible ones', () => {
    const r = chiSquareTest([50, 30, 18, 1, 1], [0.5, 0.3, 0.18, 0.01, 0.01]);
    expect(r.dof).toBe(3); // the two 1-expected cells pool into one bin
    expect(r.stat).toBeCloseTo(0, 12);
    expect(chiSquareTest([10, 1], [1, 0]).pValue).toBe(0);
  });
});
