import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { getDevice } from '../device';
import { linear, sharesRows, type ColumnConfig } from './linear';
import { Q4Matrix } from './linear/q4-matrix';
import { Q8Matrix } from './linear/q8-matrix';
import { linearCpu } from '../cpu/linear';
import { dequantizeQ8Cpu, linearQ8Cpu, quantizeQ4Cpu, quantizeQ8Cpu, Q8_GROUP } from '../cpu/linear-q8';
import { compareClose, randomArray } from '../testing';
import { DisposedError, OptionError, ShapeError } from '../errors';
import type { Tensor } from '../tensor';

const device = await getDevice();
const it8 = device.hasPacked4x8 ? it : it.skip;

async function readAll(...ts: Tensor[]): Promise<Float32Array[]> {
  const out = await Promise.all(ts.map((t) => t.read()));
  for (const t of ts) t.dispose();
  return out as Float32Array[];
}

/**
 * The kernel and its twin add the same integers, except where an x value rounds the other way
 * (the kernel's f32 division and prologue against the twin's): one such value moves an output by
 * at most |w|·scale_x ≤ 1/127 here. So: nearly every output equal, none off by more than that.
 */
function expectTwin(actual: Float32Array, expected: Float32Array, what: string): void {
  const loose = compareClose(actual, expected, { atol: 2e-2, rtol: 1e-3, what });
  expect(loose.ok, loose.message).toBe(true);
  let exact = 0;
  for (let i = 0; i < actual.length; i++) if (Math.abs(actual[i] - expected[i]) <= 1e-4 * (1 + Math.abs(expected[i]))) exact++;
  expect(exact / actual.length, `${what}: share of outputs equal to the twin's`).toBeGreaterThanOrEqual(0.9);
}

describe('quantizeQ8Cpu', () => {
  it('scales each group of 32 by its largest magnitude and rounds ties to even', () => {
    const row = new Float32Array(64);
    row[0] = 2; // group 0: scale 2/127, so 127·v/2
    row[1] = 1; // 63.5 -> 64 (even)
    row[2] = -3 / 127; // -1.5 -> -2 (even)
    row[3] = 5 / 127; // 2.5 -> 2 (even)
    // group 1 all zero: scale 0, values 0
    const { q, scales } = quantizeQ8Cpu(row, 1, 64);
    expect(Array.from(q.slice(0, 4))).toEqual([127, 64, -2, 2]);
    expect(scales[0]).toBeCloseTo(2 / 127, 7);
    expect(scales[1]).toBe(0);
    expect(Array.from(q.slice(32)).every((v) => v === 0)).toBe(true);
  });

  it('round-trips within half a step of each group', () => {
    const k = 96;
    const a = randomArray(3 * k, 5);
    const d = quantizeQ8Cpu(a, 3, k);
    const back = dequantizeQ8Cpu(d, 3, k);
    for (let i = 0; i < a.length; i++) {
      const s = d.scales[Math.floor(i / Q8_GROUP)];
      expect(Math.abs(back[i] - a[i])).toBeLessThanOrEqual(s / 2 + 1e-7);
    }
    // A row of 48 takes two groups, the second half zeros: its scale comes from the 16 real values.
    const p = quantizeQ8Cpu(a.subarray(0, 48), 1, 48);
    expect(p.q.length).toBe(64);
    expect(Array.from(p.q.slice(48)).every((v) => v === 0)).toBe(true);
    let m = 0;
    for (let i = 32; i < 48; i++) m = Math.max(m, Math.abs(a[i]));
    expect(p.scales[1]).toBeCloseTo(m / 127, 7);
    expect(Array.from(dequantizeQ8Cpu(p, 1, 48))).toHaveLength(48);
  });
});

