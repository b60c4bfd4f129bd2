// CPU twins of the element-wise ops.

export function binaryCpu(op: 'add' | 'mul' | 'sub', x: Float32Array, y: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  const m = y.length;
  for (let i = 0; i < x.length; i++) {
    const a = x[i];
    const b = y[i % m];
    out[i] = op === 'add' ? a + b : op === 'mul' ? a * b : a - b;
  }
  return out;
}

export function scaleCpu(x: Float32Array, s: number): Float32Array {
  return x.map((v) => v * s);
}

export function siluCpu(x: Float32Array): Float32Array {
  return x.map((v) => v / (1 + Math.exp(-v)));
}

export function swigluCpu(gate: Float32Array, up: Float32Array): Float32Array {
  return gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]);
}

/**
 * erf in f64, independent of the kernel's approximation: its Maclaurin series below 3, the
 * continued fraction of erfc above (erfc(3) ≈ 2e-5, so either side is accurate to ~1e-12).
 */
export function erfCpu(x: number): number {
  const a = Math.abs(x);
  if (a < 3) {
    let term = a; // x^(2n+1) (−1)^n / n!
    let sum = a;
    for (let n = 1; n < 60; n++) {
      term *= (-a * a) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(a) = e^(−a²)/√π · 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + 2/(a + ...)))))
  let f = a;
  for (let k = 60; k >= 1; k--) f = a + k / 2 / f;
  return Math.sign(x) * (1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / f);
}

/** ½x(1 + erf(x/√2)), in f64 */
export function geluCpu(x: Float32Array): Float32Array {
  return x.map((v) => 0.5 * v * (1 + erfCpu(v / Math.SQRT2)));
}
