import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { getDevice } from '../device';
import { attention } from './attention';
import { attentionCpu } from '../cpu/attention';
import { assertClose, randomArray, seededRandom } from '../testing';
import { DisposedError, DTypeError, IndexError, OptionError, ShapeError } from '../errors';

const device = await getDevice();

/** Ancestor-or-self mask of a random tree whose node j has a parent < j (or is a root). */
function treeMask(n: number, seed: number): Uint8Array {
  const r = seededRandom(seed);
  const parent = Array.from({ length: n }, (_, j) => (j === 0 ? -1 : Math.floor(r() * (j + 1)) - 1));
  const mask = new Uint8Array(n * n);
  for (let i = 0; i < n; i++) for (let a = i; a >= 0; a = parent[a]) mask[i * n + a] = 1;
  return mask;
}

interface Case { rows: number; cachedLen: number; capacity: number; nHeads: number; nKvHeads: number; headDim: number; tree?: boolean }

async function check(c: Case, seed: number, maskAs: 'host' | 'tensor' = 'host', kernel?: 'thread' | 'workgroup') {
  const { rows, cachedLen, capacity, nHeads, nKvHeads, headDim } = c;
  const qa = randomArray(rows * nHeads * headDim, seed, -2, 2);
  const ka = randomArray(capacity * nKvHeads * headDim, seed + 1, -2, 2);
  const va = randomArray(capacity * nKvHeads * headDim, seed + 2);
  // Rows past the filled part hold NaN: reading them would poison the output.
  ka.fill(NaN, (cachedLen + rows) * nKvHeads * headDim);
  va.fill(NaN, (cachedLen + rows) * nKvHeads * headDim);
  const mask = c.tree ? treeMask(rows, seed + 3) : undefined;
  const q = device.tensor(qa, [rows, nHeads * headDim]);
  const k = device.tensor(ka, [capacity, nKvHeads * headDim]);
  const v = device.tensor(va, [capacity, nKvHeads * headDim]);
  const maskT = mask && maskAs === 'tensor' ? device.tensor(mask, [rows, rows], 'u32') : undefined;
  const out = attention(q, k, v, { cachedLen, nHeads, nKvHeads, headDim, mask: maskT ?? mask, kernel });
  expect(out.shape).toEqual([rows, nHeads * headDim]);
  const want = attentionCpu(qa, ka, va, { rows, cachedLen, nHeads, nKvHeads, headDim, mask });
  assertClose(await out.read(), want, { what: `attention ${JSON.stringify(c)}`, atol: 2e-5, rtol: 2e-4 });
  for (const t of [q, k, v, out, maskT]) t?.dispose();
}

