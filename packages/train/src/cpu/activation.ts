// CPU references for SiLU, GELU and dropout.
import { cpu } from '@hydra-ts/tensor';

export function siluRef(x: ArrayLike<number>): Float64Array {
  return Float64Array.from(x, (v) => v / (1 + Math.exp(-v)));
}

export function siluBackwardCpu(x: ArrayLike<number>, dy: ArrayLike<number>): Float64Array {
  return Float64Array.from(x, (v, i) => {
    const s = 1 / (1 + Math.exp(-v));
    return dy[i] * s * (1 + v * (1 - s));
  });
}

/** ½x(1 + erf(x/√2)) in f64 (erf from the tensor package's f64 CPU twin). */
export function geluRef(x: ArrayLike<number>): Float64Array {
  return Float64Array.from(x, (v) => 0.5 * v * (1 + cpu.erfCpu(v / Math.SQRT2)));
}

/** dy · (Φ(x) + x·φ(x)) */
export function geluBackwardCpu(x: ArrayLike<number>, dy: ArrayLike<number>): Float64Array {
  return Float64Array.from(x, (v, i) => dy[i] * (0.5 * (1 + cpu.erfCpu(v / Math.SQRT2)) + (v * Math.exp(-0.5 * v * v)) / Math.sqrt(2 * Math.PI)));
}

/** The same integer hash as the dropout kernel, in 32-bit integer arithmetic. */
function pcg(x: number): number {
  const v = (Math.imul(x >>> 0, 747796405) + 2891336453) >>> 0;
  const w = Math.imul(((v >>> ((v >>> 28) + 4)) ^ v) >>> 0, 277803737) >>> 0;
  return ((w >>> 22) ^ w) >>> 0;
}

/** 1 where dropout keeps element i, else 0. */
export function dropoutKeepCpu(n: number, p: number, seed: number): Uint8Array {
  const threshold = Math.min(0xffffffff, Math.floor(p * 4294967296));
  const h = pcg(seed >>> 0);
  const keep = new Uint8Array(n);
  for (let i = 0; i < n; i++) keep[i] = pcg((i ^ h) >>> 0) >= threshold ? 1 : 0;
  return keep;
}

/** x·keep/(1−p): forward, and (applied to dy) backward. */
export function dropoutCpu(x: ArrayLike<number>, p: number, seed: number): Float64Array {
  const keep = dropoutKeepCpu(x.length, p, seed);
  return Float64Array.from(x, (v, i) => (keep[i] ? v / (1 - p) : 0));
}