describe('quantizeQ4Cpu', () => {
  it("maps each group's largest-magnitude value to -8 and rounds the rest by its scale", () => {
    const row = new Float32Array(64);
    row[0] = -2; // the extreme: scale -2/-8 = 0.25, so q = v / 0.25
    row[1] = 2; // 8 -> clamped to 7
    row[2] = 0.375; // 1.5 -> 2 (even)
    row[3] = 0.625; // 2.5 -> 2 (even)
    row[32] = 1; // group 1: scale 1/-8, q = -8·v
    row[33] = -0.3; // 2.4 -> 2
    const { q, scales } = quantizeQ4Cpu(row, 1, 64);
    expect(Array.from(q.slice(0, 4))).toEqual([-8, 7, 2, 2]);
    expect(scales[0]).toBe(0.25);
    expect(Array.from(q.slice(32, 34))).toEqual([-8, 2]);
    expect(scales[1]).toBe(-0.125);
  });

  it('round-trips within half a step of each group, zero groups and padding included', () => {
    const k = 80; // three groups, the last half padding
    const a = randomArray(3 * k, 6);
    a.fill(0, 32, 64); // row 0's second group all zero: scale 0
    const d = quantizeQ4Cpu(a, 3, k);
    expect(d.q.length).toBe(3 * 96);
    expect(d.scales[1]).toBe(0);
    const back = dequantizeQ8Cpu(d, 3, k);
    for (let r = 0; r < 3; r++) {
      for (let i = 0; i < k; i++) {
        const s = Math.abs(d.scales[r * 3 + Math.floor(i / Q8_GROUP)]);
        // 7 is where values opposite the extreme clamp (8 steps away at most): a whole step there
        const bound = d.q[r * 96 + i] === 7 ? s : s / 2;
        expect(Math.abs(back[r * k + i] - a[r * k + i])).toBeLessThanOrEqual(bound + 1e-7);
        expect(d.q[r * 96 + i]).toBeGreaterThanOrEqual(-8);
        expect(d.q[r * 96 + i]).toBeLessThanOrEqual(7);
      }
      for (let i = k; i < 96; i++) expect(d.q[r * 96 + i]).toBe(0);
    }
  });
});

const KINDS = [
  { name: 'int8 weights (Q8Matrix)', Matrix: Q8Matrix, quantize: quantizeQ8Cpu, bits: 8, fullAtol: 0.02 },
  // a 4-bit step is 16× an int8 one: the error against f32 weights grows with it
  { name: '4-bit weights (Q4Matrix)', Matrix: Q4Matrix, quantize: quantizeQ4Cpu, bits: 4, fullAtol: 0.15 },
] as const;

