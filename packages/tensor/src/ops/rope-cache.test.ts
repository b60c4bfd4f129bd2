import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { getDevice } from '../device';
import { ropeCache } from './rope-cache';
import { rope } from './rope';
import { ropeCacheCpu } from '../cpu/rope-cache';
import { assertClose, randomArray, seededRandom } from '../testing';
import { DTypeError, IndexError, OptionError, ShapeError } from '../errors';

const device = await getDevice();
const TOL = { atol: 2e-5, rtol: 1e-5 }; // as rope's: exact angle reduction, f32 sin/cos

interface Case {
  rows: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  start: number;
  capacity: number;
  maxPos: number;
}

async function check(c: Case, layout: 'interleaved' | 'half', seed: number) {
  const qDim = c.nHeads * c.headDim;
  const kvDim = c.nKvHeads * c.headDim;
  const xa = randomArray(c.rows * (qDim + 2 * kvDim), seed);
  const r = seededRandom(seed + 1);
  const pa = Int32Array.from({ length: c.rows }, () => Math.floor(r() * (c.maxPos + 1)));
  const ka = randomArray(c.capacity * kvDim, seed + 2);
  const va = randomArray(c.capacity * kvDim, seed + 3);
  const x = device.tensor(xa, [c.rows, qDim + 2 * kvDim]);
  const kc = device.tensor(ka, [c.capacity, kvDim]);
  const vc = device.tensor(va, [c.capacity, kvDim]);
  const opts = { nHeads: c.nHeads, nKvHeads: c.nKvHeads, headDim: c.headDim, layout };
  const q = ropeCache(x, pa, kc, vc, c.start, opts);
  const want = ropeCacheCpu(xa, pa, ka, va, c.start, { rows: c.rows, ...opts });
  const [gq, gk, gv] = [await q.read(), await kc.read(), await vc.read()];
  assertClose(gq, want.q, { ...TOL, what: 'q' });
  assertClose(gk, want.kCache, { ...TOL, what: 'kCache' });
  expect(Array.from(gv)).toEqual(Array.from(want.vCache)); // v is copied exactly
  // Bit-identical to rope() on the q columns: the decoder's numerics do not change with the fusion.
  if (c.rows > 0) {
    const qCols = device.tensor(want.q.map((_, i) => xa[Math.floor(i / qDim) * (qDim + 2 * kvDim) + (i % qDim)]), [c.rows, qDim]);
    const viaRope = rope(qCols, pa, { headDim: c.headDim, layout });
    expect(Array.from(gq)).toEqual(Array.from(await viaRope.read()));
    for (const t of [qCols, viaRope]) t.dispose();
  }
  for (const t of [x, kc, vc, q]) t.dispose();
}

describe('ropeCache matches its CPU twin', () => {
  const cases: Case[] = [
    { rows: 1, nHeads: 1, nKvHeads: 1, headDim: 2, start: 0, capacity: 1, maxPos: 0 },
    { rows: 3, nHeads: 8, nKvHeads: 4, headDim: 8, start: 5, capacity: 9, maxPos: 40 }, // stories260K
    { rows: 17, nHeads: 6, nKvHeads: 6, headDim: 48, start: 100, capacity: 120, maxPos: 256 }, // stories15M
    { rows: 16, nHeads: 9, nKvHeads: 3, headDim: 64, start: 31, capacity: 64, maxPos: 2048 }, // SmolLM2
    { rows: 0, nHeads: 2, nKvHeads: 1, headDim: 4, start: 3, capacity: 3, maxPos: 0 },
  ];
  for (const layout of ['interleaved', 'half'] as const) {
    for (const c of cases) {
      it(`${layout}: ${c.rows} rows, ${c.nHeads}/${c.nKvHeads} heads of ${c.headDim}, at ${c.start} of ${c.capacity}`, async () => {
        await check(c, layout, c.rows * 31 + c.headDim);
      });
    }
  }

  it('random shapes (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({ rows: fc.integer({ min: 1, max: 9 }), nKvHeads: fc.integer({ min: 1, max: 3 }), group: fc.integer({ min: 1, max: 3 }), half: fc.integer({ min: 1, max: 9 }), start: fc.nat(7), spare: fc.nat(3), layout: fc.constantFrom('interleaved' as const, 'half' as const), seed: fc.nat(1000) }),
        async (g) => {
          const c = { rows: g.rows, nHeads: g.nKvHeads * g.group, nKvHeads: g.nKvHeads, headDim: 2 * g.half, start: g.start, capacity: g.start + g.rows + g.spare, maxPos: 500 };
          await check(c, g.layout, g.seed);
        },
      ),
      { numRuns: 15 },
    );
  });
});

