import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Device, getDevice } from '../device';
import { columnConfig, fitWidth, linear, linearNaive, SHARE_LANES, sharesRows, type ColumnConfig } from './linear';
import { flags } from '../flags';
import { matmul } from './matmul';
import { KSPLIT_MAX_UNITS, ksplitByDefault, ksplitLanes } from './linear/ksplit';
import { fusedLinearCpu, linearCpu, matmulCpu } from '../cpu/linear';
import { f16ToF32, f32ToF16 } from '../half';
import { assertClose, randomArray } from '../testing';
import { DisposedError, DTypeError, OptionError, ShapeError } from '../errors';
import type { Tensor } from '../tensor';

const device = await getDevice();

// f32 sums of up to 288 products of values in [-1, 1], against f64 references.
const TOL = { atol: 1e-4, rtol: 1e-4 };

function data(rows: number, k: number, n: number, seed: number) {
  return { xa: randomArray(rows * k, seed), wa: randomArray(n * k, seed + 1), ba: randomArray(n, seed + 2) };
}

async function readAll(...ts: Tensor[]): Promise<Float32Array[]> {
  const out = await Promise.all(ts.map((t) => t.read()));
  for (const t of ts) t.dispose();
  return out as Float32Array[];
}

describe('linear matches linearCpu', () => {
  // Every rows value meets every in and out value at least once without running the full product.
  const rowsSet = [1, 2, 3, 17, 64, 257];
  const ins = [1, 3, 17, 64, 288];
  const outs = [1, 5, 17, 300, 513];
  const cases: Array<[number, number, number]> = [];
  rowsSet.forEach((r, i) => ins.forEach((k, j) => cases.push([r, k, outs[(i + j) % outs.length]])));
  for (const [rows, k, n] of cases) {
    it(`${rows}×${k} · [${n}, ${k}]ᵀ, with and without bias, both kernels`, async () => {
      const { xa, wa, ba } = data(rows, k, n, rows * 1000 + k * 10 + n);
      const x = device.tensor(xa, [rows, k]);
      const w = device.tensor(wa, [n, k]);
      const b = device.tensor(ba, [n]);
      const [y, yb, yt] = await readAll(linear(x, w), linear(x, w, b), linear(x, w, b, { path: 'tiled' }));
      assertClose(y, linearCpu(xa, wa, rows, k, n), { ...TOL, what: 'linear' });
      const ref = linearCpu(xa, wa, rows, k, n, ba);
      assertClose(yb, ref, { ...TOL, what: 'linear + bias' });
      assertClose(yt, ref, { ...TOL, what: 'linear tiled + bias' });
      if (rows <= 17) assertClose((await readAll(linearNaive(x, w, b)))[0], ref, { ...TOL, what: 'linearNaive' });
      for (const t of [x, w, b]) t.dispose();
    });
  }

  it('takes a 1-D x as one row', async () => {
    const { xa, wa, ba } = data(1, 17, 5, 5);
    const x = device.tensor(xa, [17]);
    const w = device.tensor(wa, [5, 17]);
    const b = device.tensor(ba, [5]);
    const y = linear(x, w, b);
    expect(y.shape).toEqual([5]);
    assertClose((await readAll(y))[0], linearCpu(xa, wa, 1, 17, 5, ba), TOL);
    for (const t of [x, w, b]) t.dispose();
  });

  it.runIf(device.hasF16)('f16 weights accumulate in f32 (compared with the f16-rounded weights)', async () => {
    for (const [rows, k, n] of [[1, 288, 300], [3, 17, 5], [64, 64, 513], [17, 3, 17]] as const) {
      const { xa, wa, ba } = data(rows, k, n, 77 + k);
      const x = device.tensor(xa, [rows, k]);
      const w = device.tensor(wa, [n, k], 'f16');
      const b = device.tensor(ba, [n]);
      // The reference uses the same f16-rounded weights, so only accumulation order differs.
      const ref = linearCpu(xa, f16ToF32(f32ToF16(wa)), rows, k, n, ba);
      const [y, yt, yn] = await readAll(linear(x, w, b), linear(x, w, b, { path: 'tiled' }), linearNaive(x, w, b));
      for (const [got, what] of [[y, 'columns'], [yt, 'tiled'], [yn, 'naive']] as const) assertClose(got, ref, { ...TOL, what: `f16 ${what} ${rows}x${k}x${n}` });
      for (const t of [x, w, b]) t.dispose();
    }
  });

  it('binds weights past maxBindingBytes as aligned slices of rows', async () => {
    // 300 rows of 17 f32 (68 bytes): slices of 64 rows (4352 bytes, 256-aligned) under a 5000-byte limit.
    for (const [rows, k, n, dtype] of [[3, 17, 300, 'f32'], [64, 17, 300, 'f32'], [2, 64, 513, 'f32'], [5, 17, 300, 'f16']] as const) {
      if (dtype === 'f16' && !device.hasF16) continue;
      const { xa, wa, ba } = data(rows, k, n, 31 + n);
      const x = device.tensor(xa, [rows, k]);
      const w = device.tensor(wa, [n, k], dtype);
      const b = device.tensor(ba, [n]);
      const ref = linearCpu(xa, dtype === 'f16' ? f16ToF32(f32ToF16(wa)) : wa, rows, k, n, ba);
      const before = device.stats.dispatches;
      const y = linear(x, w, b, { maxBindingBytes: 5000 });
      const yt = linear(x, w, b, { maxBindingBytes: 5000, path: 'tiled' });
      expect(device.stats.dispatches - before).toBeGreaterThan(2);
      const [ya, yta] = await readAll(y, yt);
      assertClose(ya, ref, { ...TOL, what: `chunked ${dtype}` });
      assertClose(yta, ref, { ...TOL, what: `chunked tiled ${dtype}` });
      for (const t of [x, w, b]) t.dispose();
    }
  });

  it('random shapes (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 70 }), fc.integer({ min: 1, max: 70 }), fc.integer({ min: 1, max: 140 }), fc.boolean(), async (rows, k, n, withBias) => {
        const { xa, wa, ba } = data(rows, k, n, rows * 7 + k * 13 + n);
        const x = device.tensor(xa, [rows, k]);
        const w = device.tensor(wa, [n, k]);
        const b = device.tensor(ba, [n]);
        const [y] = await readAll(linear(x, w, withBias ? b : undefined));
        assertClose(y, linearCpu(xa, wa, rows, k, n, withBias ? ba : undefined), { ...TOL, what: `${rows}x${k}x${n}` });
        for (const t of [x, w, b]) t.dispose();
      }),
      { numRuns: 12 },
    );
  });

  it('rejects bad input with typed errors naming op and shapes', () => {
    const x = device.tensor(randomArray(6, 1), [2, 3]);
    const w = device.tensor(randomArray(8, 2), [2, 4]);
    const w3 = device.tensor(randomArray(6, 2), [2, 3]);
    const b = device.tensor(randomArray(3, 3), [3]);
    const ids = device.tensor([1, 2, 3, 4, 5, 6], [2, 3], 'i32');
    expect(() => linear(x, w)).toThrow(ShapeError);
    expect(() => linear(x, w)).toThrow(/linear: .*x \[2, 3\], w \[2, 4\]/);
    expect(() => linear(x, w3, b)).toThrow(/linear: bias must be \[2\].*bias \[3\]/);
    expect(() => linearNaive(x, w)).toThrow(/linearNaive: /);
    expect(() => linear(ids, w3)).toThrow(DTypeError);
    expect(() => linear(x, ids)).toThrow(/linear: w .* i32/);
    expect(() => linear(x, w3, undefined, { maxBindingBytes: 3 })).toThrow(OptionError);
    expect(() => linear(x.reshape([1, 2, 3]), w3)).toThrow(/rank 3/);
    b.dispose();
    expect(() => linear(x, w3, b)).toThrow(DisposedError);
    for (const t of [x, w, w3, ids]) t.dispose();
  });
});

