import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { getDevice } from '../device';
import { rope } from './rope';
import { ropeCpu } from '../cpu/rope';
import { assertClose, randomArray, seededRandom } from '../testing';
import { DisposedError, DTypeError, IndexError, OptionError, ShapeError } from '../errors';

const device = await getDevice();

// Angles are reduced exactly in turns, so even at position 32000 the GPU rotation agrees with an
// f64 reference to ~1e-5 (f32 sin/cos on [-π, π] and f32 products); inputs are in [-1, 1].
const TOL = { atol: 2e-5, rtol: 1e-5 };

function randomPositions(n: number, max: number, seed: number): Int32Array {
  const r = seededRandom(seed);
  return Int32Array.from({ length: n }, () => Math.floor(r() * (max + 1)));
}

describe('rope matches its CPU twin', () => {
  const cases = [
    // rows, nHeads, headDim, max position
    [1, 1, 2, 0],
    [3, 1, 6, 5],
    [17, 3, 8, 100],
    [5, 6, 48, 512], // stories260K / llama2.c-ish
    [257, 2, 64, 32000],
    [4, 2, 128, 32767],
  ] as const;
  for (const layout of ['interleaved', 'half'] as const) {
    for (const [rows, nHeads, headDim, maxPos] of cases) {
      it(`${layout}: ${rows} rows, ${nHeads}x${headDim}, positions up to ${maxPos}`, async () => {
        const dim = nHeads * headDim;
        const xa = randomArray(rows * dim, rows + dim + headDim);
        const pa = randomPositions(rows, maxPos, rows * 7 + headDim);
        if (rows > 1) pa[rows - 1] = maxPos;
        const x = device.tensor(xa, [rows, dim]);
        const pos = device.tensor(pa, [rows], 'i32');
        const fromTensor = rope(x, pos, { headDim, layout });
        const fromHost = rope(x, pa, { headDim, layout, theta: 10000 });
        const expected = ropeCpu(xa, pa, rows, dim, headDim, layout);
        assertClose(await fromTensor.read(), expected, { ...TOL, what: `rope ${layout} (positions tensor)` });
        assertClose(await fromHost.read(), expected, { ...TOL, what: `rope ${layout} (host positions)` });
        for (const t of [x, pos, fromTensor, fromHost]) t.dispose();
      });
    }
  }

  it('the layouts differ only by a permutation of each head', async () => {
    const rows = 3, headDim = 16, nHeads = 2, dim = headDim * nHeads;
    const xa = randomArray(rows * dim, 42);
    const pa = [0, 7, 1000];
    // Interleaved order (2i, 2i+1) mapped to half order (i, i + headDim/2).
    const perm = new Int32Array(dim);
    for (let h = 0; h < nHeads; h++) for (let i = 0; i < headDim / 2; i++) {
      perm[h * headDim + 2 * i] = h * headDim + i;
      perm[h * headDim + 2 * i + 1] = h * headDim + i + headDim / 2;
    }
    const xh = new Float32Array(rows * dim);
    for (let r = 0; r < rows; r++) for (let j = 0; j < dim; j++) xh[r * dim + perm[j]] = xa[r * dim + j];
    const x = device.tensor(xa, [rows, dim]);
    const y = device.tensor(xh, [rows, dim]);
    const a = rope(x, pa, { headDim, layout: 'interleaved' });
    const b = rope(y, pa, { headDim, layout: 'half' });
    const ra = await a.read();
    const rb = await b.read();
    const back = new Float32Array(rows * dim);
    for (let r = 0; r < rows; r++) for (let j = 0; j < dim; j++) back[r * dim + j] = rb[r * dim + perm[j]];
    assertClose(back, ra, { atol: 1e-6, what: 'half layout permuted back' });
    for (const t of [x, y, a, b]) t.dispose();
  });

  it('preserves pair norms, and rows with equal positions rotate alike (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 40 }).map((h) => 2 * h),
        fc.integer({ min: 0, max: 40000 }),
        fc.constantFrom('interleaved' as const, 'half' as const),
        async (rows, nHeads, headDim, p0, layout) => {
          const dim = nHeads * headDim;
          const one = randomArray(dim, dim + rows);
          const xa = new Float32Array(rows * dim);
          for (let r = 0; r < rows; r++) xa.set(one, r * dim); // identical rows: a tree's siblings
          const pa = new Int32Array(rows).fill(p0);
          const x = device.tensor(xa, [rows, dim]);
          const out = rope(x, pa, { headDim, layout, theta: 500000 });
          const ra = await out.read();
          for (let r = 1; r < rows; r++) expect(ra.subarray(r * dim, (r + 1) * dim)).toEqual(ra.subarray(0, dim));
          const stride = layout === 'interleaved' ? 1 : headDim / 2;
          for (let h = 0; h < nHeads; h++) for (let i = 0; i < headDim / 2; i++) {
            const a = h * headDim + (layout === 'interleaved' ? 2 * i : i);
            const before = Math.hypot(one[a], one[a + stride]);
            expect(Math.abs(Math.hypot(ra[a], ra[a + stride]) - before)).toBeLessThan(1e-5);
          }
          assertClose(ra, ropeCpu(xa, pa, rows, dim, headDim, layout, 500000), { ...TOL, what: 'rope theta 500000' });
          x.dispose();
          out.dispose();
        },
      ),
      { numRuns: 12 },
    );
  });

  it('rejects bad shapes, options, positions and disposed inputs with typed errors', () => {
    const x = device.tensor(randomArray(12, 1), [2, 6]);
    const pos = device.tensor([0, 1], [2], 'i32');
    const pos3 = device.tensor([0, 1, 2], [3], 'i32');
    const posF = device.tensor([0, 1], [2]);
    expect(() => rope(x, [0, 1], { headDim: 3, layout: 'half' })).toThrow(ShapeError);
    expect(() => rope(x, [0, 1], { headDim: 3, layout: 'half' })).toThrow(/rope: headDim 3 is odd/);
    expect(() => rope(x, [0, 1], { headDim: 4, layout: 'half' })).toThrow(/rope: x \[2, 6\] .*not a multiple of headDim 4/);
    expect(() => rope(x, pos3, { headDim: 6, layout: 'half' })).toThrow(/rope: positions must have one entry per row of x \(x \[2, 6\], positions \[3\]\)/);
    expect(() => rope(x, [0], { headDim: 6, layout: 'half' })).toThrow(ShapeError);
    expect(() => rope(x, posF, { headDim: 6, layout: 'half' })).toThrow(DTypeError);
    expect(() => rope(x, [0, -1], { headDim: 6, layout: 'half' })).toThrow(IndexError);
    expect(() => rope(x, [0, 1.5], { headDim: 6, layout: 'half' })).toThrow(/rope: position 1.5 at row 1/);
    expect(() => rope(x, pos, { headDim: 6, layout: 'rotated' as never })).toThrow(OptionError);
    expect(() => rope(x, pos, { headDim: 6, layout: 'half', theta: 0 })).toThrow(OptionError);
    expect(() => rope(x, pos, { headDim: 0, layout: 'half' })).toThrow(OptionError);
    expect(() => rope(x.reshape([12]), [0], { headDim: 6, layout: 'half' })).toThrow(/rank 1, expected rank 2/);
    pos.dispose();
    expect(() => rope(x, pos, { headDim: 6, layout: 'half' })).toThrow(DisposedError);
    for (const t of [x, pos3, posF]) t.dispose();
  });
});
