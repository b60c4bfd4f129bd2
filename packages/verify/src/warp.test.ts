import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { OptionError } from '@hydra-ts/tensor';
import { createRng } from './rng';
import { argmaxOf, sampleFromLogits, warpLogits } from './warp';
import { VerifyError } from './errors';
import { chiSquareTest } from '../test/chi-square';

describe('warpLogits', () => {
  it('temperature softmax matches a direct computation (property, odd vocab sizes)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 3, 17, 257),
        fc.double({ min: 0.05, max: 4, noNaN: true }),
        fc.integer(),
        (V, T, seed) => {
          const rng = createRng(seed);
          const logits = Float32Array.from({ length: V }, () => (rng.next() - 0.5) * 20);
          const p = warpLogits(logits, { temperature: T });
          const e = Array.from(logits, (z) => Math.exp(z / T));
          const s = e.reduce((a, b) => a + b, 0);
          for (let v = 0; v < V; v++) expect(p[v]).toBeCloseTo(e[v] / s, 12);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('top-k and top-p keep the tokens worked out by hand', () => {
    const logits = Float32Array.from([Math.log(0.1), Math.log(0.4), Math.log(0.2), Math.log(0.3)]);
    const close = (a: Float64Array, b: number[]) => b.forEach((x, v) => expect(a[v]).toBeCloseTo(x, 6));
    close(warpLogits(logits, { temperature: 1 }), [0.1, 0.4, 0.2, 0.3]);
    close(warpLogits(logits, { temperature: 1, topK: 2 }), [0, 0.4 / 0.7, 0, 0.3 / 0.7]);
    close(warpLogits(logits, { temperature: 1, topP: 0.6 }), [0, 0.4 / 0.7, 0, 0.3 / 0.7]); // 0.4 < 0.6 <= 0.7
    close(warpLogits(logits, { temperature: 1, topP: 0.7 }), [0, 0.4 / 0.7, 0, 0.3 / 0.7]);
    close(warpLogits(logits, { temperature: 1, topP: 0.71 }), [0, 0.4 / 0.9, 0.2 / 0.9, 0.3 / 0.9]);
    close(warpLogits(logits, { temperature: 1, topP: 0.01 }), [0, 1, 0, 0]);
    close(warpLogits(logits, { temperature: 1, topK: 3, topP: 0.5 }), [0, 0.4 / 0.7, 0, 0.3 / 0.7]); // top-p over 4/9, 3/9, 2/9
    close(warpLogits(logits, { temperature: 0, topK: 3 }), [0, 1, 0, 0]);
    close(warpLogits(Float32Array.from([1, -Infinity, 1]), { temperature: 1 }), [0.5, 0, 0.5]);
    expect(argmaxOf([3, 5, 5, 1])).toBe(1);
  });

  it('rejects bad logits and options', () => {
    expect(() => warpLogits(Float32Array.from([0, Number.NaN]), { temperature: 1 })).toThrowError(/logits\[1\] = NaN/);
    expect(() => warpLogits(Float32Array.from([-Infinity]), { temperature: 1 })).toThrowError(VerifyError);
    expect(() => warpLogits(new Float32Array(0), { temperature: 1 })).toThrowError(/empty/);
    const rng = createRng(1);
    const row = Float32Array.from([0, 1]);
    expect(() => sampleFromLogits(row, { temperature: -1 }, rng)).toThrowError(/temperature = -1; expected a finite number >= 0/);
    expect(() => sampleFromLogits(row, { temperature: 1, topK: 0 }, rng)).toThrowError(/topK = 0; expected an integer >= 1/);
    expect(() => sampleFromLogits(row, { temperature: 1, topP: 0 }, rng)).toThrowError(/topP = 0; expected a number in \(0, 1\]/);
    expect(() => sampleFromLogits(row, { temperature: 1, topP: 1.5 }, rng)).toThrowError(OptionError);
  });
});

describe('sampleFromLogits', () => {
  it('draws from the warped distribution (chi-square, 100k draws, p > 1e-4)', () => {
    const rng = createRng(99);
    const logits = Float32Array.from([0.3, -1, 2, 0.5, 1.1, -0.2, 0.9]);
    for (const opts of [{ temperature: 1 }, { temperature: 0.6, topK: 4 }, { temperature: 1.3, topP: 0.8 }]) {
      const p = warpLogits(logits, opts);
      const counts = new Float64Array(logits.length);
      for (let k = 0; k < 100_000; k++) counts[sampleFromLogits(logits, opts, rng)]++;
      const r = chiSquareTest(counts, p);
      expect(r.impossible).toBe(0);
      expect(r.pValue).toBeGreaterThan(1e-4);
    }
    expect(sampleFromLogits(logits, { temperature: 0 }, rng)).toBe(2);
  });
});