describe('one-row k-split kernel (path ksplit)', () => {
  const lanes = ksplitLanes(device);
  const maxK = lanes === null ? 0 : lanes * 4 * KSPLIT_MAX_UNITS;

  it.runIf(lanes !== null)('matches fusedLinearCpu with bias, SiLU and residual, on whole and sliced weights', async () => {
    // k: one vec4; fewer vec4s than lanes; a ragged last slot; the largest row that fits.
    const shapes: Array<[number, number]> = [[4, 5], [12, 300], [172, 64], [288, 513], [maxK, 33]];
    for (const [k, n] of shapes.filter(([k]) => k <= maxK)) {
      const xa = randomArray(k, k, -2, 2);
      const wa = randomArray(n * k, n + k);
      const ba = randomArray(n, 3);
      const ra = randomArray(n, 4);
      const x = device.tensor(xa, [1, k]);
      const xv = device.tensor(xa, [k]);
      const w = device.tensor(wa, [n, k]);
      const b = device.tensor(ba, [n]);
      const r = device.tensor(ra, [1, n]);
      const [plain, fused, vec, sliced, byDefault] = await readAll(
        linear(x, w, undefined, { path: 'ksplit' }),
        linear(x, w, b, { path: 'ksplit', activation: 'silu', residual: r }),
        linear(xv, w, b, { path: 'ksplit' }),
        linear(x, w, b, { path: 'ksplit', maxBindingBytes: 16384 }),
        linear(x, w),
      );
      const what = `1×${k}·${n}`;
      assertClose(plain, linearCpu(xa, wa, 1, k, n), { ...TOL, what });
      assertClose(fused, fusedLinearCpu(xa, wa, 1, k, n, { bias: ba, silu: true, residual: ra }), { ...TOL, what: `${what} bias, silu, residual` });
      assertClose(vec, linearCpu(xa, wa, 1, k, n, ba), { ...TOL, what: `${what} 1-D x` });
      assertClose(sliced, linearCpu(xa, wa, 1, k, n, ba), { ...TOL, what: `${what} sliced` });
      // linear takes the k-split kernel by itself only where subgroups are wide (hardware GPUs).
      if (ksplitByDefault(device)) expect(Array.from(byDefault), `${what}: the default path is the k-split kernel`).toEqual(Array.from(plain));
      else assertClose(byDefault, linearCpu(xa, wa, 1, k, n), { ...TOL, what: `${what} default path` });
      for (const t of [x, xv, w, b, r]) t.dispose();
    }
  });

  it.runIf(lanes !== null)('rejects products it cannot take with OptionError naming them', () => {
    const x2 = device.tensor(randomArray(2 * 8, 1), [2, 8]);
    const w = device.tensor(randomArray(4 * 8, 2), [4, 8]);
    const x1 = device.tensor(randomArray(8, 1), [1, 8]);
    const xw = device.tensor(randomArray(maxK + 4, 1), [1, maxK + 4]);
    const ww = device.tensor(randomArray(3 * (maxK + 4), 2), [3, maxK + 4]);
    const g = device.tensor(randomArray(8, 3), [8]);
    expect(() => linear(x2, w, undefined, { path: 'ksplit' })).toThrow(/path 'ksplit' needs one row.*got 2 row\(s\), k 8, f32 weights/);
    expect(() => linear(xw, ww, undefined, { path: 'ksplit' })).toThrow(new RegExp(`got 1 row\\(s\\), k ${maxK + 4}`));
    expect(() => linear(x1, w, undefined, { path: 'ksplit', normalize: { weight: g } })).toThrow(OptionError);
    expect(() => linear(x1, w, undefined, { path: 'ksplit', columns: { wg: 32, tm: 1, tc: 2 } })).toThrow(OptionError);
    if (device.hasF16) {
      const w16 = device.tensor(randomArray(4 * 8, 2), [4, 8], 'f16');
      expect(() => linear(x1, w16, undefined, { path: 'ksplit' })).toThrow(/f16 weights/);
      w16.dispose();
    }
    expect(() => linear(x1, w, undefined, { path: 'fast' as 'ksplit' })).toThrow(/path must be 'columns', 'ksplit' or 'tiled', got "fast"/);
    for (const t of [x2, w, x1, xw, ww, g]) t.dispose();
  });
});

