// erf(x) as a WGSL function, for the exact (erf) GELU and its gradient. WGSL has no erf built-in.
// Abramowitz & Stegun 7.1.26: erf(x) = 1 − (a₁t + a₂t² + a₃t³ + a₄t⁴ + a₅t⁵)·e^(−x²), t = 1/(1 + p·x),
// x ≥ 0, odd in x; absolute error ≤ 1.5e-7, below f32 rounding of the GELU that uses it.

/** WGSL source of `fn erf_as(x: f32) -> f32`, to paste into a kernel. */
export const ERF_WGSL = `
fn erf_as(x: f32) -> f32 {
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return sign(x) * (1.0 - poly * exp(-a * a));
}`;
