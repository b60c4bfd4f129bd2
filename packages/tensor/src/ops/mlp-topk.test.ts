import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { getDevice } from '../device';
import { mlpTopK, MlpStack, MLP_TOPK_MAX_K } from './mlp-topk';
import { linear } from './linear';
import { topk } from './topk';
import { mlpTopKCpu, type MlpStackCpuMember } from '../cpu/mlp-topk';
import { randomArray } from '../testing';
import { DisposedError, DTypeError, OptionError, ShapeError } from '../errors';
import type { Tensor } from '../tensor';

const device = await getDevice();

interface Case {
  rows: number;
  inDim: number;
  dim: number;
  blocks: number;
  vocab: number;
  k: number;
  members: number;
  hasR: boolean;
  perMemberOutput: boolean;
  /** x has one row that every member reads. */
  sharedX: boolean;
}

function makeMembers(c: Case, seed: number): MlpStackCpuMember[] {
  const s = 1 / Math.sqrt(c.inDim);
  return Array.from({ length: c.members }, (_, m) => ({
    residual: c.hasR ? randomArray(c.dim * c.inDim, seed + 100 * m + 1, -s, s) : undefined,
    blocks: Array.from({ length: c.blocks }, (_, l) => ({
      weight: randomArray(c.dim * (l === 0 ? c.inDim : c.dim), seed + 100 * m + 10 + l, -s, s),
      bias: randomArray(c.dim, seed + 100 * m + 50 + l, -0.5, 0.5),
    })),
  }));
}

function upload(members: MlpStackCpuMember[], c: Case): { stack: MlpStack; owned: Tensor[] } {
  const owned: Tensor[] = [];
  const t = (a: ArrayLike<number>, shape: number[]) => {
    const x = device.tensor(Float32Array.from(a), shape);
    owned.push(x);
    return x;
  };
  const stack = MlpStack.pack(
    members.map((m) => ({
      residual: m.residual ? t(m.residual, [c.dim, c.inDim]) : undefined,
      blocks: m.blocks.map((b, l) => ({ weight: t(b.weight, [c.dim, l === 0 ? c.inDim : c.dim]), bias: t(b.bias, [c.dim]) })),
    })),
  );
  return { stack, owned };
}

/**
 * The GPU sums in f32 in another order than the twin, so near-equal logits may swap: each pick's
 * value must match the twin's logit for that token, and the twin's r-th best value, within
 * tolerance (a wrong pick would sit visibly lower), and every pick must be distinct.
 */
async function check(c: Case, seed: number, logProbs = false): Promise<void> {
  const members = makeMembers(c, seed);
  const { stack, owned } = upload(members, c);
  const xRows = c.sharedX ? 1 : c.members > 1 ? c.members : c.rows;
  const xa = randomArray(xRows * c.inDim, seed + 7, -1, 1);
  const oa = randomArray((c.perMemberOutput ? c.members : 1) * c.vocab * c.dim, seed + 8, -1, 1);
  const x = device.tensor(xa, [xRows, c.inDim]);
  const out = device.tensor(oa, [(c.perMemberOutput ? c.members : 1) * c.vocab, c.dim]);
  const { values, indices } = mlpTopK(x, stack, out, c.k, { perMemberOutput: c.perMemberOutput, logProbs });
  const rows = c.members > 1 ? c.members : xRows;
  expect(values.shape).toEqual([rows, c.k]);
  expect(indices.shape).toEqual([rows, c.k]);
  const want = mlpTopKCpu(xa, xRows, c.inDim, members, oa, c.dim, c.vocab, c.k, c.perMemberOutput, logProbs);
  const gv = (await values.read()) as Float32Array;
  const gi = (await indices.read()) as Int32Array;
  const tol = (v: number) => 1e-4 + 1e-4 * Math.abs(v);
  for (let r = 0; r < rows; r++) {
    const picks = new Set<number>();
    for (let j = 0; j < c.k; j++) {
      const id = gi[r * c.k + j];
      expect(id).toBeGreaterThanOrEqual(0);
      expect(id).toBeLessThan(c.vocab);
      picks.add(id);
      const logit = want.logits[r * c.vocab + id];
      expect(Math.abs(gv[r * c.k + j] - logit)).toBeLessThanOrEqual(tol(logit));
      expect(Math.abs(logit - want.values[r * c.k + j])).toBeLessThanOrEqual(2 * tol(logit));
    }
    expect(picks.size).toBe(c.k);
  }
  for (const t of [x, out, values, indices, ...owned]) t.dispose();
  stack.dispose();
}

