// CPU twin of linearQ8 and the quantizers both sides share. A matrix is quantized row by row in
// groups of Q8_GROUP values along k: scale = max|v| / 127 and q = round(v · 127 / max|v|) (ties to
// even, as WGSL's round), in f32 as the kernel computes them. The kernel quantizes each row of x the
// same way, so a product is Σ_groups (Σ q_x·q_w, exact in integers) · scale_x · scale_w.
// 4-bit weights (quantizeQ4Cpu) are the same product with q_w in [-8, 7]: each group's scale is its
// largest-magnitude value m over -8, so m itself lands on -8 and the other side reaches 7.
import { linearPrologueCpu, type FusedLinearCpu } from './linear';

/** Values per scale along a row (llama2.c runq's Q8_0 uses the same scheme). */
export const Q8_GROUP = 32;

export interface Q8Data {
  /** [rows, q8Width(k)] int8 values. */
  q: Int8Array;
  /** [rows, q8Width(k) / Q8_GROUP] f32 scales. */
  scales: Float32Array;
}

const f32 = Math.fround;

/** Round half to even (WGSL round). */
function roundEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** A row of k values takes this many int8 slots: k rounded up to a whole group (zero-padded). */
export function q8Width(k: number): number {
  return Math.ceil(k / Q8_GROUP) * Q8_GROUP;
}

/**
 * Quantizes each group of Q8_GROUP values: m is the group's largest magnitude (with its sign when
 * `signed`), scale = m / target, q = clamp(round(v · target / m), lo, hi); an all-zero group gets
 * scale 0 and zeros.
 */
function quantizeGroups(data: ArrayLike<number>, rows: number, k: number, target: number, signed: boolean, lo: number, hi: number): Q8Data {
  const width = q8Width(k);
  const groups = width / Q8_GROUP;
  const q = new Int8Array(rows * width);
  const scales = new Float32Array(rows * groups);
  const at = (r: number, i: number) => (i < k ? f32(data[r * k + i]) : 0);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < groups; g++) {
      let m = 0;
      for (let i = g * Q8_GROUP; i < (g + 1) * Q8_GROUP; i++) if (Math.abs(at(r, i)) > Math.abs(m)) m = signed ? at(r, i) : Math.abs(at(r, i));
      scales[r * groups + g] = m !== 0 ? f32(m / target) : 0;
      const inv = m !== 0 ? f32(target / m) : 0;
      for (let i = g * Q8_GROUP; i < (g + 1) * Q8_GROUP; i++) q[r * width + i] = Math.max(lo, Math.min(hi, roundEven(f32(at(r, i) * inv))));
    }
  }
  return { q, scales };
}

/**
 * Quantizes rows [rows, k] into int8 values and one scale per group of 32: scale = max|v| / 127.
 * Rows whose length is not a multiple of 32 are padded with zeros (q is [rows, q8Width(k)]).
 */
export function quantizeQ8Cpu(data: ArrayLike<number>, rows: number, k: number): Q8Data {
  return quantizeGroups(data, rows, k, 127, false, -127, 127);
}

/**
 * Quantizes rows [rows, k] into 4-bit values in [-8, 7] (held one per Int8Array slot) and one
 * scale per group of 32: scale = m / -8 for the group's value m of largest magnitude, q =
 * clamp(round(v / scale), -8, 7). Padded as quantizeQ8Cpu.
 */
export function quantizeQ4Cpu(data: ArrayLike<number>, rows: number, k: number): Q8Data {
  return quantizeGroups(data, rows, k, -8, true, -8, 7);
}

/** The matrix a Q8Data stands for, [rows, k] f32 (padding dropped). */
export function dequantizeQ8Cpu(d: Q8Data, rows: number, k: number): Float32Array {
  const width = q8Width(k);
  const groups = width / Q8_GROUP;
  const out = new Float32Array(rows * k);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < k; i++) out[r * k + i] = d.q[r * width + i] * d.scales[r * groups + Math.floor(i / Q8_GROUP)];
  }
  return out;
}

/**
 * y = prologue(x) · wᵀ (+ bias, SiLU, + residual) with w as int8 groups (from quantizeQ8Cpu, or
 * 4-bit values from quantizeQ4Cpu) and each prologue(x) row quantized to int8 groups, as linearQ8
 * computes it. x is [rows, k] ([rows, 2k] with swiglu).
 */
export function linearQ8Cpu(x: ArrayLike<number>, w: Q8Data, rows: number, k: number, n: number, o: FusedLinearCpu = {}): Float32Array {
  const xq = quantizeQ8Cpu(linearPrologueCpu(x, rows, k, o), rows, k);
  const width = q8Width(k);
  const groups = width / Q8_GROUP;
  const y = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < n; c++) {
      let sum = 0;
      for (let g = 0; g < groups; g++) {
        let d = 0;
        for (let i = g * Q8_GROUP; i < (g + 1) * Q8_GROUP; i++) d += xq.q[r * width + i] * w.q[c * width + i];
        sum += d * xq.scales[r * groups + g] * w.scales[c * groups + g];
      }
      if (o.bias) sum += o.bias[c];
      const v = o.silu ? sum / (1 + Math.exp(-sum)) : sum;
      y[r * n + c] = (o.residual ? o.residual[r * n + c] : 0) + v;
    }
  }
  return y;
}
