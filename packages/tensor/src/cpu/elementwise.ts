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
