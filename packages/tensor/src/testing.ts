// Numeric comparison helpers for tests of kernels against their CPU twins.

export interface CloseOptions {
  atol?: number;
  rtol?: number;
  /** Named in the failure message. */
  what?: string;
}

export interface CloseReport {
  ok: boolean;
  maxAbs: number;
  maxRel: number;
  worst: number;
  message: string;
}

/** Compares element-wise: |a − e| ≤ atol + rtol·|e| everywhere; NaN only where expected is NaN. */
export function compareClose(actual: ArrayLike<number>, expected: ArrayLike<number>, opts: CloseOptions = {}): CloseReport {
  const atol = opts.atol ?? 1e-5;
  const rtol = opts.rtol ?? 1e-4;
  const what = opts.what ?? 'values';
  if (actual.length !== expected.length) {
    return { ok: false, maxAbs: Infinity, maxRel: Infinity, worst: -1, message: `${what}: length ${actual.length}, expected ${expected.length}` };
  }
  let maxAbs = 0;
  let maxRel = 0;
  let worst = -1;
  let bad = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    const d = Math.abs(a - e);
    if (!(d <= atol + rtol * Math.abs(e))) {
      bad++;
      if (worst < 0 || !(d <= maxAbs)) worst = i;
    }
    if (!(d <= maxAbs)) maxAbs = d;
    const r = d / Math.max(Math.abs(e), 1e-30);
    if (r > maxRel && Number.isFinite(r)) maxRel = r;
  }
  const ok = bad === 0;
  const message = ok
    ? `${what}: ${actual.length} close (max abs diff ${maxAbs.toExponential(2)})`
    : `${what}: ${bad} of ${actual.length} differ beyond atol ${atol} + rtol ${rtol}; worst at [${worst}]: got ${actual[worst]}, expected ${expected[worst]} (max abs diff ${maxAbs})`;
  return { ok, maxAbs, maxRel, worst, message };
}

/** Throws with a readable message unless the arrays are close. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, opts: CloseOptions = {}): void {
  const r = compareClose(actual, expected, opts);
  if (!r.ok) throw new Error(r.message);
}
export { seededRandom, randomArray } from './random';
