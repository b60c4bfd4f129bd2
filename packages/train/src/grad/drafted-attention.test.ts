// The drafted attention (EAGLE-3's training-time test): forward and gradients against finite
// differences of its f64 definition, and forward and gradients equal to a masked attention over the
// steps stacked row after row (the formulation it replaces), for one and several sequences.
import { getDevice, randomArray } from '@hydra-ts/tensor';
import { assertClose } from '@hydra-ts/tensor/testing';
import { describe, expect, it } from 'vitest';
import { checkGradients, gpuGradients } from '../gradcheck';
import { draftedAttentionRef } from '../cpu/attention';

const device = await getDevice();

/** starts[i]: the first row of row i's sequence, for sequences of these lengths laid out row after row. */
function startsOf(lengths: number[]): Int32Array {
  const out: number[] = [];
  let at = 0;
  for (const L of lengths) {
    for (let t = 0; t < L; t++) out.push(at);
    at += L;
  }
  return Int32Array.from(out);
}

describe.each([
  { lengths: [1], steps: 0, nHeads: 2, nKvHeads: 1, headDim: 4 },
  { lengths: [5], steps: 0, nHeads: 2, nKvHeads: 2, headDim: 4 },
  { lengths: [4, 3], steps: 1, nHeads: 2, nKvHeads: 1, headDim: 4 },
  { lengths: [3, 1, 4], steps: 3, nHeads: 4, nKvHeads: 2, headDim: 2 },
])('drafted attention %o', ({ lengths, steps, nHeads, nKvHeads, headDim }) => {
  const starts = startsOf(lengths);
  const rows = starts.length;
  const blocks = steps + 1;
  const q = randomArray(rows * nHeads * headDim, rows + 11, -1.5, 1.5);
  const k = randomArray(blocks * rows * nKvHeads * headDim, rows + 12, -1.5, 1.5);
  const v = randomArray(blocks * rows * nKvHeads * headDim, rows + 13);
  const inputs = [
    { data: q, shape: [rows, nHeads * headDim] },
    { data: k, shape: [blocks * rows, nKvHeads * headDim] },
    { data: v, shape: [blocks * rows, nKvHeads * headDim] },
  ];
  const o = { nHeads, nKvHeads, headDim };

  it('dQ, dK, dV match finite differences of the definition', async () => {
    await checkGradients(device, inputs, (t, [a, b, c]) => t.draftedAttention(a, b, c, starts, o), ([a, b, c]) => draftedAttentionRef(a, b, c, starts, o), { what: 'drafted attention' });
  });

  it('equals, with its gradients, a masked attention over the steps stacked per sequence', async () => {
    const ours = await gpuGradients(device, inputs, (t, [a, b, c]) => t.draftedAttention(a, b, c, starts, o));
    // the old formulation: per sequence, queries of the last step only kept, every step's rows stacked; the
    // earlier steps' queries (which it needs as rows) are copies of q, their outputs dropped
    const stacked = await gpuGradients(device, inputs, (t, [a, b, c]) => {
      const outs = lengths.map((L, s) => {
        const at = lengthsStart(lengths, s); // the sequence's first row
        const rowsOf = (x: typeof a, e: number) => t.slice(x, 0, e * rows + at, e * rows + at + L);
        const n = blocks * L;
        const mask = new Uint8Array(n * n);
        for (let e = 0; e < blocks; e++) {
          for (let r = 0; r < L; r++) {
            const row = (e * L + r) * n;
            for (let u = 0; u <= r; u++) mask[row + u] = 1;
            for (let f = 1; f <= e; f++) mask[row + f * L + r] = 1;
          }
        }
        const qs = t.concat(Array.from({ length: blocks }, () => t.slice(a, 0, at, at + L)), 0);
        const ks = t.concat(Array.from({ length: blocks }, (_, e) => rowsOf(b, e)), 0);
        const vs = t.concat(Array.from({ length: blocks }, (_, e) => rowsOf(c, e)), 0);
        const full = t.attention(qs, ks, vs, { ...o, mask });
        return t.slice(full, 0, steps * L, n);
      });
      return outs.length === 1 ? outs[0] : t.concat(outs, 0);
    });
    assertClose(ours.value, stacked.value, { atol: 1e-5, rtol: 1e-4, what: 'forward' });
    // the stacked form's extra query rows feed only dropped outputs, so q's gradient is the same too
    for (let i = 0; i < 3; i++) assertClose(ours.grads[i]!, stacked.grads[i]!, { atol: 1e-5, rtol: 1e-4, what: `gradient ${i}` });
  });
});

function lengthsStart(lengths: number[], s: number): number {
  return lengths.slice(0, s).reduce((a, b) => a + b, 0);
}

describe('drafted attention shapes', () => {
  it('refuses mismatched shapes and non-consecutive sequences with ShapeErrors naming them', async () => {
    const { Tape, Var } = await import('../autograd');
    const tape = new Tape(device);
    const q = new Var(device.tensor(new Float32Array(3 * 4), [3, 4]));
    const kv = new Var(device.tensor(new Float32Array(6 * 4), [6, 4]));
    const o = { nHeads: 1, nKvHeads: 1, headDim: 4 };
    expect(() => tape.draftedAttention(q, kv, kv, Int32Array.of(0, 0), o)).toThrow(/2 sequence starts for 3 rows/);
    expect(() => tape.draftedAttention(q, kv, kv, Int32Array.of(0, 1, 0), o)).toThrow(/starts\[2\] = 0, expected the first row of row 2's sequence/);
    const bad = new Var(device.tensor(new Float32Array(5 * 4), [5, 4]));
    expect(() => tape.draftedAttention(q, bad, bad, Int32Array.of(0, 0, 0), o)).toThrow(/keys \[5, 4\] f32, expected \[\(steps \+ 1\)·rows/);
    tape.dispose();
    for (const v of [q, kv, bad]) v.dispose();
  });
});
