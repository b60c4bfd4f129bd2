// Gradient checking: run an op graph forward and backward on the GPU from a seeded upstream
// gradient, and differentiate a CPU reference numerically (central differences in f64).
// Used by this package's tests and by anyone adding a differentiable op or a head.

import { seededRandom, type Device } from '@hydra-ts/tensor';
import { assertClose } from '@hydra-ts/tensor/testing';
import { Tape, Var } from './autograd';

export interface GradCheckInput {
  data: ArrayLike<number>;
  shape: number[];
  /** Default true. */
  requiresGrad?: boolean;
}

export interface GradCheckResult {
  /** Forward output read back. */
  value: Float32Array;
  /** Upstream gradient the backward pass started from (all ones for a one-element output). */
  seed: Float32Array;
  /** Gradient of Σ seed⊙output per input; null for inputs without requiresGrad. */
  grads: Array<Float32Array | null>;
}

/** Builds the graph on a fresh tape over leaf Vars made from `inputs`, runs backward, reads everything back, frees it all. */
export async function gpuGradients(device: Device, inputs: GradCheckInput[], build: (tape: Tape, xs: Var[]) => Var, seed = 1): Promise<GradCheckResult> {
  const xs = inputs.map((x, i) => new Var(device.tensor(x.data, x.shape), { requiresGrad: x.requiresGrad ?? true, name: `input${i}` }));
  const tape = new Tape(device);
  try {
    const y = build(tape, xs);
    const rnd = seededRandom(seed);
    const up = y.value.size === 1 ? new Float32Array([1]) : Float32Array.from({ length: y.value.size }, () => rnd() * 2 - 1);
    const upT = device.tensor(up, y.shape);
    tape.backward(y, y.value.size === 1 ? undefined : upT);
    upT.dispose();
    const value = (await y.value.read()) as Float32Array;
    const grads: Array<Float32Array | null> = [];
    for (const x of xs) grads.push(x.grad ? ((await x.grad.read()) as Float32Array) : x.requiresGrad ? new Float32Array(x.value.size) : null);
    return { value, seed: up, grads };
  } finally {
    tape.dispose();
    for (const x of xs) x.dispose();
  }
}

/**
 * ∂/∂xs[which] of Σ seed⊙f(xs) by central differences (step h, in f64).
 */
export function numericGradient(f: (xs: Float64Array[]) => ArrayLike<number>, xs: Float64Array[], which: number, seed: ArrayLike<number>, h = 1e-6): Float64Array {
  const x = xs[which];
  const out = new Float64Array(x.length);
  const dot = (y: ArrayLike<number>) => {
    let s = 0;
    for (let i = 0; i < y.length; i++) s += seed[i] * y[i];
    return s;
  };
  for (let i = 0; i < x.length; i++) {
    const keep = x[i];
    x[i] = keep + h;
    const up = dot(f(xs));
    x[i] = keep - h;
    const down = dot(f(xs));
    x[i] = keep;
    out[i] = (up - down) / (2 * h);
  }
  return out;
}

export interface GradientTolerance {
  atol?: number;
  rtol?: number;
  /** Finite-difference step. */
  h?: number;
  /** Named in failure messages. */
  what?: string;
}

/**
 * Asserts that the GPU forward matches `reference` (f64 CPU forward of the same graph) and that
 * every GPU gradient matches central differences of Σ seed⊙reference. Returns the GPU result.
 */
export async function checkGradients(
  device: Device,
  inputs: GradCheckInput[],
  build: (tape: Tape, xs: Var[]) => Var,
  reference: (xs: Float64Array[]) => ArrayLike<number>,
  tol: GradientTolerance = {},
): Promise<GradCheckResult> {
  const what = tol.what ?? 'op';
  const atol = tol.atol ?? 2e-4;
  const rtol = tol.rtol ?? 2e-3;
  const r = await gpuGradients(device, inputs, build);
  const xs = inputs.map((x) => Float64Array.from(x.data, (v) => Math.fround(v)));
  assertClose(r.value, reference(xs), { atol, rtol, what: `${what} forward` });
  inputs.forEach((x, i) => {
    if (x.requiresGrad === false) return;
    const fd = numericGradient(reference, xs, i, r.seed, tol.h);
    assertClose(r.grads[i]!, fd, { atol, rtol, what: `${what} d/dinput${i} vs finite differences` });
  });
  return r;
}
