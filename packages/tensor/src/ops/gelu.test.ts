// The exact GELU kernel against its f64 CPU twin (series / continued-fraction erf, a different
// method from the kernel's A&S polynomial) and against published values of Φ and erf.
import { describe, expect, it } from 'vitest';
import { getDevice } from '../device';
import { gelu } from './unary';
import { erfCpu, geluCpu } from '../cpu/elementwise';
import { assertClose, randomArray } from '../testing';
import { DTypeError } from '../errors';

const device = await getDevice();

describe('gelu', () => {
  it('the CPU erf matches published values', () => {
    // Abramowitz & Stegun table 7.1 / any erf table
    const table: Array<[number, number]> = [[0, 0], [0.5, 0.5204998778130465], [1, 0.8427007929497149], [2, 0.9953222650189527], [3.5, 0.9999992569016276], [-1, -0.8427007929497149]];
    for (const [x, want] of table) expect(Math.abs(erfCpu(x) - want), `erf(${x})`).toBeLessThan(1e-13);
  });

  it('matches x·Φ(x) at published points', async () => {
    // Φ(1) = 0.8413447460685429, Φ(−1) = 0.15865525393145707, Φ(2) = 0.9772498680518208
    const xs = Float32Array.of(0, 1, -1, 2, -2, 6, -6);
    const want = [0, 0.8413447460685429, -0.15865525393145707, 1.9544997361036416, -0.04550026389635842, 6 * (1 - 9.865876450376946e-10), -6 * 9.865876450376946e-10];
    const x = device.tensor(xs, [xs.length]);
    const y = gelu(x);
    assertClose(await y.read(), Float64Array.from(want), { atol: 1e-6, rtol: 1e-6, what: 'gelu at published points' });
    x.dispose();
    y.dispose();
  });

  for (const n of [1, 3, 17, 257, 4099]) {
    it(`matches its CPU twin on ${n} values in [-8, 8]`, async () => {
      const xa = randomArray(n, n + 11, -8, 8);
      const x = device.tensor(xa, [n]);
      const y = gelu(x);
      expect(y.shape).toEqual([n]);
      assertClose(await y.read(), geluCpu(xa), { atol: 1e-6, rtol: 1e-5, what: `gelu [${n}]` });
      x.dispose();
      y.dispose();
    });
  }

  it('rejects non-f32 input with a typed error', () => {
    const ids = device.tensor([1, 2], [2], 'i32');
    expect(() => gelu(ids)).toThrow(DTypeError);
    ids.dispose();
  });
});
