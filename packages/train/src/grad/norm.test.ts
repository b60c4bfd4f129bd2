// Gradients of embedding (scatter-add), RMSNorm and RoPE: GPU backward vs finite differences of
// f64 CPU forwards and vs the CPU twins; odd shapes 1, 3, 17.
import { cpu, getDevice, randomArray } from '@hydra-ts/tensor';
import { assertClose } from '@hydra-ts/tensor/testing';
import { describe, expect, it } from 'vitest';
import { checkGradients, gpuGradients } from '../gradcheck';
import { embeddingBackwardCpu, embeddingRef } from '../cpu/embedding';
import { rmsnormBackwardCpu } from '../cpu/rmsnorm';
import { ropeBackwardCpu, ropeRef } from '../cpu/rope';
import { bucketIds } from './embedding';

const device = await getDevice();

describe.each([1, 3, 17])('embedding gradient, %i ids', (n) => {
  it('sums rows of repeated ids into the table gradient', async () => {
    const vocab = 7;
    const dim = 5;
    const table = randomArray(vocab * dim, 11);
    // Repeats and unused rows on purpose.
    const ids = Array.from({ length: n }, (_, i) => (i * 3) % 5);
    const r = await checkGradients(device, [{ data: table, shape: [vocab, dim] }], (t, [w]) => t.embedding(w, ids), ([w]) => embeddingRef(w, dim, ids), { what: 'embedding' });
    assertClose(r.grads[0]!, embeddingBackwardCpu(r.seed, ids, vocab, dim), { what: 'embedding grad vs CPU twin', atol: 1e-6 });
  });
});

describe('embedding CSR buckets', () => {
  it('lists each id\'s positions in order', () => {
    const { offsets, positions } = bucketIds([2, 0, 2, 2, 1], 4);
    expect([...offsets]).toEqual([0, 1, 2, 5, 5]);
    expect([...positions]).toEqual([1, 4, 0, 2, 3]);
  });

  it('rejects ids outside the table', async () => {
    await expect(gpuGradients(device, [{ data: new Float32Array(6), shape: [3, 2] }], (t, [w]) => t.embedding(w, [0, 3]))).rejects.toThrow(/id 3 at position 1/);
  });
});

describe.each([1, 3, 17])('RMSNorm gradient, %i rows', (rows) => {
  it.each([5, 17])('dim %i: dx and dw match finite differences and the CPU twin', async (dim) => {
    const x = randomArray(rows * dim, rows + dim, -2, 2);
    const w = randomArray(dim, 3 * dim, 0.5, 1.5);
    const eps = 1e-5;
    const r = await checkGradients(device, [{ data: x, shape: [rows, dim] }, { data: w, shape: [dim] }], (t, [a, g]) => t.rmsnorm(a, g, eps), ([a, g]) => cpu.rmsnormCpu(a, g, rows, dim, eps), { what: 'rmsnorm' });
    const twin = rmsnormBackwardCpu(x, w, r.seed, rows, dim, eps);
    assertClose(r.grads[0]!, twin.dx, { what: 'rmsnorm dx vs CPU twin', atol: 1e-5, rtol: 1e-4 });
    assertClose(r.grads[1]!, twin.dw, { what: 'rmsnorm dw vs CPU twin', atol: 1e-5, rtol: 1e-4 });
  });
});

describe.each([1, 3, 17])('RoPE gradient, %i rows', (rows) => {
  it.each(['interleaved', 'half'] as const)('%s layout: the inverse rotation matches finite differences', async (layout) => {
    const headDim = 6;
    const dim = 2 * headDim;
    const x = randomArray(rows * dim, rows + 5);
    const positions = Array.from({ length: rows }, (_, i) => 3 + 7 * i);
    const r = await checkGradients(device, [{ data: x, shape: [rows, dim] }], (t, [a]) => t.rope(a, positions, { headDim, layout }), ([a]) => ropeRef(a, positions, dim, headDim, layout), { what: `rope ${layout}` });
    assertClose(r.grads[0]!, ropeBackwardCpu(r.seed, positions, dim, headDim, layout), { what: 'rope grad vs CPU twin', atol: 1e-6, rtol: 1e-5 });
  });

  it('scaled frequencies (freqs, as Llama 3\'s RoPE scaling gives): forward and gradient against the CPU twin and finite differences', async () => {
    const headDim = 6;
    const dim = 2 * headDim;
    const freqs = [1, 0.05, 0.0007]; // not theta^(-2i/headDim) for any theta
    const x = randomArray(rows * dim, rows + 9);
    const positions = Array.from({ length: rows }, (_, i) => 5 + 11 * i);
    const layout = 'half';
    const r = await checkGradients(device, [{ data: x, shape: [rows, dim] }], (t, [a]) => t.rope(a, positions, { headDim, layout, freqs }), ([a]) => ropeRef(a, positions, dim, headDim, layout, 10000, freqs), { what: 'rope with freqs' });
    assertClose(r.grads[0]!, ropeBackwardCpu(r.seed, positions, dim, headDim, layout, 10000, freqs), { what: 'rope grad with freqs vs CPU twin', atol: 1e-6, rtol: 1e-5 });
  });
});