describe('attention matches its CPU twin', () => {
  const cases: Case[] = [
    { rows: 1, cachedLen: 37, capacity: 64, nHeads: 4, nKvHeads: 4, headDim: 8 }, // decode step
    { rows: 1, cachedLen: 1100, capacity: 1200, nHeads: 2, nKvHeads: 1, headDim: 48 }, // two key tiles
    { rows: 17, cachedLen: 50, capacity: 80, nHeads: 8, nKvHeads: 2, headDim: 8, tree: true }, // GQA 4
    { rows: 17, cachedLen: 0, capacity: 17, nHeads: 2, nKvHeads: 1, headDim: 48, tree: true }, // empty cache, full
    { rows: 3, cachedLen: 0, capacity: 5, nHeads: 3, nKvHeads: 3, headDim: 48 },
    { rows: 64, cachedLen: 512, capacity: 576, nHeads: 4, nKvHeads: 2, headDim: 8 }, // prefill chunk, full cache
    { rows: 5, cachedLen: 300, capacity: 320, nHeads: 2, nKvHeads: 2, headDim: 128 },
    { rows: 2, cachedLen: 20, capacity: 30, nHeads: 2, nKvHeads: 1, headDim: 160 }, // two dims per thread
    { rows: 6, cachedLen: 9, capacity: 15, nHeads: 4, nKvHeads: 2, headDim: 10, tree: true }, // scalar key loads
  ];
  cases.forEach((c, n) => {
    for (const kernel of ['workgroup', 'thread'] as const) {
      if (kernel === 'thread' && c.headDim > 64) continue;
      it(`${kernel} kernel: rows ${c.rows}, cachedLen ${c.cachedLen}, heads ${c.nHeads}/${c.nKvHeads}, headDim ${c.headDim}${c.tree ? ', tree mask' : ''}`, async () => {
        await check(c, 100 + n * 10, 'host', kernel);
      });
    }
  });

  it("the 'thread' kernel refuses heads wider than 64 with OptionError", () => {
    const q = device.tensor(randomArray(128, 1), [1, 128]);
    const k = device.tensor(randomArray(256, 2), [2, 128]);
    expect(() => attention(q, k, k, { cachedLen: 1, nHeads: 1, nKvHeads: 1, headDim: 128, kernel: 'thread' })).toThrow(OptionError);
    q.dispose();
    k.dispose();
  });

  it('takes the mask as a u32 tensor too', async () => {
    await check({ rows: 9, cachedLen: 11, capacity: 20, nHeads: 4, nKvHeads: 2, headDim: 8, tree: true }, 7, 'tensor');
  });

  it('random trees, caches and head groupings (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 0, max: 40 }),
        fc.constantFrom([1, 1], [2, 1], [4, 2], [4, 1], [6, 3]),
        fc.constantFrom(8, 48),
        fc.boolean(),
        fc.integer({ min: 0, max: 1000 }),
        async (rows, cachedLen, [nHeads, nKvHeads], headDim, tree, seed) => {
          await check({ rows, cachedLen, capacity: cachedLen + rows + (seed % 3), nHeads, nKvHeads, headDim, tree }, seed);
        },
      ),
      { numRuns: 10 },
    );
  });

  it('a causal mask given explicitly equals the default, and a row seeing nothing gives zeros', async () => {
    const rows = 4, headDim = 8;
    const q = device.tensor(randomArray(rows * headDim, 1), [rows, headDim]);
    const k = device.tensor(randomArray(rows * headDim, 2), [rows, headDim]);
    const v = device.tensor(randomArray(rows * headDim, 3), [rows, headDim]);
    const causal = new Uint8Array(rows * rows).map((_, x) => (x % rows <= Math.floor(x / rows) ? 1 : 0));
    const opts = { cachedLen: 0, nHeads: 1, nKvHeads: 1, headDim };
    const a = attention(q, k, v, opts);
    const b = attention(q, k, v, { ...opts, mask: causal });
    const blind = causal.slice();
    blind.fill(0, 2 * rows, 3 * rows); // row 2 sees nothing
    const c = attention(q, k, v, { ...opts, mask: blind });
    assertClose(await b.read(), await a.read(), { what: 'explicit causal', atol: 0, rtol: 0 });
    const cv = await c.read();
    expect(Array.from(cv.subarray(2 * headDim, 3 * headDim))).toEqual(new Array(headDim).fill(0));
    for (const t of [q, k, v, a, b, c]) t.dispose();
  });

  // A tree drafted level by level keeps its earlier levels as pending cache rows; the new level's
  // rows see them through a mask over the last W keys.
  describe('a mask wider than the new rows reaches back over pending rows', () => {
    for (const kernel of ['workgroup', 'thread'] as const) {
      it(`${kernel} kernel: equals its CPU twin, and the same rows run as new rows under the whole tree's mask`, async () => {
        const nHeads = 4, nKvHeads = 2, headDim = 8, committed = 13, tree = 11, fresh = 4;
        const W = tree; // the pending rows (tree - fresh) and the new ones
        const capacity = committed + tree + 2;
        const full = treeMask(tree, 91); // [tree, tree]
        const wide = full.slice((tree - fresh) * tree); // its last `fresh` rows: [fresh, W]
        const qa = randomArray(tree * nHeads * headDim, 92, -2, 2);
        const ka = randomArray(capacity * nKvHeads * headDim, 93, -2, 2).fill(NaN, (committed + tree) * nKvHeads * headDim);
        const va = randomArray(capacity * nKvHeads * headDim, 94).fill(NaN, (committed + tree) * nKvHeads * headDim);
        const k = device.tensor(ka, [capacity, nKvHeads * headDim]);
        const v = device.tensor(va, [capacity, nKvHeads * headDim]);
        const qNew = qa.slice((tree - fresh) * nHeads * headDim);
        const q = device.tensor(qNew, [fresh, nHeads * headDim]);
        const qAll = device.tensor(qa, [tree, nHeads * headDim]);
        const cachedLen = committed + tree - fresh; // the pending rows are cached before the new ones
        const got = attention(q, k, v, { cachedLen, nHeads, nKvHeads, headDim, mask: wide, kernel });
        const whole = attention(qAll, k, v, { cachedLen: committed, nHeads, nKvHeads, headDim, mask: full, kernel });
        const want = attentionCpu(qNew, ka, va, { rows: fresh, cachedLen, nHeads, nKvHeads, headDim, mask: wide });
        const gv = await got.read();
        assertClose(gv, want, { what: `wide mask (${kernel})`, atol: 2e-5, rtol: 2e-4 });
        assertClose(gv, (await whole.read()).subarray((tree - fresh) * nHeads * headDim), { what: `wide mask = whole tree (${kernel})`, atol: 2e-6, rtol: 2e-5 });
        for (const t of [k, v, q, qAll, got, whole]) t.dispose();
      });
    }
  });

  describe('sliding window and soft-capping', () => {
    // Tree rows at positions cachedLen + depth, as the decoder gives them.
    function treeCase(rows: number, seed: number) {
      const mask = treeMask(rows, seed);
      const depth = Array.from({ length: rows }, (_, i) => mask.subarray(i * rows, (i + 1) * rows).reduce((a, b) => a + b, 0) - 1);
      return { mask, depth };
    }
    const cases = [
      { rows: 1, cachedLen: 40, nHeads: 4, nKvHeads: 2, headDim: 8, window: 7 },
      { rows: 9, cachedLen: 20, nHeads: 2, nKvHeads: 1, headDim: 48, window: 5, tree: true },
      { rows: 12, cachedLen: 0, nHeads: 2, nKvHeads: 2, headDim: 16, window: 3 }, // prefill: window inside the new rows
      { rows: 6, cachedLen: 1100, nHeads: 2, nKvHeads: 1, headDim: 128, window: 1030, tree: true }, // window across a tile
      { rows: 4, cachedLen: 10, nHeads: 2, nKvHeads: 1, headDim: 256, window: 100 }, // window wider than the cache
    ];
    cases.forEach((c, n) => {
      for (const kernel of ['workgroup', 'thread'] as const) {
        if (kernel === 'thread' && c.headDim > 64) continue;
        for (const softcap of [undefined, 1.5]) {
          it(`${kernel}: rows ${c.rows}, cachedLen ${c.cachedLen}, headDim ${c.headDim}, window ${c.window}${c.tree ? ', tree' : ''}${softcap ? ', softcap' : ''}`, async () => {
            const seed = 500 + n * 7;
            const capacity = c.cachedLen + c.rows;
            const qa = randomArray(c.rows * c.nHeads * c.headDim, seed, -2, 2);
            const ka = randomArray(capacity * c.nKvHeads * c.headDim, seed + 1, -2, 2);
            const va = randomArray(capacity * c.nKvHeads * c.headDim, seed + 2);
            const tc = c.tree ? treeCase(c.rows, seed + 3) : undefined;
            const positions = Int32Array.from({ length: c.rows }, (_, i) => c.cachedLen + (tc ? tc.depth[i] : i));
            const q = device.tensor(qa, [c.rows, c.nHeads * c.headDim]);
            const k = device.tensor(ka, [capacity, c.nKvHeads * c.headDim]);
            const v = device.tensor(va, [capacity, c.nKvHeads * c.headDim]);
            const pos = device.tensor(positions, [c.rows], 'i32');
            const o = { cachedLen: c.cachedLen, nHeads: c.nHeads, nKvHeads: c.nKvHeads, headDim: c.headDim, mask: tc?.mask, window: c.window, softcap };
            const out = attention(q, k, v, { ...o, positions: pos, kernel });
            const want = attentionCpu(qa, ka, va, { ...o, rows: c.rows, positions });
            assertClose(await out.read(), want, { what: 'windowed attention', atol: 2e-5, rtol: 2e-4 });
            for (const t of [q, k, v, pos, out]) t.dispose();
          });
        }
      }
    });

    it('window 1 leaves each row only itself: the output is its own value row', async () => {
      const rows = 5, headDim = 8, cachedLen = 3;
      const q = device.tensor(randomArray(rows * headDim, 1), [rows, headDim]);
      const va = randomArray((cachedLen + rows) * headDim, 3);
      const k = device.tensor(randomArray((cachedLen + rows) * headDim, 2), [cachedLen + rows, headDim]);
      const v = device.tensor(va, [cachedLen + rows, headDim]);
      const positions = Int32Array.from({ length: rows }, (_, i) => cachedLen + i);
      for (const kernel of ['thread', 'workgroup'] as const) {
        const out = attention(q, k, v, { cachedLen, nHeads: 1, nKvHeads: 1, headDim, window: 1, positions, kernel });
        assertClose(await out.read(), va.subarray(cachedLen * headDim), { what: `window 1 (${kernel})`, atol: 1e-6, rtol: 1e-6 });
        out.dispose();
      }
      for (const t of [q, k, v]) t.dispose();
    });

    it('soft-capping by a huge cap changes nothing; bad windows and caps are OptionErrors', async () => {
      const q = device.tensor(randomArray(2 * 8, 1), [2, 8]);
      const k = device.tensor(randomArray(6 * 8, 2), [6, 8]);
      const v = device.tensor(randomArray(6 * 8, 3), [6, 8]);
      const o = { cachedLen: 4, nHeads: 1, nKvHeads: 1, headDim: 8 };
      const [a, b] = [attention(q, k, v, o), attention(q, k, v, { ...o, softcap: 1e6 })];
      assertClose(await b.read(), await a.read(), { what: 'softcap 1e6', atol: 1e-6, rtol: 1e-5 });
      expect(() => attention(q, k, v, { ...o, window: 3 })).toThrow(/option window needs option positions/);
      expect(() => attention(q, k, v, { ...o, window: 0, positions: new Int32Array([4, 5]) })).toThrow(/option window = 0, expected an integer >= 1/);
      expect(() => attention(q, k, v, { ...o, softcap: -1 })).toThrow(OptionError);
      expect(() => attention(q, k, v, { ...o, window: 2, positions: new Int32Array([4]) })).toThrow(/1 positions for q \[2, 8\], expected 2/);
      for (const t of [q, k, v, a, b]) t.dispose();
    });
  });

  it('rejects bad shapes, options, dtypes and disposed inputs with typed errors', () => {
    const q = device.tensor(randomArray(2 * 16, 1), [2, 16]);
    const k = device.tensor(randomArray(10 * 8, 2), [10, 8]);
    const v = device.tensor(randomArray(10 * 8, 3), [10, 8]);
    const ok = { cachedLen: 3, nHeads: 2, nKvHeads: 1, headDim: 8 };
    expect(() => attention(q, k, v, { ...ok, nKvHeads: 3, nHeads: 2 })).toThrow(ShapeError);
    expect(() => attention(q, k, v, { ...ok, nHeads: 3, nKvHeads: 2 })).toThrow(/attention: nHeads 3 is not a multiple of nKvHeads 2/);
    expect(() => attention(q, k, v, { ...ok, headDim: 4 })).toThrow(/attention: q must be .* \(q \[2, 16\]\)/);
    expect(() => attention(q, k, v, { ...ok, nKvHeads: 2 })).toThrow(/attention: kCache must be .*kCache \[10, 8\]/);
    expect(() => attention(q, k, v, { ...ok, cachedLen: 9 })).toThrow(IndexError);
    expect(() => attention(q, k, v, { ...ok, cachedLen: 9 })).toThrow(/cachedLen 9 \+ rows 2 exceeds the cache capacity 10/);
    expect(() => attention(q, k, v, { ...ok, cachedLen: -1 })).toThrow(OptionError);
    expect(() => attention(q, k, v, { ...ok, headDim: 2.5 })).toThrow(/option headDim = 2.5/);
    expect(() => attention(q, k, v, { ...ok, headDim: 512 })).toThrow(/attention: headDim 512 exceeds the supported 256/);
    expect(() => attention(q, k, v, { ...ok, mask: new Uint8Array(3) })).toThrow(/mask has 3 entries, expected rows·W = 2·W with 2 <= W <= cachedLen \+ rows = 5/);
    expect(() => attention(q, k, v, { ...ok, mask: new Uint8Array(12) })).toThrow(ShapeError); // W = 6 reaches past the cache
    expect(() => attention(q, k, v, { ...ok, mask: new Uint8Array(8), window: 4, positions: Int32Array.of(3, 4) })).toThrow(/wider than the new rows \(4 > 2\) cannot be combined with option window/);
    const v2 = device.tensor(randomArray(9 * 8, 3), [9, 8]);
    expect(() => attention(q, k, v2, ok)).toThrow(/kCache and vCache must have one shape/);
    const qi = device.tensor([1, 2], [1, 2], 'i32');
    expect(() => attention(qi, k, v, ok)).toThrow(DTypeError);
    v2.dispose();
    qi.dispose();
    v.dispose();
    expect(() => attention(q, k, v, ok)).toThrow(DisposedError);
    q.dispose();
    k.dispose();
  });
});
