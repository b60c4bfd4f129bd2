// Attention backward (dQ, dK, dV) over a full sequence: causal and with an explicit mask, grouped
// KV heads; GPU backward vs finite differences of the f64 CPU forward and vs the CPU twin.
import { getDevice, randomArray } from '@hydra-ts/tensor';
import { assertClose } from '@hydra-ts/tensor/testing';
import { describe, it } from 'vitest';
import { checkGradients } from '../gradcheck';
import { attentionBackwardCpu, attentionRef } from '../cpu/attention';

const device = await getDevice();

describe.each([
  { rows: 1, nHeads: 2, nKvHeads: 1, headDim: 4 },
  { rows: 3, nHeads: 2, nKvHeads: 2, headDim: 3 * 2 },
  { rows: 17, nHeads: 4, nKvHeads: 2, headDim: 4 },
])('attention gradient %o', ({ rows, nHeads, nKvHeads, headDim }) => {
  const q = randomArray(rows * nHeads * headDim, rows + 1);
  const k = randomArray(rows * nKvHeads * headDim, rows + 2);
  const v = randomArray(rows * nKvHeads * headDim, rows + 3);
  const inputs = [
    { data: q, shape: [rows, nHeads * headDim] },
    { data: k, shape: [rows, nKvHeads * headDim] },
    { data: v, shape: [rows, nKvHeads * headDim] },
  ];

  it('causal: dQ, dK, dV match finite differences and the CPU twin', async () => {
    const o = { rows, nHeads, nKvHeads, headDim };
    const r = await checkGradients(device, inputs, (t, [a, b, c]) => t.attention(a, b, c, o), ([a, b, c]) => attentionRef(a, b, c, o), { what: 'attention causal' });
    const twin = attentionBackwardCpu(q, k, v, r.seed, o);
    assertClose(r.grads[0]!, twin.dq, { what: 'dq vs twin', atol: 1e-5, rtol: 1e-4 });
    assertClose(r.grads[1]!, twin.dk, { what: 'dk vs twin', atol: 1e-5, rtol: 1e-4 });
    assertClose(r.grads[2]!, twin.dv, { what: 'dv vs twin', atol: 1e-5, rtol: 1e-4 });
  });

  it('explicit mask (a tree: row i sees 0 and itself, plus its parent) and a custom scale', async () => {
    const mask = new Uint8Array(rows * rows);
    for (let i = 0; i < rows; i++) {
      mask[i * rows] = 1;
      mask[i * rows + i] = 1;
      mask[i * rows + Math.floor(i / 2)] = 1;
    }
    const o = { rows, nHeads, nKvHeads, headDim, mask, scale: 0.3 };
    await checkGradients(device, inputs, (t, [a, b, c]) => t.attention(a, b, c, o), ([a, b, c]) => attentionRef(a, b, c, o), { what: 'attention masked' });
  });
});