describe('columnConfig fits the workgroup width to the output columns', () => {
  const padded = (c: ColumnConfig, n: number) => Math.ceil(n / (c.wg * c.tc)) * c.wg * c.tc;

  it('pads no more than any other width, in whole 8-lane groups of at most 64', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3000 }), fc.constantFrom(1, 2, 4, 8, 16, 64), (n, rows) => {
        const c = columnConfig(rows, n);
        expect(c.wg % 8).toBe(0);
        expect(c.wg).toBeGreaterThanOrEqual(8);
        expect(c.wg).toBeLessThanOrEqual(64);
        expect(padded(c, n)).toBeGreaterThanOrEqual(n);
        // No candidate width pads less, the block's own width (32 or 64) included.
        for (let wg = 8; wg <= 64; wg += 8) expect(padded(c, n)).toBeLessThanOrEqual(padded({ ...c, wg }, n));
      }),
      { numRuns: 300 },
    );
  });

  it('tiles 288 columns exactly and keeps widths that already fit', () => {
    expect(columnConfig(64, 288)).toEqual({ wg: 24, tm: 8, tc: 4 }); // 3 × 96 instead of 3 × 128
    expect(columnConfig(1, 288)).toEqual({ wg: 24, tm: 1, tc: 2 });
    expect(columnConfig(64, 768)).toEqual({ wg: 32, tm: 8, tc: 4 });
    expect(columnConfig(1, 32000)).toEqual({ wg: 64, tm: 1, tc: 2 });
    expect(columnConfig(64)).toEqual({ wg: 64, tm: 8, tc: 4 }); // n unknown: nothing to fit
    const byRows: ColumnConfig = { wg: 32, tm: 1, tc: 4, lanes: 'rows' };
    expect(fitWidth(byRows, 300)).toBe(byRows); // lanes over rows: the width spans rows, not columns
  });

  it('shares rows through subgroups only for several rows, and only when asked', () => {
    expect(columnConfig(1, 32000, true)).toEqual(columnConfig(1, 32000)); // one row: nothing to share
    expect(columnConfig(64, 288, true)).toEqual({ wg: 24, tm: 16, tc: 2, share: true }); // 6 × 48 columns
    expect(columnConfig(8, 768, true)).toEqual({ wg: 32, tm: 8, tc: 2, share: true });
    expect(columnConfig(3, 64, true)).toEqual({ wg: 32, tm: 4, tc: 2, share: true });
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 300 }), fc.integer({ min: 1, max: 3000 }), (rows, n) => {
        const c = columnConfig(rows, n, true);
        expect(c.share).toBe(true);
        expect(c.wg % SHARE_LANES).toBe(0); // every subgroup holds whole groups of loading lanes
        expect(c.tm <= SHARE_LANES || c.tm % SHARE_LANES === 0).toBe(true);
        expect(columnConfig(rows, n).share).toBeUndefined();
      }),
      { numRuns: 200 },
    );
  });
});