const base: Case = { rows: 1, inDim: 128, dim: 64, blocks: 4, vocab: 512, k: 4, members: 1, hasR: true, perMemberOutput: false, sharedX: false };

describe('mlpTopK matches its CPU twin', () => {
  const cases: Array<[string, Case]> = [
    ['a Hydra++ head at depth 1 on stories260K', base],
    ['Hydra depth 3, two rows', { ...base, rows: 2, inDim: 256, k: 2 }],
    ['Medusa: 4 members on one shared row, own projections', { ...base, inDim: 64, hasR: false, members: 4, sharedX: true, perMemberOutput: true, blocks: 1, k: 10 }],
    ['Medusa: 3 members, shared projection', { ...base, inDim: 64, hasR: false, members: 3, sharedX: true, blocks: 2, k: 3 }],
    ['awkward sizes', { ...base, rows: 3, inDim: 17, dim: 3, blocks: 2, vocab: 257, k: 5 }],
    ['one of everything', { ...base, inDim: 1, dim: 1, blocks: 1, vocab: 1, k: 1, hasR: false }],
    ['dim 100 (128-wide workgroups)', { ...base, inDim: 300, dim: 100, vocab: 1000, k: MLP_TOPK_MAX_K }],
    ['dim 256', { ...base, inDim: 2048, dim: 256, blocks: 2, vocab: 300, k: 7 }],
  ];
  for (const [name, c] of cases) it(name, () => check(c, c.inDim + c.vocab + c.k));
  for (const [name, c] of cases) it(`${name}, log-probabilities`, () => check(c, c.inDim + c.vocab + c.k + 1, true));

  it('equals the unfused ops on a Hydra head (linear, SiLU blocks, topk)', async () => {
    const c = { ...base, rows: 3 };
    const members = makeMembers(c, 5);
    const { stack, owned } = upload(members, c);
    const xa = randomArray(c.rows * c.inDim, 6, -1, 1);
    const x = device.tensor(xa, [c.rows, c.inDim]);
    const out = device.tensor(randomArray(c.vocab * c.dim, 9, -1, 1), [c.vocab, c.dim]);
    const fused = mlpTopK(x, stack, out, c.k);
    // the same head with the general kernels
    const m = members[0];
    const t = (a: ArrayLike<number>, shape: number[]) => device.tensor(Float32Array.from(a), shape);
    const r = t(m.residual!, [c.dim, c.inDim]);
    const ws = m.blocks.map((b, l) => ({ w: t(b.weight, [c.dim, l === 0 ? c.inDim : c.dim]), b: t(b.bias, [c.dim]) }));
    const temps: Tensor[] = [r, ...ws.flatMap((b) => [b.w, b.b])];
    const keep = (u: Tensor) => (temps.push(u), u);
    const rx = keep(linear(x, r));
    let y = keep(linear(x, ws[0].w, ws[0].b, { activation: 'silu', residual: rx }));
    for (let l = 1; l < c.blocks; l++) y = keep(linear(y, ws[l].w, ws[l].b, { activation: 'silu', residual: y }));
    const plain = topk(keep(linear(y, out)), c.k);
    const a = (await fused.values.read()) as Float32Array;
    const b = (await plain.values.read()) as Float32Array;
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(1e-4 + 1e-4 * Math.abs(b[i]));
    expect(Array.from(await fused.indices.read())).toEqual(Array.from(await plain.indices.read()));
    stack.dispose();
    for (const u of [...owned, ...temps, x, out, fused.values, fused.indices, plain.values, plain.indices]) u.dispose();
  });

  it('random shapes (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          rows: fc.integer({ min: 1, max: 4 }),
          inDim: fc.integer({ min: 1, max: 70 }),
          dim: fc.integer({ min: 1, max: 70 }),
          blocks: fc.integer({ min: 1, max: 4 }),
          vocab: fc.integer({ min: 1, max: 300 }),
          k: fc.integer({ min: 1, max: MLP_TOPK_MAX_K }),
          members: fc.integer({ min: 1, max: 3 }),
          hasR: fc.boolean(),
          perMemberOutput: fc.boolean(),
          sharedX: fc.boolean(),
          seed: fc.nat(999),
        }),
        async (c) => {
          const inDim = c.hasR ? c.inDim : c.dim;
          const k = Math.min(c.k, c.vocab);
          await check({ ...c, inDim, k, perMemberOutput: c.members > 1 && c.perMemberOutput, sharedX: c.members > 1 && c.sharedX }, c.seed);
        },
      ),
      { numRuns: 15 },
    );
  });
});

