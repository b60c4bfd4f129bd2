import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { getDevice } from '../device';
import { logSoftmax, softmax } from './softmax';
import { logSoftmaxCpu, softmaxCpu } from '../cpu/softmax';
import { assertClose, randomArray } from '../testing';
import { DisposedError, DTypeError, OptionError, ShapeError } from '../errors';

const device = await getDevice();

// f32 exp and sums against f64: probabilities to ~1e-6 relative; log-probs to ~1e-5 absolute
// (|log p| reaches ~30 for the 10-wide logits used here).
const PROB = { atol: 1e-7, rtol: 2e-5 };
const LOGP = { atol: 2e-5, rtol: 2e-6 };

describe('softmax and logSoftmax match their CPU twins', () => {
  for (const [rows, n] of [[1, 1], [3, 3], [17, 17], [2, 257], [5, 512], [2, 32000], [1, 49157]] as const) {
    it(`[${rows}, ${n}]`, async () => {
      const xa = randomArray(rows * n, rows * 13 + n, -10, 10);
      const x = device.tensor(xa, [rows, n]);
      const p = softmax(x);
      const lp = logSoftmax(x);
      const pt = softmax(x, { temperature: 0.7 });
      expect(p.shape).toEqual([rows, n]);
      assertClose(await p.read(), softmaxCpu(xa, rows, n), { ...PROB, what: 'softmax' });
      assertClose(await lp.read(), logSoftmaxCpu(xa, rows, n), { ...LOGP, what: 'logSoftmax' });
      assertClose(await pt.read(), softmaxCpu(xa, rows, n, 0.7), { ...PROB, what: 'softmax T=0.7' });
      for (const t of [x, p, lp, pt]) t.dispose();
    });
  }

  it('stays finite for huge logits and -inf entries (masked tokens)', async () => {
    const xa = Float32Array.from([1e30, 3e38, -Infinity, 0, -3e38, 3e38, 5, -Infinity]);
    const x = device.tensor(xa, [2, 4]);
    const p = softmax(x);
    const lp = logSoftmax(x);
    assertClose(await p.read(), [0, 1, 0, 0, 0, 1, 0, 0], { atol: 1e-7, what: 'softmax extreme' });
    const l = await lp.read();
    expect(l[1]).toBe(0);
    expect(l[2]).toBe(-Infinity);
    expect(l[7]).toBe(-Infinity);
    for (const t of [x, p, lp]) t.dispose();
  });

  it('rows sum to one and shifting a row changes nothing (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 3000 }), fc.double({ min: -50, max: 50, noNaN: true }), async (rows, n, shift) => {
        const xa = randomArray(rows * n, rows * 977 + n, -5, 5);
        const x = device.tensor(xa, [rows, n]);
        const y = device.tensor(xa.map((v) => v + shift), [rows, n]);
        const px = softmax(x);
        const py = softmax(y);
        const lp = logSoftmax(x);
        const a = await px.read();
        assertClose(await py.read(), a, { atol: 2e-6, rtol: 1e-3, what: 'softmax(x + c) = softmax(x)' });
        const l = await lp.read();
        for (let r = 0; r < rows; r++) {
          let sum = 0;
          let lse = 0;
          for (let j = 0; j < n; j++) {
            sum += a[r * n + j];
            lse += Math.exp(l[r * n + j]);
          }
          expect(Math.abs(sum - 1)).toBeLessThan(1e-5);
          expect(Math.abs(lse - 1)).toBeLessThan(1e-5);
        }
        for (const t of [x, y, px, py, lp]) t.dispose();
      }),
      { numRuns: 10 },
    );
  });

  it('rejects bad shapes, dtypes, temperatures and disposed inputs with typed errors', () => {
    const x = device.tensor(randomArray(6, 1), [2, 3]);
    const ids = device.tensor([1, 2, 3], [1, 3], 'i32');
    expect(() => softmax(x.reshape([6]))).toThrow(ShapeError);
    expect(() => logSoftmax(x.reshape([1, 2, 3]))).toThrow(/logSoftmax: x \[1, 2, 3\] f32 has rank 3, expected rank 2/);
    expect(() => softmax(ids)).toThrow(DTypeError);
    expect(() => softmax(x, { temperature: 0 })).toThrow(OptionError);
    expect(() => logSoftmax(x, { temperature: -1 })).toThrow(/logSoftmax: temperature must be a finite number > 0, got -1/);
    expect(() => softmax(x, { temperature: Infinity })).toThrow(OptionError);
    x.dispose();
    expect(() => softmax(x)).toThrow(DisposedError);
    ids.dispose();
  });
});