describe('rows of x shared through subgroups (ColumnConfig.share)', () => {
  // The shared kernel takes each row from a broadcast instead of its own load; the products and
  // their order are the same, so it must equal the per-lane kernel bit for bit.
  const blocks: ColumnConfig[] = [
    { wg: 8, tm: 2, tc: 1 },
    { wg: 24, tm: 4, tc: 3 },
    { wg: 32, tm: 8, tc: 2 },
    { wg: 16, tm: 24, tc: 1 },
  ];
  // k = 3, 17: scalar kernel; 64, 288: vec4 (packed pairs for f16). rows 257 spans 17 row blocks of 16.
  const shapes: Array<[number, number, number]> = [[2, 64, 5], [3, 17, 300], [17, 288, 33], [64, 3, 17], [257, 64, 40]];

  it.runIf(sharesRows(device))('equals the per-lane kernel bit for bit and linearCpu within tolerance, every block and dtype', async () => {
    for (const dtype of ['f32', 'f16'] as const) {
      if (dtype === 'f16' && !device.hasF16) continue;
      for (const [si, [rows, k, n]] of shapes.entries()) {
        const { xa, wa, ba } = data(rows, k, n, 500 + si);
        const x = device.tensor(xa, [rows, k]);
        const w = device.tensor(wa, [n, k], dtype);
        const b = device.tensor(ba, [n]);
        const ref = linearCpu(xa, dtype === 'f16' ? f16ToF32(f32ToF16(wa)) : wa, rows, k, n, ba);
        for (const c of blocks) {
          const [shared, own] = await readAll(linear(x, w, b, { columns: { ...c, share: true } }), linear(x, w, b, { columns: c }));
          const what = `${dtype} ${rows}x${k}x${n} ${JSON.stringify(c)}`;
          assertClose(shared, ref, { ...TOL, what });
          expect(Array.from(shared), what).toEqual(Array.from(own));
        }
        for (const t of [x, w, b]) t.dispose();
      }
    }
  });

  it.runIf(sharesRows(device))('shares staged prologues, and falls back to per-lane loads for unstaged ones', async () => {
    for (const [rows, k, n] of [[17, 64, 300], [6, 1024, 40]] as const) {
      // 17 × 64: normalize and swiglu staged in workgroup memory; 6 × 1024: too wide to stage.
      const xa = randomArray(rows * 2 * k, k, -2, 2);
      const x1 = xa.subarray(0, rows * k);
      const wa = randomArray(n * k, n);
      const ga = randomArray(k, 3, 0.5, 1.5);
      const ra = randomArray(rows * n, 4);
      const x = device.tensor(x1, [rows, k]);
      const x2 = device.tensor(xa, [rows, 2 * k]);
      const w = device.tensor(wa, [n, k]);
      const g = device.tensor(ga, [k]);
      const res = device.tensor(ra, [rows, n]);
      const columns = { wg: 16, tm: 8, tc: 2, share: true };
      const [yn, ys] = await readAll(linear(x, w, undefined, { columns, normalize: { weight: g }, residual: res }), linear(x2, w, undefined, { columns, swiglu: true, activation: 'silu' }));
      assertClose(yn, fusedLinearCpu(x1, wa, rows, k, n, { norm: ga, residual: ra }), { ...TOL, what: `shared normalize ${rows}x${k}x${n}` });
      assertClose(ys, fusedLinearCpu(xa, wa, rows, k, n, { swiglu: true, silu: true }), { ...TOL, what: `shared swiglu ${rows}x${k}x${n}` });
      for (const t of [x, x2, w, g, res]) t.dispose();
    }
  });

  it('a device without subgroups runs the per-lane kernel and rejects share with OptionError', async () => {
    const plain = await Device.create({ subgroups: false });
    try {
      expect(plain.subgroups).toBeNull();
      expect(sharesRows(plain)).toBe(false);
      const [rows, k, n] = [19, 64, 300];
      const { xa, wa, ba } = data(rows, k, n, 71);
      const x = plain.tensor(xa, [rows, k]);
      const w = plain.tensor(wa, [n, k]);
      const b = plain.tensor(ba, [n]);
      assertClose((await readAll(linear(x, w, b)))[0], linearCpu(xa, wa, rows, k, n, ba), { ...TOL, what: 'no subgroups' });
      expect(() => linear(x, w, b, { columns: { wg: 32, tm: 8, tc: 4, share: true } })).toThrow(OptionError);
      expect(() => linear(x, w, b, { columns: { wg: 32, tm: 8, tc: 4, share: true } })).toThrow(/columns.share needs subgroups of at least 8 invocations; .* has no subgroups feature/);
      const x1 = plain.tensor(xa.subarray(0, k), [1, k]);
      expect(() => linear(x1, w, b, { path: 'ksplit' })).toThrow(/path 'ksplit' needs .*subgroups of one size/);
      assertClose((await readAll(linear(x1, w, b)))[0], linearCpu(xa, wa, 1, k, n, ba), { ...TOL, what: 'one row, no subgroups' });
      x1.dispose();
      for (const t of [x, w, b]) t.dispose();
    } finally {
      plain.destroy();
    }
  });

  it('rejects register blocks it cannot run with OptionError', () => {
    const x = device.tensor(randomArray(2 * 8, 1), [2, 8]);
    const w = device.tensor(randomArray(4 * 8, 2), [4, 8]);
    expect(() => linear(x, w, undefined, { columns: { wg: 0, tm: 1, tc: 1 } })).toThrow(/linear: columns \{"wg":0,"tm":1,"tc":1\} needs whole wg/);
    expect(() => linear(x, w, undefined, { columns: { wg: 8, tm: 1.5, tc: 1 } })).toThrow(OptionError);
    if (sharesRows(device)) {
      expect(() => linear(x, w, undefined, { columns: { wg: 12, tm: 8, tc: 1, share: true } })).toThrow(/wg a multiple of 8.*got wg 12/);
      expect(() => linear(x, w, undefined, { columns: { wg: 8, tm: 12, tc: 1, share: true } })).toThrow(/tm ≤ 8 or a multiple of 8, got tm 12/);
      expect(() => linear(x, w, undefined, { columns: { wg: 8, tm: 2, tc: 1, share: true, lanes: 'rows' } })).toThrow(/lanes 'cols'/);
    }
    for (const t of [x, w]) t.dispose();
  });
});