describe('mlpTopK rejects bad input with typed errors', () => {
  const w = (shape: number[]) => device.tensor(randomArray(shape[0] * (shape[1] ?? 1), 1), shape);
  it('names mismatched stack shapes', () => {
    expect(() => MlpStack.pack([{ blocks: [{ weight: w([4, 6]), bias: w([4]) }] }])).toThrow(ShapeError); // square without R
    expect(() => MlpStack.pack([{ residual: w([4, 6]), blocks: [{ weight: w([4, 6]), bias: w([5]) }] }])).toThrow(/bias is \[5\] f32, expected \[4\]/);
    expect(() => MlpStack.pack([])).toThrow(ShapeError);
    expect(() => MlpStack.pack([{ blocks: [{ weight: w([4, 4]), bias: w([4]) }] }, { blocks: [] }])).toThrow(/member 1 has 0 blocks/);
    expect(() => MlpStack.pack([{ blocks: [{ weight: w([300, 300]), bias: w([300]) }] }])).toThrow(/at most 256/);
    const i32 = device.tensor(new Int32Array(16), [4, 4], 'i32');
    expect(() => MlpStack.pack([{ blocks: [{ weight: i32, bias: w([4]) }] }])).toThrow(DTypeError);
  });
  it('names mismatched inputs, outputs and k', () => {
    const stack = MlpStack.pack([{ residual: w([4, 6]), blocks: [{ weight: w([4, 6]), bias: w([4]) }] }]);
    const x = w([2, 6]);
    const out = w([10, 4]);
    expect(() => mlpTopK(w([2, 5]), stack, out, 2)).toThrow(/rows 5 wide, the stack takes 6/);
    expect(() => mlpTopK(x, stack, w([10, 3]), 2)).toThrow(ShapeError);
    expect(() => mlpTopK(x, stack, out, 0)).toThrow(OptionError);
    expect(() => mlpTopK(x, stack, out, MLP_TOPK_MAX_K + 1)).toThrow(OptionError);
    expect(() => mlpTopK(x, stack, w([3, 4]), 4)).toThrow(/exceeds the vocabulary/);
    stack.dispose();
    expect(() => mlpTopK(x, stack, out, 2)).toThrow(DisposedError);
  });
  it('checks member rows and split projections', () => {
    const m = () => ({ blocks: [{ weight: w([4, 4]), bias: w([4]) }] });
    const stack = MlpStack.pack([m(), m(), m()]);
    expect(() => mlpTopK(w([2, 4]), stack, w([9, 4]), 2)).toThrow(/takes x with 1 or 3 rows/);
    expect(() => mlpTopK(w([3, 4]), stack, w([10, 4]), 2, { perMemberOutput: true })).toThrow(/does not split into 3/);
    stack.dispose();
  });
});
