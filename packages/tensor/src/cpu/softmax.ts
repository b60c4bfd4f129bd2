// CPU twins of softmax and logSoftmax: max-subtracted, f64 sums.

/** x: [rows, n] -> [rows, n] */
export function softmaxCpu(x: Float32Array, rows: number, n: number, temperature = 1): Float32Array {
  const out = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++) {
    let max = -Infinity;
    for (let j = 0; j < n; j++) max = Math.max(max, x[r * n + j] / temperature);
    let sum = 0;
    for (let j = 0; j < n; j++) sum += Math.exp(x[r * n + j] / temperature - max);
    for (let j = 0; j < n; j++) out[r * n + j] = Math.exp(x[r * n + j] / temperature - max) / sum;
  }
  return out;
}

/** x: [rows, n] -> [rows, n] */
export function logSoftmaxCpu(x: Float32Array, rows: number, n: number, temperature = 1): Float32Array {
  const out = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++) {
    let max = -Infinity;
    for (let j = 0; j < n; j++) max = Math.max(max, x[r * n + j] / temperature);
    let sum = 0;
    for (let j = 0; j < n; j++) sum += Math.exp(x[r * n + j] / temperature - max);
    const logSum = Math.log(sum);
    for (let j = 0; j < n; j++) out[r * n + j] = x[r * n + j] / temperature - max - logSum;
  }
  return out;
}