describe('matmul matches matmulCpu', () => {
  for (const [m, k, n] of [[1, 1, 1], [3, 17, 5], [17, 64, 300], [64, 3, 17], [257, 17, 3], [2, 288, 9]] as const) {
    it(`[${m}, ${k}] · [${k}, ${n}] in all four transpose combinations, both kernels`, async () => {
      const aa = randomArray(m * k, m + k);
      const ba = randomArray(k * n, k + n + 1);
      for (const transposeA of [false, true]) {
        for (const transposeB of [false, true]) {
          const a = device.tensor(aa, transposeA ? [k, m] : [m, k]);
          const b = device.tensor(ba, transposeB ? [n, k] : [k, n]);
          const c = matmul(a, b, { transposeA, transposeB });
          expect(c.shape).toEqual([m, n]);
          const [ca, ct] = await readAll(c, matmul(a, b, { transposeA, transposeB, path: 'tiled' }));
          const ref = matmulCpu(aa, ba, { m, k, n, transposeA, transposeB });
          assertClose(ca, ref, { ...TOL, what: `matmul tA=${transposeA} tB=${transposeB}` });
          assertClose(ct, ref, { ...TOL, what: `matmul tiled tA=${transposeA} tB=${transposeB}` });
          a.dispose();
          b.dispose();
        }
      }
    });
  }

  it('dW = dYᵀ·X and dX = dY·W agree with linear-style references', async () => {
    const [rows, k, n] = [17, 33, 9];
    const dy = randomArray(rows * n, 1);
    const xa = randomArray(rows * k, 2);
    const wa = randomArray(n * k, 3);
    const dY = device.tensor(dy, [rows, n]);
    const X = device.tensor(xa, [rows, k]);
    const W = device.tensor(wa, [n, k]);
    const [dW, dX] = await readAll(matmul(dY, X, { transposeA: true }), matmul(dY, W));
    // dW[o, i] = Σ_r dY[r, o] X[r, i]: a linear of dYᵀ rows against Xᵀ rows.
    const dyT = new Float32Array(n * rows);
    const xT = new Float32Array(k * rows);
    for (let r = 0; r < rows; r++) {
      for (let o = 0; o < n; o++) dyT[o * rows + r] = dy[r * n + o];
      for (let i = 0; i < k; i++) xT[i * rows + r] = xa[r * k + i];
    }
    assertClose(dW, linearCpu(dyT, xT, n, rows, k), { ...TOL, what: 'dW' });
    const wT = new Float32Array(k * n);
    for (let o = 0; o < n; o++) for (let i = 0; i < k; i++) wT[i * n + o] = wa[o * k + i];
    assertClose(dX, linearCpu(dy, wT, rows, n, k), { ...TOL, what: 'dX' });
    for (const t of [dY, X, W]) t.dispose();
  });

  const splitCases = [[5, 300, 16, 'f32'], [3, 97, 64, 'f32'], [4, 130, 96, 'f16'], [2, 41, 128, 'f16']] as const;
  it.each(splitCases.filter((c) => c[3] === 'f32' || device.hasF16))('b [%i·, k = %i, n = %i] %s past a small binding limit: summed over k slices, as one pass', async (m, k, n, dtype) => {
    const aa = randomArray(m * k, m + k);
    const ba = randomArray(k * n, k + n);
    const bq = dtype === 'f16' ? f16ToF32(f32ToF16(ba)) : ba;
    const rowBytes = n * (dtype === 'f16' ? 2 : 4);
    const limit = Math.max(256, Math.ceil((rowBytes * 16) / 256) * 256); // b spans several bindings
    expect(k * rowBytes).toBeGreaterThan(limit);
    for (const transposeA of [false, true]) {
      const a = device.tensor(aa, transposeA ? [k, m] : [m, k]);
      const b = dtype === 'f16' ? device.tensor(ba, [k, n], 'f16') : device.tensor(ba, [k, n]);
      const [split, whole] = await readAll(matmul(a, b, { transposeA, maxBindingBytes: limit }), matmul(a, b, { transposeA }));
      const ref = matmulCpu(aa, bq, { m, k, n, transposeA, transposeB: false });
      assertClose(whole, ref, { ...TOL, what: `one pass tA=${transposeA}` });
      assertClose(split, ref, { ...TOL, what: `split-k tA=${transposeA}` });
      a.dispose();
      b.dispose();
    }
  });

  it('a maxBindingBytes below 256 is a typed error', () => {
    const a = device.tensor(randomArray(6, 1), [2, 3]);
    const b = device.tensor(randomArray(12, 2), [3, 4]);
    expect(() => matmul(a, b, { maxBindingBytes: 100 })).toThrow(/matmul: maxBindingBytes 100 must be an integer ≥ 256/);
    a.dispose();
    b.dispose();
  });

  it('rejects mismatched inner dimensions and wrong dtypes', () => {
    const a = device.tensor(randomArray(6, 1), [2, 3]);
    const b = device.tensor(randomArray(8, 2), [2, 4]);
    const ids = device.tensor([1, 2, 3, 4, 5, 6], [2, 3], 'i32');
    expect(() => matmul(a, b)).toThrow(ShapeError);
    expect(() => matmul(a, b)).toThrow(/matmul: inner dimensions differ.*a \[2, 3\], b \[2, 4\]/);
    expect(() => matmul(a, b, { transposeA: true })).not.toThrow();
    expect(() => matmul(ids, b, { transposeA: true })).toThrow(DTypeError);
    for (const t of [a, b, ids]) t.dispose();
  });
});