for (const { name, Matrix, quantize: quantizeCpu, bits, fullAtol } of KINDS) {
describe(`linear with ${name} matches linearQ8Cpu`, () => {
  const cases: Array<[number, number, number]> = [
    [1, 32, 1],
    [1, 172, 64], // rows padded to whole groups (stories260K's hidden width)
    [5, 44, 17],
    [1, 288, 513],
    [1, 768, 300],
    [2, 64, 17],
    [3, 288, 5],
    [5, 96, 257],
    [17, 288, 64],
    [64, 288, 288],
  ];
  for (const [rows, k, n] of cases) {
    const fused = rows === 3 || rows === 17 || k === 44; // the epilogues on a few shapes (each variant is a kernel to compile)
    it8(`${rows}×${k} · [${n}, ${k}]ᵀ${fused ? ', plain, with bias and residual, with SiLU' : ''}`, async () => {
      const xa = randomArray(rows * k, rows + k + n);
      const wa = randomArray(n * k, 7 * n + k);
      const x = device.tensor(xa, [rows, k]);
      const w = Matrix.quantize(device, wa, [n, k]);
      const wq = quantizeCpu(wa, n, k);
      const [y] = await readAll(linear(x, w));
      expectTwin(y, linearQ8Cpu(xa, wq, rows, k, n), 'plain');
      // The quantization error against full precision stays small: 6σ of k rounding errors of
      // at most half a step (values in [-1, 1]).
      const err = compareClose(y, linearCpu(xa, wa, rows, k, n), { atol: fullAtol * Math.sqrt(k), rtol: 0.02, what: 'against f32 weights' });
      expect(err.ok, err.message).toBe(true);
      if (fused) {
        const ba = randomArray(n, 3);
        const ra = randomArray(rows * n, 4);
        const b = device.tensor(ba, [n]);
        const r = device.tensor(ra, [rows, n]);
        const [yf, ys] = await readAll(linear(x, w, b, { residual: r }), linear(x, w, b, { activation: 'silu' }));
        expectTwin(yf, linearQ8Cpu(xa, wq, rows, k, n, { bias: ba, residual: ra }), 'bias + residual');
        expectTwin(ys, linearQ8Cpu(xa, wq, rows, k, n, { bias: ba, silu: true }), 'silu');
        b.dispose();
        r.dispose();
      }
      w.dispose();
      x.dispose();
    });
  }

  it8('fuses the RMSNorm, SwiGLU and GeGLU prologues, on whole and padded groups', async () => {
    for (const k of [96, 172]) {
      const rows = 3;
      const n = 40;
      const xa = randomArray(rows * k, 11);
      const xa2 = randomArray(rows * 2 * k, 12);
      const ga = randomArray(k, 13);
      const wa = randomArray(n * k, 14);
      const wq = quantizeCpu(wa, n, k);
      const x = device.tensor(xa, [rows, k]);
      const x2 = device.tensor(xa2, [rows, 2 * k]);
      const g = device.tensor(ga, [k]);
      const w = Matrix.quantize(device, wa, [n, k]);
      const [yn, yg] = await readAll(linear(x, w, undefined, { normalize: { weight: g, eps: 1e-5 } }), linear(x2, w, undefined, { swiglu: true }));
      expectTwin(yn, linearQ8Cpu(xa, wq, rows, k, n, { norm: ga, eps: 1e-5 }), 'rmsnorm');
      expectTwin(yg, linearQ8Cpu(xa2, wq, rows, k, n, { swiglu: true }), 'swiglu');
      const [ye] = await readAll(linear(x2, w, undefined, { geglu: true }));
      expectTwin(ye, linearQ8Cpu(xa2, wq, rows, k, n, { geglu: true }), 'geglu');
      w.dispose();
      for (const t of [x, x2, g]) t.dispose();
    }
  });

  it8('binds weights past the binding limit a slice of rows at a time', async () => {
    const rows = 2;
    const k = 64;
    const n = 300;
    const xa = randomArray(rows * k, 21);
    const wa = randomArray(n * k, 22);
    const x = device.tensor(xa, [rows, k]);
    const w = Matrix.quantize(device, wa, [n, k]);
    const before = device.stats.dispatches;
    const [sliced] = await readAll(linear(x, w, undefined, { maxBindingBytes: 4096 }));
    expect(device.stats.dispatches - before).toBeGreaterThan(1);
    const [whole] = await readAll(linear(x, w));
    expect(Array.from(sliced)).toEqual(Array.from(whole));
    w.dispose();
    x.dispose();
  });

  // Shared rows come from broadcasts instead of each lane's own loads: the same sums in the same
  // order, so the same bits.
  (device.hasPacked4x8 && sharesRows(device) ? it : it.skip)('shares rows through subgroups bit for bit with the per-lane kernel', async () => {
    const blocks: ColumnConfig[] = [
      { wg: 8, tm: 2, tc: 1 },
      { wg: 24, tm: 4, tc: 3 },
      { wg: 32, tm: 8, tc: 2 },
      { wg: 16, tm: 16, tc: 1 },
    ];
    for (const [rows, k, n] of [[3, 64, 17], [17, 172, 40], [64, 288, 33], [257, 32, 5]] as const) {
      const xa = randomArray(rows * k, rows + k);
      const wa = randomArray(n * k, n + k);
      const ba = randomArray(n, 5);
      const ra = randomArray(rows * n, 6);
      const x = device.tensor(xa, [rows, k]);
      const w = Matrix.quantize(device, wa, [n, k]);
      const b = device.tensor(ba, [n]);
      const r = device.tensor(ra, [rows, n]);
      const ref = linearQ8Cpu(xa, quantizeCpu(wa, n, k), rows, k, n, { bias: ba, residual: ra, silu: true });
      for (const c of blocks) {
        const opts = { activation: 'silu' as const, residual: r };
        const [shared, own] = await readAll(linear(x, w, b, { ...opts, columns: { ...c, share: true } }), linear(x, w, b, { ...opts, columns: c }));
        const what = `${rows}×${k}·${n} ${JSON.stringify(c)}`;
        expectTwin(shared, ref, what);
        expect(Array.from(shared), what).toEqual(Array.from(own));
      }
      w.dispose();
      for (const t of [x, b, r]) t.dispose();
    }
  });

  it8('holds for any shape (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 70 }), fc.integer(), async (rows, groups, n, seed) => {
        const k = groups * Q8_GROUP;
        const xa = randomArray(rows * k, seed);
        const wa = randomArray(n * k, seed + 1);
        const x = device.tensor(xa, [rows, k]);
        const w = Matrix.quantize(device, wa, [n, k]);
        const [y] = await readAll(linear(x, w));
        expectTwin(y, linearQ8Cpu(xa, quantizeCpu(wa, n, k), rows, k, n), `${rows}×${k}·${n}`);
        w.dispose();
        x.dispose();
      }),
      { numRuns: 12 },
    );
  });

  it8('reads back as the matrix it stands for', async () => {
    const wa = randomArray(5 * 64, 31);
    const w = Matrix.quantize(device, wa, [5, 64], 'wq');
    expect(Array.from(await w.read())).toEqual(Array.from(dequantizeQ8Cpu(quantizeCpu(wa, 5, 64), 5, 64)));
    expect(w.describe()).toBe(`wq q${bits} [5, 64]`);
    expect(w.byteLength).toBe((5 * 64 * bits) / 8 + 5 * 2 * 4);
    w.dispose();
    expect(w.disposed).toBe(true);
  });

  it8('takes wide inputs (a 16384-wide row)', async () => {
    const k = 16384;
    const xa = randomArray(k, 41);
    const wa = randomArray(3 * k, 42);
    const x = device.tensor(xa, [1, k]);
    const w = Matrix.quantize(device, wa, [3, k]);
    const [y] = await readAll(linear(x, w));
    expectTwin(y, linearQ8Cpu(xa, quantizeCpu(wa, 3, k), 1, k, 3), 'k = 16384');
    w.dispose();
    x.dispose();
  });

  it8('bad input: shapes, disposal and paths give typed errors', async () => {
    expect(() => Matrix.quantize(device, new Float32Array(6), [1, 6])).toThrow(ShapeError);
    expect(() => Matrix.quantize(device, new Float32Array(6), [1, 6])).toThrow(/multiple of 4/);
    expect(() => Matrix.quantize(device, new Float32Array(10), [1, 32])).toThrow(/10 values for shape \[1, 32\], expected 32/);
    const w = Matrix.quantize(device, randomArray(4 * 32, 1), [4, 32]);
    const x = device.tensor(randomArray(64, 2), [1, 64]);
    expect(() => linear(x, w)).toThrow(/x's last dimension 64 differs from w's input dimension 32/);
    const x32 = device.tensor(randomArray(32, 3), [1, 32]);
    expect(() => linear(x32, w, undefined, { path: 'tiled' })).toThrow(OptionError);
    w.dispose();
    expect(() => linear(x32, w)).toThrow(DisposedError);
    for (const t of [x, x32]) t.dispose();
  });
});
}