describe('ropeCache with a frequency table and per-head q/k RMSNorm', () => {
  const cases: Case[] = [
    { rows: 1, nHeads: 16, nKvHeads: 8, headDim: 128, start: 7, capacity: 9, maxPos: 5000 }, // Qwen3-0.6B heads
    { rows: 5, nHeads: 4, nKvHeads: 1, headDim: 256, start: 0, capacity: 5, maxPos: 300 }, // Gemma 3 1B heads
    { rows: 17, nHeads: 3, nKvHeads: 3, headDim: 6, start: 2, capacity: 19, maxPos: 60 },
  ];
  for (const layout of ['interleaved', 'half'] as const) {
    for (const c of cases) {
      it(`${layout}: ${c.rows} rows, ${c.nHeads}/${c.nKvHeads} heads of ${c.headDim}`, async () => {
        const seed = c.headDim + c.rows;
        const qDim = c.nHeads * c.headDim;
        const kvDim = c.nKvHeads * c.headDim;
        const xa = randomArray(c.rows * (qDim + 2 * kvDim), seed, -3, 3);
        const r = seededRandom(seed + 1);
        const pa = Int32Array.from({ length: c.rows }, () => Math.floor(r() * (c.maxPos + 1)));
        const ka = randomArray(c.capacity * kvDim, seed + 2);
        const va = randomArray(c.capacity * kvDim, seed + 3);
        // An uneven table (as Llama 3.1's scaling makes one), and norm weights around 1.
        const freqs = Float64Array.from({ length: c.headDim / 2 }, (_, i) => Math.pow(500000, (-2 * i) / c.headDim) / (i % 3 === 0 ? 8 : 1));
        const qa = randomArray(c.headDim, seed + 4, 0.5, 1.5);
        const kaN = randomArray(c.headDim, seed + 5, 0.5, 1.5);
        const x = device.tensor(xa, [c.rows, qDim + 2 * kvDim]);
        const kc = device.tensor(ka, [c.capacity, kvDim]);
        const vc = device.tensor(va, [c.capacity, kvDim]);
        const gq = device.tensor(qa, [c.headDim]);
        const gk = device.tensor(kaN, [c.headDim]);
        const opts = { nHeads: c.nHeads, nKvHeads: c.nKvHeads, headDim: c.headDim, layout, freqs };
        const q = ropeCache(x, pa, kc, vc, c.start, { ...opts, qkNorm: { q: gq, k: gk, eps: 1e-6 } });
        const want = ropeCacheCpu(xa, pa, ka, va, c.start, { rows: c.rows, ...opts, qkNorm: { q: qa, k: kaN, eps: 1e-6 } });
        assertClose(await q.read(), want.q, { atol: 1e-4, rtol: 1e-4, what: 'normed q' });
        assertClose(await kc.read(), want.kCache, { atol: 1e-4, rtol: 1e-4, what: 'normed kCache' });
        expect(Array.from(await vc.read())).toEqual(Array.from(want.vCache));
        // Without the norm, the table alone.
        const q2 = ropeCache(x, pa, kc, vc, c.start, opts);
        const want2 = ropeCacheCpu(xa, pa, ka, va, c.start, { rows: c.rows, ...opts });
        assertClose(await q2.read(), want2.q, { ...TOL, what: 'q with freqs' });
        for (const t of [x, kc, vc, gq, gk, q, q2]) t.dispose();
      });
    }
  }

  it('rejects a table or norm weights of the wrong size', () => {
    const x = device.tensor(randomArray(2 * 16, 1), [2, 16]);
    const kc = device.tensor(randomArray(4 * 4, 2), [4, 4]);
    const vc = device.tensor(randomArray(4 * 4, 3), [4, 4]);
    const g = device.tensor(randomArray(3, 4), [3]);
    const opts = { nHeads: 2, nKvHeads: 1, headDim: 4, layout: 'half' as const };
    expect(() => ropeCache(x, [0, 1], kc, vc, 0, { ...opts, freqs: [1, 2, 3] })).toThrow(/freqs has 3 entries, expected headDim\/2 = 2/);
    expect(() => ropeCache(x, [0, 1], kc, vc, 0, { ...opts, freqs: [1, NaN] })).toThrow(OptionError);
    expect(() => ropeCache(x, [0, 1], kc, vc, 0, { ...opts, qkNorm: { q: g, k: g, eps: 1e-6 } })).toThrow(/qkNorm.q must be \[headDim = 4\]/);
    for (const t of [x, kc, vc, g]) t.dispose();
  });
});

describe('ropeCache rejects bad input with typed errors', () => {
  const opts = { nHeads: 2, nKvHeads: 1, headDim: 4, layout: 'interleaved' as const };
  it('names the shapes and options that are wrong', () => {
    const x = device.zeros([2, 16]);
    const kc = device.zeros([4, 4]);
    const vc = device.zeros([4, 4]);
    const wide = device.zeros([4, 8]);
    expect(() => ropeCache(x, [0, 1], kc, vc, 0, { ...opts, nHeads: 3 })).toThrow(ShapeError);
    expect(() => ropeCache(x, [0, 1], kc, vc, 0, { ...opts, nHeads: 3 })).toThrow(/must be \[rows, 20\]/);
    expect(() => ropeCache(x, [0, 1], wide, vc, 0, opts)).toThrow(/caches must be \[capacity, 4\]/);
    expect(() => ropeCache(x, [0, 1], kc, vc, 3, opts)).toThrow(IndexError);
    expect(() => ropeCache(x, [0], kc, vc, 0, opts)).toThrow(/1 positions/);
    expect(() => ropeCache(x, [0, -1], kc, vc, 0, opts)).toThrow(IndexError);
    expect(() => ropeCache(x, [0, 1], kc, kc, 0, opts)).toThrow(OptionError);
    expect(() => ropeCache(x, [0, 1], kc, vc, 0, { ...opts, headDim: 3, nHeads: 2 })).toThrow(ShapeError);
    expect(() => ropeCache(x, [0, 1], kc, vc, 0, { ...opts, layout: 'other' as 'half' })).toThrow(OptionError);
    const pos = device.zeros([2], 'u32');
    expect(() => ropeCache(x, pos, kc, vc, 0, opts)).toThrow(DTypeError);
    for (const t of [x, kc, vc, wide, pos]) t.dispose();
  });
});
