// CPU twin of linearQ8 and the int8 quantizer both sides share. A matrix is quantized row by row in
// groups of Q8_GROUP values along k: scale = max|v| / 127 and q = round(v · 127 / max|v|) (ties to
// even, as WGSL's round), in f32 as the kernel computes them. The kernel quantizes each row of x the
// same way, so a product is Σ_groups (Σ q_x·q_w, exact in integers) · scale_x · scale_w.
import { linearPrologueCpu, type FusedLinearCpu } from './linear';

/** Values per scale along a row (llama2.c runq's Q8_0 uses the same scheme). */
export const Q8_GROUP = 32;

export interface Q8Data {
  /** [rows, k] int8 values. */
  q: Int8Array;
  /** [rows, k / Q8_GROUP] f32 scales. */
  scales: Float32Array;
}

const f32 = Math.fround;

/** Round half to even (WGSL round). */
function roundEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Quantizes rows [rows, k] (k a multiple of Q8_GROUP) into int8 values and one scale per group. */
export function quantizeQ8Cpu(data: ArrayLike<number>, rows: number, k: number): Q8Data {
  if (k % Q8_GROUP !== 0) throw new RangeError(`quantizeQ8Cpu: k = ${k} is not a multiple of ${Q8_GROUP}`);
  const groups = k / Q8_GROUP;
  const q = new Int8Array(rows * k);
  const scales = new Float32Array(rows * groups);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < groups; g++) {
      const base = r * k + g * Q8_GROUP;
      let m = 0;
      for (let i = 0; i < Q8_GROUP; i++) m = Math.max(m, Math.abs(f32(data[base + i])));
      scales[r * groups + g] = f32(m / 127);
      const inv = m > 0 ? f32(127 / m) : 0;
      for (let i = 0; i < Q8_GROUP; i++) q[base + i] = Math.max(-127, Math.min(127, roundEven(f32(f32(data[base + i]) * inv))));
    }
  }
  return { q, scales };
}

/** The matrix a Q8Data stands for, [rows, k] f32. */
export function dequantizeQ8Cpu(d: Q8Data, rows: number, k: number): Float32Array {
  const groups = k / Q8_GROUP;
  const out = new Float32Array(rows * k);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < k; i++) out[r * k + i] = d.q[r * k + i] * d.scales[r * groups + Math.floor(i / Q8_GROUP)];
  }
  return out;
}

/**
 * y = prologue(x) · wᵀ (+ bias, SiLU, + residual) with w as int8 groups and each prologue(x) row
 * quantized the same way, as linearQ8 computes it. x is [rows, k] ([rows, 2k] with swiglu).
 */
export function linearQ8Cpu(x: ArrayLike<number>, w: Q8Data, rows: number, k: number, n: number, o: FusedLinearCpu = {}): Float32Array {
  const xq = quantizeQ8Cpu(linearPrologueCpu(x, rows, k, o), rows, k);
  const groups = k / Q8_GROUP;
  const y = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < n; c++) {
      let sum = 0;
      for (let g = 0; g < groups; g++) {
        let d = 0;
        for (let i = g * Q8_GROUP; i < (g + 1) * Q8_GROUP; i++) d += xq.q[r * k + i] * w.q[c * k + i];
        sum += d * xq.scales[r * groups + g] * w.scales[c * groups + g];
      }
      if (o.bias) sum += o.bias[c];
      const v = o.silu ? sum / (1 + Math.exp(-sum)) : sum;
      y[r * n + c] = (o.residual ? o.residual[r * n + c] : 0) + v;
    }
  }
  return y;
}
