// The engine: linear/matmul gradients, accumulation over shared inputs and repeated backward
// calls, ownership (no leaked tensors), misuse errors, and a tiny MLP trained with SGD.
import { DTypeError, getDevice, liveTensorCount, randomArray, seededRandom, ShapeError } from '@hydra-ts/tensor';
import { assertClose } from '@hydra-ts/tensor/testing';
import { describe, expect, it } from 'vitest';
import { AutogradError, Tape, Var } from './autograd';
import { checkGradients, gpuGradients } from './gradcheck';
import { linearBackwardCpu, linearRef, matmulRef } from './cpu/linear';
import { SGD } from './optim';

const device = await getDevice();

describe.each([1, 3, 17])('linear and matmul gradients, %i rows', (rows) => {
  it.each([[5, 3], [17, 9]])('in %i, out %i: dx, dw, db match finite differences and the CPU twin', async (k, n) => {
    const x = randomArray(rows * k, rows + k);
    const w = randomArray(n * k, 2 * n + k);
    const b = randomArray(n, n);
    const r = await checkGradients(
      device,
      [{ data: x, shape: [rows, k] }, { data: w, shape: [n, k] }, { data: b, shape: [n] }],
      (t, [a, ww, bb]) => t.linear(a, ww, bb),
      ([a, ww, bb]) => linearRef(a, ww, rows, k, n, bb),
      { what: 'linear' },
    );
    const twin = linearBackwardCpu(x, w, r.seed, rows, k, n);
    assertClose(r.grads[0]!, twin.dx, { what: 'dx vs twin', atol: 1e-5 });
    assertClose(r.grads[1]!, twin.dw, { what: 'dw vs twin', atol: 1e-5 });
    assertClose(r.grads[2]!, twin.db, { what: 'db vs twin', atol: 1e-5 });
  });

  it('matmul: da and db match finite differences', async () => {
    const [k, n] = [4, 6];
    const a = randomArray(rows * k, 3);
    const b = randomArray(k * n, 4);
    await checkGradients(device, [{ data: a, shape: [rows, k] }, { data: b, shape: [k, n] }], (t, [x, y]) => t.matmul(x, y), ([x, y]) => matmulRef(x, y, rows, k, n), { what: 'matmul' });
  });
});

