// AdamW kernel vs a CPU twin over several steps (with clipping and decay/no-decay parameters),
// the global-norm clipping factor, the learning-rate schedule, and bit-identical training runs
// from the same seed.
import { getDevice, OptionError, randomArray, seededRandom } from '@hydra-ts/tensor';
import { assertClose } from '@hydra-ts/tensor/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Tape, Var } from './autograd';
import { AdamW, learningRateAt } from './optim';

const device = await getDevice();

/** CPU twin of one AdamW step for one parameter (f64), gradient already multiplied by the clip factor. */
function adamwCpu(theta: Float64Array, g: ArrayLike<number>, m: Float64Array, v: Float64Array, t: number, o: { lr: number; beta1: number; beta2: number; eps: number; wd: number }): void {
  for (let i = 0; i < theta.length; i++) {
    m[i] = o.beta1 * m[i] + (1 - o.beta1) * g[i];
    v[i] = o.beta2 * v[i] + (1 - o.beta2) * g[i] * g[i];
    theta[i] = theta[i] * (1 - o.lr * o.wd) - (o.lr * (m[i] / (1 - o.beta1 ** t))) / (Math.sqrt(v[i] / (1 - o.beta2 ** t)) + o.eps);
  }
}

describe('AdamW', () => {
  it.each([Infinity, 0.5])('matches the CPU twin over 5 steps (maxGradNorm %f)', async (maxGradNorm) => {
    const shapes = [[3, 17], [17], [1, 1]];
    const params = shapes.map((s, i) => Var.param(device.tensor(randomArray(s.reduce((a, b) => a * b), 10 + i), s), `p${i}`));
    const cpu = params.map((p, i) => ({ theta: Float64Array.from(randomArray(p.value.size, 10 + i)), m: new Float64Array(p.value.size), v: new Float64Array(p.value.size) }));
    const o = { lr: 0.01, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1 };
    const opt = new AdamW(params, { ...o, maxGradNorm: maxGradNorm === Infinity ? undefined : maxGradNorm });
    for (let t = 1; t <= 5; t++) {
      const grads = params.map((p, i) => randomArray(p.value.size, 100 * t + i, -1, 1));
      params.forEach((p, i) => (p.grad = device.tensor(grads[i], p.shape)));
      let sq = 0;
      for (const g of grads) for (const x of g) sq += x * x;
      const norm = Math.sqrt(sq);
      const factor = Math.min(1, maxGradNorm / (norm + 1e-6));
      opt.step();
      expect(await opt.lastGradNorm()).toBeCloseTo(norm, 4);
      cpu.forEach((c, i) => adamwCpu(c.theta, grads[i].map((x) => x * factor), c.m, c.v, t, { ...o, wd: params[i].value.rank >= 2 ? o.weightDecay : 0 }));
      opt.zeroGrad();
    }
    for (let i = 0; i < params.length; i++) assertClose(await params[i].value.read(), cpu[i].theta, { atol: 1e-6, rtol: 1e-5, what: `param ${i} after 5 steps` });
    opt.dispose();
    for (const p of params) p.dispose();
  });

  it('skips parameters without a gradient and rejects bad options', async () => {
    const a = Var.param(device.tensor([1, 2], [2]), 'a');
    const b = Var.param(device.tensor([3, 4], [2]), 'b');
    const opt = new AdamW([a, b], { lr: 0.1 });
    a.grad = device.tensor([1, 1], [2]);
    opt.step();
    assertClose(await b.value.read(), [3, 4], { atol: 0 });
    expect((await a.value.read())[0]).toBeLessThan(1);
    opt.dispose();
    expect(() => new AdamW([a], { beta1: 1 })).toThrow(OptionError);
    expect(() => new AdamW([a], { maxGradNorm: 0 })).toThrow(/maxGradNorm/);
    expect(() => new AdamW([])).toThrow(/no parameters/);
    a.dispose();
    b.dispose();
  });
});

describe('learning-rate schedule', () => {
  const o = { lr: 1e-3, warmupSteps: 10, totalSteps: 110, finalMultiplier: 0.1 };
  it('warms up linearly, peaks, and decays by cosine to the final multiplier', () => {
    expect(learningRateAt(0, o)).toBeCloseTo(1e-4, 12);
    expect(learningRateAt(4, o)).toBeCloseTo(5e-4, 12);
    expect(learningRateAt(9, o)).toBeCloseTo(1e-3, 12);
    expect(learningRateAt(10, o)).toBeCloseTo(1e-3, 12);
    // Half-way through the decay: final + (1 − final)/2.
    expect(learningRateAt(10 + 99 / 2, o)).toBeCloseTo(1e-3 * 0.55, 12);
    expect(learningRateAt(109, o)).toBeCloseTo(1e-4, 12);
    expect(learningRateAt(500, o)).toBeCloseTo(1e-4, 12);
  });
  it('is monotone after warm-up and bounded by [final·lr, lr] (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 10, max: 200 }), (s) => {
      const a = learningRateAt(s, o);
      return a <= learningRateAt(s - 1, o) + 1e-15 && a >= 1e-4 - 1e-15 && a <= 1e-3 + 1e-15;
    }));
  });
  it('rejects a bad schedule', () => {
    expect(() => learningRateAt(0, { ...o, finalMultiplier: 2 })).toThrow(OptionError);
    expect(() => learningRateAt(0, { ...o, totalSteps: 0 })).toThrow(/totalSteps/);
  });
});

/** Trains a tiny dropout MLP for `steps` AdamW steps from `seed`; returns the parameters' bits. */
async function train(seed: number, steps: number): Promise<Uint32Array[]> {
  const rnd = seededRandom(seed);
  const init = (n: number) => Float32Array.from({ length: n }, () => (rnd() * 2 - 1) * 0.5);
  const w1 = Var.param(device.tensor(init(8 * 5), [8, 5]), 'w1');
  const b1 = Var.param(device.tensor(init(8), [8]), 'b1');
  const w2 = Var.param(device.tensor(init(4 * 8), [4, 8]), 'w2');
  const params = [w1, b1, w2];
  const opt = new AdamW(params, { lr: 0.01, maxGradNorm: 1 });
  const x = device.tensor(init(6 * 5), [6, 5]);
  for (let s = 0; s < steps; s++) {
    const tape = new Tape(device);
    const h = tape.dropout(tape.silu(tape.linear(tape.constant(x), w1, b1)), 0.25, seed * 1000 + s);
    tape.backward(tape.crossEntropy(tape.linear(h, w2), [0, 1, 2, 3, 0, 1]));
    tape.dispose();
    opt.step(learningRateAt(s, { lr: 0.01, warmupSteps: 2, totalSteps: steps }));
    opt.zeroGrad();
  }
  const out = await Promise.all(params.map(async (p) => new Uint32Array((await p.value.read()).buffer)));
  x.dispose();
  opt.dispose();
  for (const p of params) p.dispose();
  return out;
}

describe('reproducibility', () => {
  it('the same seed gives bit-identical parameters after 8 steps; another seed does not', async () => {
    const a = await train(3, 8);
    const b = await train(3, 8);
    a.forEach((p, i) => expect([...p]).toEqual([...b[i]]));
    const c = await train(4, 8);
    expect(c.some((p, i) => p.some((bits, j) => bits !== a[i][j]))).toBe(true);
  });
});
