// Smooth L1 (EAGLE's feature regression): the loss and dx against the formula on the CPU and finite differences.
import { describe, it } from 'vitest';
import { getDevice, randomArray } from '@hydra-ts/tensor';
import { checkGradients } from '../gradcheck';

const device = await getDevice();

/** Σ_r w_r Σ_j h(x − y) / (n·Σ w), h(d) = d²/(2β) for |d| < β, |d| − β/2 beyond. */
function smoothL1Ref(x: Float64Array, y: Float32Array, w: number[], n: number, beta: number): number[] {
  let s = 0;
  const total = w.reduce((a, b) => a + b, 0);
  for (let e = 0; e < x.length; e++) {
    const d = Math.abs(x[e] - y[e]);
    s += w[Math.floor(e / n)] * (d < beta ? (0.5 * d * d) / beta : d - 0.5 * beta);
  }
  return [s / (n * total)];
}

describe.each([1, 3, 17])('smoothL1, %i rows', (rows) => {
  it.each([[5, 1], [33, 0.25]])('width %i, beta %f: the loss and dx match the formula and finite differences', async (n, beta) => {
    const x = randomArray(rows * n, rows * 31 + n, -2, 2);
    const y = randomArray(rows * n, rows * 7 + n, -2, 2);
    const w = Array.from({ length: rows }, (_, r) => (r % 3 === 2 ? 0 : 1 + r / 10)); // a zero weight drops its row
    const target = device.tensor(y, [rows, n]);
    await checkGradients(device, [{ data: x, shape: [rows, n] }], (t, [a]) => t.smoothL1(a, target, { beta, weights: w }), ([a]) => smoothL1Ref(a, y, w, n, beta), { what: 'smoothL1' });
    target.dispose();
  });
});
