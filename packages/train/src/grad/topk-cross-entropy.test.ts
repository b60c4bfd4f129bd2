// Cross-entropy against a sparse (top-k) teacher: GPU forward/backward vs finite differences of
// the f64 CPU reference, and with k = vocab equal to the full soft cross-entropy.
import { getDevice, randomArray } from '@hydra-ts/tensor';
import { assertClose } from '@hydra-ts/tensor/testing';
import { describe, expect, it } from 'vitest';
import { checkGradients, gpuGradients } from '../gradcheck';
import { crossEntropyRef, softmaxRef, topKCrossEntropyRef } from '../cpu/softmax';

const device = await getDevice();

/** The k largest teacher probabilities per row (CPU), their ids, and the rest mass. */
function sparse(p: ArrayLike<number>, rows: number, n: number, k: number) {
  const ids = new Int32Array(rows * k);
  const probs = new Float32Array(rows * k);
  const rest = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const order = Array.from({ length: n }, (_, j) => j).sort((a, b) => p[r * n + b] - p[r * n + a]);
    let kept = 0;
    for (let t = 0; t < k; t++) {
      ids[r * k + t] = order[t];
      probs[r * k + t] = p[r * n + order[t]];
      kept += probs[r * k + t];
    }
    rest[r] = Math.max(0, 1 - kept);
  }
  return { ids, probs, rest };
}

describe.each([1, 3, 17])('topKCrossEntropy, %i rows', (rows) => {
  const vocab = 37;
  const x = randomArray(rows * vocab, 90 + rows, -3, 3);
  const p = softmaxRef(randomArray(rows * vocab, 120 + rows, -2, 2), rows, vocab);

  it.each([1, 5, 36])('k = %i matches finite differences of the CPU reference', async (k) => {
    const s = sparse(p, rows, vocab, k);
    const weights = Array.from({ length: rows }, (_, i) => 0.5 + (i % 3));
    const norm = weights.reduce((a, v) => a + v, 0);
    const wn = weights.map((v) => v / norm);
    const t = { ids: device.tensor(s.ids, [rows, k], 'i32'), probs: device.tensor(s.probs, [rows, k]), rest: device.tensor(s.rest, [rows]) };
    try {
      await checkGradients(device, [{ data: x, shape: [rows, vocab] }], (tape, [a]) => tape.topKCrossEntropy(a, t, { weights }), ([a]) => [topKCrossEntropyRef(a, rows, vocab, k, s.ids, s.probs, s.rest, wn)], { what: `topKCrossEntropy k=${k}` });
    } finally {
      for (const v of Object.values(t)) v.dispose();
    }
  });

  it('k = vocab equals the full soft cross-entropy, loss and gradient', async () => {
    const s = sparse(p, rows, vocab, vocab);
    const full = Float32Array.from(p);
    const t = { ids: device.tensor(s.ids, [rows, vocab], 'i32'), probs: device.tensor(s.probs, [rows, vocab]), rest: device.tensor(new Float32Array(rows), [rows]) };
    const teacher = device.tensor(full, [rows, vocab]);
    try {
      const a = await gpuGradients(device, [{ data: x, shape: [rows, vocab] }], (tape, [v]) => tape.topKCrossEntropy(v, t));
      const b = await gpuGradients(device, [{ data: x, shape: [rows, vocab] }], (tape, [v]) => tape.softCrossEntropy(v, teacher));
      assertClose(a.value, b.value, { atol: 1e-5, rtol: 1e-5, what: 'loss vs softCrossEntropy' });
      assertClose(a.grads[0]!, b.grads[0]!, { atol: 1e-6, rtol: 1e-4, what: 'grad vs softCrossEntropy' });
      assertClose(a.value, [crossEntropyRef(x, rows, vocab, { probs: full }, new Array(rows).fill(1 / rows))], { atol: 1e-5, rtol: 1e-5, what: 'loss vs CPU full cross-entropy' });
    } finally {
      for (const v of [...Object.values(t), teacher]) v.dispose();
    }
  });
});

describe('topKCrossEntropy input checks', () => {
  it('rejects ids whose rows differ from the logits', async () => {
    const t = { ids: device.tensor(new Int32Array(3), [3, 1], 'i32'), probs: device.tensor(new Float32Array(3), [3, 1]), rest: device.tensor(new Float32Array(3), [3]) };
    try {
      await expect(gpuGradients(device, [{ data: new Float32Array(8), shape: [2, 4] }], (tape, [a]) => tape.topKCrossEntropy(a, t))).rejects.toThrow(/teacher ids .* must be i32 \[2, k\]/);
    } finally {
      for (const v of Object.values(t)) v.dispose();
    }
  });
});