describe('linear with fused RMSNorm, SwiGLU and residual matches fusedLinearCpu', () => {
  // k = 3, 17: scalar kernel; 12: vec4 (f16 unpacked); 64, 288: vec4 / packed f16.
  const shapes: Array<[number, number, number]> = [[1, 288, 300], [1, 12, 5], [3, 17, 5], [17, 64, 513], [64, 288, 33], [257, 3, 17]];
  for (const dtype of ['f32', 'f16'] as const) {
    for (const [rows, k, n] of shapes) {
      it.runIf(dtype === 'f32' || device.hasF16)(`${dtype} ${rows}×${k} · [${n}, ${k}]ᵀ: normalize, swiglu, residual`, async () => {
        const seed = rows * 7 + k * 3 + n;
        const xa = randomArray(rows * 2 * k, seed, -2, 2);
        const x1 = xa.subarray(0, rows * k);
        const wa = randomArray(n * k, seed + 1);
        const wr = dtype === 'f16' ? f16ToF32(f32ToF16(wa)) : wa;
        const ba = randomArray(n, seed + 2);
        const ra = randomArray(rows * n, seed + 3);
        const ga = randomArray(k, seed + 4, 0.5, 1.5);
        const x = device.tensor(x1, [rows, k]);
        const x2 = device.tensor(xa, [rows, 2 * k]);
        const w = device.tensor(wa, [n, k], dtype);
        const b = device.tensor(ba, [n]);
        const res = device.tensor(ra, [rows, n]);
        const g = device.tensor(ga, [k]);
        const normalize = { weight: g, eps: 1e-5 };
        const [yn, ynr, ys, ysr, yr] = await readAll(
          linear(x, w, undefined, { normalize }),
          linear(x, w, b, { normalize, residual: res }),
          linear(x2, w, undefined, { swiglu: true }),
          linear(x2, w, b, { swiglu: true, residual: res }),
          linear(x, w, b, { residual: res }),
        );
        const [yg] = await readAll(linear(x2, w, b, { geglu: true, residual: res }));
        assertClose(yg, fusedLinearCpu(xa, wr, rows, k, n, { geglu: true, bias: ba, residual: ra }), { ...TOL, what: `geglu + residual ${dtype} ${rows}x${k}x${n}` });
        const what = `${dtype} ${rows}x${k}x${n}`;
        assertClose(yn, fusedLinearCpu(x1, wr, rows, k, n, { norm: ga }), { ...TOL, what: `normalize ${what}` });
        assertClose(ynr, fusedLinearCpu(x1, wr, rows, k, n, { norm: ga, bias: ba, residual: ra }), { ...TOL, what: `normalize + residual ${what}` });
        assertClose(ys, fusedLinearCpu(xa, wr, rows, k, n, { swiglu: true }), { ...TOL, what: `swiglu ${what}` });
        assertClose(ysr, fusedLinearCpu(xa, wr, rows, k, n, { swiglu: true, bias: ba, residual: ra }), { ...TOL, what: `swiglu + residual ${what}` });
        assertClose(yr, fusedLinearCpu(x1, wr, rows, k, n, { bias: ba, residual: ra }), { ...TOL, what: `residual ${what}` });
        for (const t of [x, x2, w, b, res, g]) t.dispose();
      });
    }
  }

  it('fuses on the row-lane kernel and on weights bound in slices', async () => {
    const [rows, k, n] = [19, 64, 300];
    const xa = randomArray(rows * 2 * k, 9, -2, 2);
    const x1 = xa.subarray(0, rows * k);
    const wa = randomArray(n * k, 10);
    const ra = randomArray(rows * n, 11);
    const ga = randomArray(k, 12, 0.5, 1.5);
    const x = device.tensor(x1, [rows, k]);
    const x2 = device.tensor(xa, [rows, 2 * k]);
    const w = device.tensor(wa, [n, k]);
    const res = device.tensor(ra, [rows, n]);
    const g = device.tensor(ga, [k]);
    const lanes = { columns: { wg: 16, tm: 2, tc: 3, lanes: 'rows' as const } };
    const [a, bb, c] = await readAll(
      linear(x, w, undefined, { ...lanes, normalize: { weight: g }, residual: res }),
      linear(x2, w, undefined, { ...lanes, swiglu: true }),
      linear(x, w, undefined, { maxBindingBytes: 5000, normalize: { weight: g }, residual: res }),
    );
    const refN = fusedLinearCpu(x1, wa, rows, k, n, { norm: ga, residual: ra });
    assertClose(a, refN, { ...TOL, what: 'row lanes, normalize + residual' });
    assertClose(bb, fusedLinearCpu(xa, wa, rows, k, n, { swiglu: true }), { ...TOL, what: 'row lanes, swiglu' });
    assertClose(c, refN, { ...TOL, what: 'sliced weights, normalize + residual' });
    for (const t of [x, x2, w, res, g]) t.dispose();
  });

  it('rejects bad fusion options with typed errors naming the option', () => {
    const x = device.tensor(randomArray(2 * 6, 1), [2, 6]);
    const w = device.tensor(randomArray(4 * 6, 2), [4, 6]);
    const w3 = device.tensor(randomArray(4 * 3, 2), [4, 3]);
    const g = device.tensor(randomArray(6, 3), [6]);
    const g5 = device.tensor(randomArray(5, 3), [5]);
    const res = device.tensor(randomArray(2 * 4, 4), [2, 4]);
    const res3 = device.tensor(randomArray(3 * 4, 4), [3, 4]);
    const ids = device.tensor([1, 2, 3, 4, 5, 6, 7, 8], [2, 4], 'i32');
    expect(() => linear(x, w, undefined, { residual: res3 })).toThrow(ShapeError);
    expect(() => linear(x, w, undefined, { residual: res3 })).toThrow(/linear: residual must have the output's shape \[2, 4\]/);
    expect(() => linear(x, w, undefined, { residual: ids })).toThrow(DTypeError);
    expect(() => linear(x, w, undefined, { normalize: { weight: g5 } })).toThrow(/normalize.weight must be \[6\]/);
    expect(() => linear(x, w, undefined, { normalize: { weight: g, eps: -1 } })).toThrow(OptionError);
    expect(() => linear(x, w3, undefined, { normalize: { weight: g }, swiglu: true })).toThrow(/normalize and swiglu cannot be combined/);
    expect(() => linear(x, w, undefined, { swiglu: true })).toThrow(/with swiglu, x's last dimension 6 must be twice w's input dimension 6/);
    expect(() => linear(x, w3, undefined, { swiglu: true })).not.toThrow();
    expect(() => linear(x, w, undefined, { residual: res, path: 'tiled' })).toThrow(/need path 'columns' or 'ksplit'/);
    g.dispose();
    expect(() => linear(x, w, undefined, { normalize: { weight: g } })).toThrow(DisposedError);
    for (const t of [x, w, w3, g5, res, res3, ids]) t.dispose();
  });
});

describe('staged prologues (workgroup memory) equal the in-loop ones bit for bit', () => {
  for (const [rows, k, n] of [[1, 288, 300], [4, 64, 172], [17, 64, 513], [6, 1024, 40]] as const) {
    it(`${rows}×${k} · [${n}, ${k}]ᵀ`, async () => {
      const x = device.tensor(randomArray(rows * k, k, -2, 2), [rows, k]);
      const x2 = device.tensor(randomArray(rows * 2 * k, k + 1, -2, 2), [rows, 2 * k]);
      const w = device.tensor(randomArray(n * k, n), [n, k]);
      const g = device.tensor(randomArray(k, 3, 0.5, 1.5), [k]);
      const run = (staged: boolean) => {
        flags.stagePrologue = staged;
        try {
          return [linear(x, w, undefined, { normalize: { weight: g, eps: 1e-5 } }), linear(x2, w, undefined, { swiglu: true })];
        } finally {
          flags.stagePrologue = true;
        }
      };
      const [a, b] = [await readAll(...run(true)), await readAll(...run(false))];
      expect(Array.from(a[0])).toEqual(Array.from(b[0]));
      expect(Array.from(a[1])).toEqual(Array.from(b[1]));
      for (const t of [x, x2, w, g]) t.dispose();
    });
  }
});

describe("linear with activation 'silu' matches fusedLinearCpu", () => {
  // k = 3, 17: scalar kernel; 12: vec4; 64: vec4 / packed f16. Odd row counts 1, 3, 17.
  const shapes: Array<[number, number, number]> = [[1, 64, 33], [1, 3, 5], [3, 17, 5], [3, 12, 300], [17, 64, 17], [17, 3, 1]];
  for (const dtype of ['f32', 'f16'] as const) {
    for (const [rows, k, n] of shapes) {
      it.runIf(dtype === 'f32' || device.hasF16)(`${dtype} ${rows}×${k} · [${n}, ${k}]ᵀ, with and without bias and residual`, async () => {
        const seed = rows * 11 + k * 5 + n;
        const xa = randomArray(rows * k, seed, -2, 2);
        const wa = randomArray(n * k, seed + 1);
        const wr = dtype === 'f16' ? f16ToF32(f32ToF16(wa)) : wa;
        const ba = randomArray(n, seed + 2);
        const ra = randomArray(rows * n, seed + 3);
        const x = device.tensor(xa, [rows, k]);
        const w = device.tensor(wa, [n, k], dtype);
        const b = device.tensor(ba, [n]);
        const res = device.tensor(ra, [rows, n]);
        const what = `${dtype} ${rows}x${k}x${n}`;
        for (const withBias of [false, true]) {
          for (const withRes of [false, true]) {
            const before = device.stats.dispatches;
            const y = linear(x, w, withBias ? b : undefined, { activation: 'silu', residual: withRes ? res : undefined });
            expect(device.stats.dispatches - before).toBe(1);
            const ref = fusedLinearCpu(xa, wr, rows, k, n, { silu: true, bias: withBias ? ba : undefined, residual: withRes ? ra : undefined });
            assertClose((await readAll(y))[0], ref, { ...TOL, what: `silu bias=${withBias} residual=${withRes} ${what}` });
          }
        }
        for (const t of [x, w, b, res]) t.dispose();
      });
    }
  }

  it('is residual + SiLU, not SiLU of the sum (independent of fusedLinearCpu)', async () => {
    // x·wᵀ = 0 here, so y = residual + SiLU(bias) exactly as written out by hand.
    const x = device.tensor(new Float32Array(4), [2, 2]);
    const w = device.tensor([1, 2, 3, 4, 5, 6], [3, 2]);
    const b = device.tensor([-1, 0, 2], [3]);
    const res = device.tensor([10, 20, 30, -1, -2, -3], [2, 3]);
    const [y] = await readAll(linear(x, w, b, { activation: 'silu', residual: res }));
    const s = (v: number) => v / (1 + Math.exp(-v));
    assertClose(y, [10 + s(-1), 20, 30 + s(2), -1 + s(-1), -2, -3 + s(2)], { ...TOL, what: 'hand-computed' });
    for (const t of [x, w, b, res]) t.dispose();
  });

  it('combines with the prologues, the row-lane kernel, weights bound in slices, and a 1-D x', async () => {
    const [rows, k, n] = [19, 64, 300];
    const xa = randomArray(rows * 2 * k, 21, -2, 2);
    const x1 = xa.subarray(0, rows * k);
    const wa = randomArray(n * k, 22);
    const ba = randomArray(n, 23);
    const ra = randomArray(rows * n, 24);
    const ga = randomArray(k, 25, 0.5, 1.5);
    const x = device.tensor(x1, [rows, k]);
    const x2 = device.tensor(xa, [rows, 2 * k]);
    const xv = device.tensor(x1.subarray(0, k), [k]);
    const w = device.tensor(wa, [n, k]);
    const b = device.tensor(ba, [n]);
    const res = device.tensor(ra, [rows, n]);
    const res1 = device.tensor(ra.subarray(0, n), [n]);
    const g = device.tensor(ga, [k]);
    const act = { activation: 'silu' as const };
    const lanes = { columns: { wg: 16, tm: 2, tc: 3, lanes: 'rows' as const } };
    const [a, s, l, c, v] = await readAll(
      linear(x, w, b, { ...act, normalize: { weight: g }, residual: res }),
      linear(x2, w, undefined, { ...act, swiglu: true, residual: res }),
      linear(x, w, b, { ...act, ...lanes, residual: res }),
      linear(x, w, b, { ...act, maxBindingBytes: 5000, residual: res }),
      linear(xv, w, b, { ...act, residual: res1 }),
    );
    assertClose(a, fusedLinearCpu(x1, wa, rows, k, n, { norm: ga, bias: ba, residual: ra, silu: true }), { ...TOL, what: 'normalize + silu + residual' });
    assertClose(s, fusedLinearCpu(xa, wa, rows, k, n, { swiglu: true, residual: ra, silu: true }), { ...TOL, what: 'swiglu + silu + residual' });
    const ref = fusedLinearCpu(x1, wa, rows, k, n, { bias: ba, residual: ra, silu: true });
    assertClose(l, ref, { ...TOL, what: 'row lanes, silu + residual' });
    assertClose(c, ref, { ...TOL, what: 'sliced weights, silu + residual' });
    assertClose(v, ref.subarray(0, n), { ...TOL, what: '1-D x, silu + residual' });
    for (const t of [x, x2, xv, w, b, res, res1, g]) t.dispose();
  });

  it('rejects unknown activations and the tiled path with OptionError', () => {
    const x = device.tensor(randomArray(6, 1), [2, 3]);
    const w = device.tensor(randomArray(12, 2), [4, 3]);
    expect(() => linear(x, w, undefined, { activation: 'relu' as 'silu' })).toThrow(OptionError);
    expect(() => linear(x, w, undefined, { activation: 'relu' as 'silu' })).toThrow(/linear: option activation must be 'silu'.*"relu"/);
    expect(() => linear(x, w, undefined, { activation: 'silu', path: 'tiled' })).toThrow(OptionError);
    expect(() => linear(x, w, undefined, { activation: 'silu', path: 'tiled' })).toThrow(/need path 'columns' or 'ksplit', got path 'tiled'/);
    for (const t of [x, w]) t.dispose();
  });
});
