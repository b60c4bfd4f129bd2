// CPU references for softmax / log-softmax / cross-entropy, forward in f64 and gradients.

export function logSoftmaxRef(x: ArrayLike<number>, rows: number, n: number, temperature = 1): Float64Array {
  const y = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    let m = -Infinity;
    for (let j = 0; j < n; j++) m = Math.max(m, x[r * n + j] / temperature);
    let s = 0;
    for (let j = 0; j < n; j++) s += Math.exp(x[r * n + j] / temperature - m);
    const lse = m + Math.log(s);
    for (let j = 0; j < n; j++) y[r * n + j] = x[r * n + j] / temperature - lse;
  }
  return y;
}

export function softmaxRef(x: ArrayLike<number>, rows: number, n: number, temperature = 1): Float64Array {
  return logSoftmaxRef(x, rows, n, temperature).map(Math.exp);
}

/** dx from the forward output y (probabilities, or log-probabilities when log). */
export function softmaxBackwardCpu(y: ArrayLike<number>, dy: ArrayLike<number>, rows: number, n: number, log: boolean, temperature = 1): Float64Array {
  const dx = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += log ? dy[r * n + j] : dy[r * n + j] * y[r * n + j];
    for (let j = 0; j < n; j++) {
      const i = r * n + j;
      dx[i] = (log ? dy[i] - Math.exp(y[i]) * s : y[i] * (dy[i] - s)) / temperature;
    }
  }
  return dx;
}

/** Σ_i w_i·(−Σ_j p_ij·log softmax(x_i)_j) with p given as ids (hard) or as [rows, n] probabilities (soft). */
export function crossEntropyRef(x: ArrayLike<number>, rows: number, n: number, target: { ids: ArrayLike<number> } | { probs: ArrayLike<number> }, w: ArrayLike<number>): number {
  const lp = logSoftmaxRef(x, rows, n);
  let loss = 0;
  for (let r = 0; r < rows; r++) {
    let l = 0;
    if ('ids' in target) l = -lp[r * n + target.ids[r]];
    else for (let j = 0; j < n; j++) l -= target.probs[r * n + j] * lp[r * n + j];
    loss += w[r] * l;
  }
  return loss;
}

/** dx = g·w_i·(softmax(x_i)·Σp − p). */
export function crossEntropyBackwardCpu(x: ArrayLike<number>, rows: number, n: number, target: { ids: ArrayLike<number> } | { probs: ArrayLike<number> }, w: ArrayLike<number>, g = 1): Float64Array {
  const q = softmaxRef(x, rows, n);
  const dx = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    let sp = 0;
    for (let j = 0; j < n; j++) sp += 'ids' in target ? (target.ids[r] === j ? 1 : 0) : target.probs[r * n + j];
    for (let j = 0; j < n; j++) {
      const p = 'ids' in target ? (target.ids[r] === j ? 1 : 0) : target.probs[r * n + j];
      dx[r * n + j] = g * w[r] * (q[r * n + j] * sp - p);
    }
  }
  return dx;
}

/**
 * Σ_i w_i·(−Σ_{s∈S_i} p_s·log q_s − r_i·log(1 − Σ_{s∈S_i} q_s)): cross-entropy against a sparse
 * teacher, ids and probs [rows, k], rest [rows] the mass outside the ids (one bucket).
 */
export function topKCrossEntropyRef(x: ArrayLike<number>, rows: number, n: number, k: number, ids: ArrayLike<number>, probs: ArrayLike<number>, rest: ArrayLike<number>, w: ArrayLike<number>): number {
  const q = softmaxRef(x, rows, n);
  let loss = 0;
  for (let r = 0; r < rows; r++) {
    let l = 0;
    let inS = 0;
    for (let t = 0; t < k; t++) {
      const qs = q[r * n + ids[r * k + t]];
      l -= probs[r * k + t] * Math.log(qs);
      inS += qs;
    }
    if (rest[r] > 0 && 1 - inS > 0) l -= rest[r] * Math.log(1 - inS);
    loss += w[r] * l;
  }
  return loss;
}
