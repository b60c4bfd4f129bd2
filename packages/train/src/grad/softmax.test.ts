// Gradients of softmax, log-softmax and cross-entropy (hard ids with weights/ignored rows, soft
// teacher targets): GPU backward vs finite differences of f64 CPU forwards and vs CPU twins.
import { getDevice, IndexError, randomArray, softmax, type Tensor } from '@hydra-ts/tensor';
import { assertClose } from '@hydra-ts/tensor/testing';
import { describe, expect, it } from 'vitest';
import { checkGradients, gpuGradients } from '../gradcheck';
import { crossEntropyBackwardCpu, crossEntropyRef, logSoftmaxRef, softmaxBackwardCpu, softmaxRef } from '../cpu/softmax';

const device = await getDevice();

describe.each([1, 3, 17])('softmax gradients, %i rows', (rows) => {
  const n = 37;
  const x = randomArray(rows * n, rows, -4, 4);

  it.each([1, 0.7])('softmax at temperature %f matches finite differences and the CPU twin', async (temperature) => {
    const r = await checkGradients(device, [{ data: x, shape: [rows, n] }], (t, [a]) => t.softmax(a, temperature), ([a]) => softmaxRef(a, rows, n, temperature), { what: 'softmax', atol: 1e-5 });
    assertClose(r.grads[0]!, softmaxBackwardCpu(r.value, r.seed, rows, n, false, temperature), { what: 'softmax grad vs twin', atol: 1e-6, rtol: 1e-4 });
  });

  it.each([1, 0.7])('logSoftmax at temperature %f matches finite differences and the CPU twin', async (temperature) => {
    const r = await checkGradients(device, [{ data: x, shape: [rows, n] }], (t, [a]) => t.logSoftmax(a, temperature), ([a]) => logSoftmaxRef(a, rows, n, temperature), { what: 'logSoftmax' });
    assertClose(r.grads[0]!, softmaxBackwardCpu(r.value, r.seed, rows, n, true, temperature), { what: 'logSoftmax grad vs twin', atol: 1e-5, rtol: 1e-4 });
  });
});

describe('softmax gradients over long rows', () => {
  it('a 600-wide row (past one workgroup) matches the CPU twin', async () => {
    const rows = 3;
    const n = 600;
    const x = randomArray(rows * n, 5, -4, 4);
    for (const log of [false, true]) {
      const r = await gpuGradients(device, [{ data: x, shape: [rows, n] }], (t, [a]) => (log ? t.logSoftmax(a) : t.softmax(a)));
      assertClose(r.grads[0]!, softmaxBackwardCpu(log ? logSoftmaxRef(x, rows, n) : softmaxRef(x, rows, n), r.seed, rows, n, log), { what: `${log ? 'logSoftmax' : 'softmax'} grad vs twin`, atol: 1e-6, rtol: 1e-3 });
    }
  });
});

describe.each([1, 3, 17])('cross-entropy, %i rows', (rows) => {
  const vocab = 33;
  const x = randomArray(rows * vocab, 40 + rows, -3, 3);
  const ids = Array.from({ length: rows }, (_, i) => (i * 7 + 2) % vocab);

  it('hard targets with weights and an ignored row: weighted mean loss and gradient', async () => {
    const weights = Array.from({ length: rows }, (_, i) => 0.5 + (i % 3));
    const targets = ids.map((t, i) => (i === 1 ? -1 : t));
    const w = weights.map((v, i) => (targets[i] === -1 ? 0 : v));
    const norm = w.reduce((s, v) => s + v, 0);
    const wn = w.map((v) => v / norm);
    const refIds = targets.map((t) => Math.max(0, t));
    const r = await checkGradients(device, [{ data: x, shape: [rows, vocab] }], (t, [a]) => t.crossEntropy(a, targets, { weights }), ([a]) => [crossEntropyRef(a, rows, vocab, { ids: refIds }, wn)], { what: 'crossEntropy' });
    assertClose(r.grads[0]!, crossEntropyBackwardCpu(x, rows, vocab, { ids: refIds }, wn), { what: 'crossEntropy grad vs twin', atol: 1e-6, rtol: 1e-4 });
  });

  it('soft targets: −Σ p log q against a teacher distribution', async () => {
    const teacherLogits = randomArray(rows * vocab, 70 + rows, -2, 2);
    const probs = softmaxRef(teacherLogits, rows, vocab);
    let teacher: Tensor | null = null;
    try {
      const tl = device.tensor(teacherLogits, [rows, vocab]);
      teacher = softmax(tl);
      tl.dispose();
      const p = (await teacher.read()) as Float32Array;
      const wn = new Array(rows).fill(1 / rows);
      const r = await checkGradients(device, [{ data: x, shape: [rows, vocab] }], (t, [a]) => t.softCrossEntropy(a, teacher!), ([a]) => [crossEntropyRef(a, rows, vocab, { probs: p }, wn)], { what: 'softCrossEntropy' });
      assertClose(r.grads[0]!, crossEntropyBackwardCpu(x, rows, vocab, { probs }, wn), { what: 'softCrossEntropy grad vs twin', atol: 1e-6, rtol: 1e-3 });
    } finally {
      teacher?.dispose();
    }
  });
});

describe('cross-entropy input checks', () => {
  it('names the bad target and the vocabulary', async () => {
    const run = gpuGradients(device, [{ data: new Float32Array(8), shape: [2, 4] }], (t, [a]) => t.crossEntropy(a, [0, 4]));
    await expect(run).rejects.toThrow(IndexError);
    await expect(gpuGradients(device, [{ data: new Float32Array(8), shape: [2, 4] }], (t, [a]) => t.crossEntropy(a, [0, 4]))).rejects.toThrow(/target 4 at row 1 .*\[0, 4\)/);
  });
  it('rejects a target count that differs from the rows', async () => {
    await expect(gpuGradients(device, [{ data: new Float32Array(8), shape: [2, 4] }], (t, [a]) => t.crossEntropy(a, [0]))).rejects.toThrow(/1 targets for logits/);
  });
});
