import { describe, expect, it } from 'vitest';
import { rerankTreeCpu } from '../cpu/rerank-tree';
import { getDevice } from '../device';
import { DTypeError, ShapeError } from '../errors';
import { randomArray } from '../testing';
import { rerankTree } from './rerank-tree';

const device = await getDevice();

/** A draft's levels: k candidates, then (depth − 1) levels of k·k; each frontier k distinct entries of its level. */
function levels(k: number, depth: number, seed: number, logq?: Float32Array) {
  const total = k + (depth - 1) * k * k;
  const ids = Int32Array.from(randomArray(total, seed, 0, 500), Math.floor);
  const q = logq ?? randomArray(total, seed + 1, -6, 0);
  const picks = new Int32Array(Math.max((depth - 1) * k, 1));
  const rand = randomArray(depth * k * k, seed + 2, 0, 1);
  for (let l = 1; l < depth; l++) {
    const size = l === 1 ? k : k * k;
    const entries = Array.from({ length: size }, (_, e) => e).sort((a, b) => rand[l * k * k + a] - rand[l * k * k + b]);
    picks.set(entries.slice(0, k), (l - 1) * k);
  }
  return { ids, q, picks };
}

async function check(k: number, depth: number, nodes: number, seed: number, logq?: Float32Array): Promise<void> {
  const { ids, q, picks } = levels(k, depth, seed, logq);
  const o = { k, depth, nodes, root: 7, start: 30 };
  const t = [device.tensor(ids, [ids.length], 'i32'), device.tensor(q, [q.length]), device.tensor(picks, [picks.length], 'i32')] as const;
  const got = rerankTree(t[0], t[1], t[2], o);
  const want = rerankTreeCpu(ids, q, picks, o);
  expect(Array.from(await got.tokens.read())).toEqual(Array.from(want.tokens));
  expect(Array.from(await got.positions.read())).toEqual(Array.from(want.positions));
  expect(Array.from(await got.parents.read())).toEqual(Array.from(want.parents));
  expect(Array.from(await got.mask.read())).toEqual(Array.from(want.mask));
  // rows are depth-first: every parent row comes before its children
  want.parents.forEach((p, r) => expect(p < r).toBe(true));
  for (const x of [...t, got.tokens, got.positions, got.parents, got.mask]) x.dispose();
}

describe('rerankTree matches its CPU twin', () => {
  for (const [k, depth, nodes, seed] of [[1, 1, 1, 1], [4, 1, 3, 2], [2, 3, 5, 3], [4, 4, 16, 4], [8, 6, 16, 5], [8, 4, 32, 6], [3, 6, 17, 7], [10, 5, 63, 8]] as const) {
    it(`top-${k}, ${depth} levels, ${nodes} nodes kept`, async () => {
      await check(k, depth, nodes, seed);
    });
  }

  it('equal scores go to the lower (shallower) candidate', async () => {
    for (const [k, depth] of [[2, 3], [3, 4]]) {
      const q = new Float32Array(k + (depth - 1) * k * k).fill(-1); // every level's scores tie
      q[1] = -2;
      await check(k, depth, 6, 11, q);
    }
  });

  it('refuses operands it cannot take', () => {
    const ids = device.tensor(new Int32Array(6), [6], 'i32');
    const q = device.tensor(new Float32Array(6), [6]);
    const picks = device.tensor(new Int32Array(2), [2], 'i32');
    const o = { k: 2, depth: 2, nodes: 4, root: 0, start: 0 };
    expect(() => rerankTree(ids, q, picks, o)).not.toThrow();
    expect(() => rerankTree(q, q, picks, o)).toThrow(DTypeError);
    expect(() => rerankTree(ids, q, picks, { ...o, depth: 3 })).toThrow(/must hold k \+ \(depth − 1\)·k² = 10 candidates/);
    expect(() => rerankTree(ids, q, ids, o)).toThrow(/picks .* must hold \(depth − 1\)·k = 2/);
    expect(() => rerankTree(ids, q, picks, { ...o, nodes: 7 })).toThrow(ShapeError);
    expect(() => rerankTree(ids, q, picks, { ...o, k: 0 })).toThrow(/k = 0, expected an integer >= 1/);
    for (const t of [ids, q, picks]) t.dispose();
  });
});
