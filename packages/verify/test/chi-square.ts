// Pearson chi-square goodness of fit with its p-value, for the verifier distribution tests.

function logGamma(x: number): number {
  // Lanczos approximation (g = 7, n = 9), accurate to ~1e-15 for x > 0.
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  x -= 1;
  let a = c[0];
  const t = x + 7.5;
  for (let k = 1; k < 9; k++) a += c[k] / (x + k);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Regularised upper incomplete gamma Q(a, x) = Γ(a, x) / Γ(a). */
export function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const front = Math.exp(-x + a * Math.log(x) - logGamma(a));
  if (x < a + 1) {
    // Series for P(a, x).
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < 10_000; n++) {
      term *= x / (a + n);
      sum += term;
      if (term < sum * 1e-16) break;
    }
    return 1 - front * sum;
  }
  // Continued fraction for Q(a, x), modified Lentz.
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let n = 1; n < 10_000; n++) {
    const an = -n * (n - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return front * h;
}

/** P(X >= stat) for X ~ chi-square with `dof` degrees of freedom. */
export function chiSquarePValue(stat: number, dof: number): number {
  return gammaQ(dof / 2, stat / 2);
}

export interface ChiSquareResult {
  stat: number;
  dof: number;
  pValue: number;
  /** Observations in cells the target gives probability 0 (any makes the fit fail). */
  impossible: number;
}

/**
 * Observed counts against exact cell probabilities. Cells expected to hold fewer than 5
 * observations are pooled into one bin, as the chi-square approximation needs.
 */
export function chiSquareTest(observed: ArrayLike<number>, probs: ArrayLike<number>): ChiSquareResult {
  let n = 0;
  for (let k = 0; k < observed.length; k++) n += observed[k];
  let impossible = 0;
  const cells: { e: number; o: number }[] = [];
  for (let k = 0; k < probs.length; k++) {
    if (probs[k] === 0) impossible += observed[k];
    else cells.push({ e: probs[k] * n, o: observed[k] });
  }
  cells.sort((a, b) => a.e - b.e);
  const bins: { e: number; o: number }[] = [];
  let pool = { e: 0, o: 0 };
  for (const c of cells) {
    if (pool.e < 5 && c.e < 5) {
      pool.e += c.e;
      pool.o += c.o;
    } else bins.push(c);
  }
  if (pool.e > 0) bins.push(pool);
  let stat = 0;
  for (const b of bins) stat += (b.o - b.e) ** 2 / b.e;
  const dof = bins.length - 1;
  return { stat, dof, pValue: impossible > 0 ? 0 : chiSquarePValue(stat, dof), impossible };
}