describe('engine', () => {
  it('accumulates the gradient of an input used twice, and over two tapes until zeroGrad', async () => {
    const x = new Var(device.tensor([1, -2, 3], [1, 3]), { requiresGrad: true });
    for (let step = 1; step <= 2; step++) {
      const tape = new Tape(device);
      // y = Σ (x ⊙ x + 2x) -> dy/dx = 2x + 2, via a seed of ones
      const y = tape.add(tape.mul(x, x), tape.scale(x, 2));
      const ones = device.tensor([1, 1, 1], [1, 3]);
      tape.backward(y, ones);
      ones.dispose();
      tape.dispose();
      assertClose(await x.grad!.read(), [4, -2, 8].map((g) => g * step), { atol: 1e-6, what: `grad after ${step} backward passes` });
    }
    x.zeroGrad();
    expect(x.grad).toBeNull();
    x.dispose();
  });

  it('concat splits its gradient by the inputs it was given, even if the caller\'s array grows later', async () => {
    const a = new Var(device.tensor(Float32Array.of(1, 2), [1, 2]), { requiresGrad: true });
    const b = new Var(device.tensor(Float32Array.of(3, 4), [1, 2]), { requiresGrad: true });
    const tape = new Tape(device);
    const parts = [a];
    const y = tape.concat(parts, 0); // [1, 2]
    parts.push(b); // as an unrolled loop reusing one array does
    const up = device.tensor(Float32Array.of(5, 6), [1, 2]);
    tape.backward(y, up);
    expect(Array.from((await a.grad!.read()) as Float32Array)).toEqual([5, 6]);
    expect(b.grad).toBeNull();
    up.dispose();
    tape.dispose();
    a.dispose();
    b.dispose();
  });

  it('frees every intermediate on dispose: no tensors leak across steps', async () => {
    const w = Var.param(device.tensor(randomArray(12, 1), [4, 3]), 'w');
    const before = liveTensorCount();
    for (let i = 0; i < 3; i++) {
      const tape = new Tape(device);
      const x = tape.constant(device.tensor(randomArray(6, i), [2, 3]));
      const loss = tape.crossEntropy(tape.silu(tape.linear(x, w)), [1, 3]);
      tape.backward(loss);
      tape.dispose();
      x.value.dispose();
      w.zeroGrad();
    }
    expect(liveTensorCount()).toBe(before);
    w.dispose();
  });

  it('only leaves that require grad receive one; constants stay untouched', async () => {
    const r = await gpuGradients(device, [{ data: [1, 2], shape: [1, 2] }, { data: [3, 4], shape: [1, 2], requiresGrad: false }], (t, [a, c]) => t.mul(a, c));
    assertClose(r.grads[0]!, [3 * r.seed[0], 4 * r.seed[1]], { atol: 1e-6 });
    expect(r.grads[1]).toBeNull();
  });

  it('reports misuse with typed errors', () => {
    const tape = new Tape(device);
    const x = new Var(device.tensor([1, 2, 3, 4], [2, 2]), { requiresGrad: true });
    const y = tape.silu(x);
    expect(() => tape.backward(y)).toThrow(/not a scalar; pass its upstream gradient/);
    const other = new Tape(device);
    expect(() => other.silu(y)).toThrow(AutogradError);
    expect(() => other.backward(y)).toThrow(/not recorded on this tape/);
    const seed = device.tensor([1, 1], [2]);
    expect(() => tape.backward(y, seed)).toThrow(ShapeError);
    seed.dispose();
    const loss = tape.crossEntropy(y, [0, 1]);
    tape.backward(loss);
    expect(() => tape.backward(loss)).toThrow(/already ran backward/);
    expect(() => tape.silu(x)).toThrow(/already ran backward/);
    tape.dispose();
    other.dispose();
    expect(() => tape.silu(x)).toThrow(/tape was disposed/);
    expect(() => Var.param(device.tensor([1], [1], 'i32'), 'ids')).toThrow(DTypeError);
    x.dispose();
  });
});

describe('end to end', () => {
  it('a 2-layer MLP classifier: loss falls under plain SGD over 20 steps', async () => {
    const rnd = seededRandom(7);
    const [inDim, hidden, classes, batch] = [6, 16, 3, 24];
    // Separable data: class = argmax of three fixed projections.
    const xs = Float32Array.from({ length: batch * inDim }, () => rnd() * 2 - 1);
    const labels = Array.from({ length: batch }, (_, r) => {
      const s = [0, 1, 2].map((c) => xs[r * inDim + c] - xs[r * inDim + c + 3]);
      return s.indexOf(Math.max(...s));
    });
    const init = (n: number, fan: number) => Float32Array.from({ length: n }, () => (rnd() * 2 - 1) / Math.sqrt(fan));
    const w1 = Var.param(device.tensor(init(hidden * inDim, inDim), [hidden, inDim]), 'w1');
    const b1 = Var.param(device.zeros([hidden]), 'b1');
    const w2 = Var.param(device.tensor(init(classes * hidden, hidden), [classes, hidden]), 'w2');
    const b2 = Var.param(device.zeros([classes]), 'b2');
    const params = [w1, b1, w2, b2];
    const sgd = new SGD(params, 0.5);
    const input = device.tensor(xs, [batch, inDim]);
    const losses: number[] = [];
    for (let step = 0; step < 20; step++) {
      const tape = new Tape(device);
      const h = tape.silu(tape.linear(tape.constant(input), w1, b1));
      const loss = tape.crossEntropy(tape.linear(h, w2, b2), labels);
      tape.backward(loss);
      sgd.step();
      losses.push((await loss.value.read())[0]);
      tape.dispose();
      sgd.zeroGrad();
    }
    expect(losses[0]).toBeGreaterThan(0.9); // about ln 3 at the start
    expect(losses[19]).toBeLessThan(losses[0] * 0.6);
    for (let i = 5; i < 20; i += 5) expect(losses[i]).toBeLessThan(losses[i - 5]);
    input.dispose();
    sgd.dispose();
    for (const p of params) p.dispose();
  });
});
