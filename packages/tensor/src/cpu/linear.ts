// CPU twins of linear and matmul: plain loops with f64 accumulation, the references the GPU
// kernels are tested against.

/** y[r, o] = Σ_i x[r, i] · w[o, i] + bias[o]; x [rows, k], w [n, k], bias [n] -> y [rows, n]. */
export function linearCpu(x: ArrayLike<number>, w: ArrayLike<number>, rows: number, k: number, n: number, bias?: ArrayLike<number>): Float32Array {
  const y = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < n; o++) {
      let sum = bias ? bias[o] : 0;
      for (let i = 0; i < k; i++) sum += x[r * k + i] * w[o * k + i];
      y[r * n + o] = sum;
    }
  }
  return y;
}

export interface MatmulCpuShape {
  m: number;
  k: number;
  n: number;
  /** a is stored [k, m]. */
  transposeA?: boolean;
  /** b is stored [n, k]. */
  transposeB?: boolean;
}

/** c[m, n] = op(a) · op(b), op(a) [m, k], op(b) [k, n]. */
export function matmulCpu(a: ArrayLike<number>, b: ArrayLike<number>, s: MatmulCpuShape): Float32Array {
  const { m, k, n } = s;
  const c = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let q = 0; q < k; q++) {
        const av = s.transposeA ? a[q * m + i] : a[i * k + q];
        const bv = s.transposeB ? b[j * k + q] : b[q * n + j];
        sum += av * bv;
      }
      c[i * n + j] = sum;
    }
  }
  return c;
}

export interface FusedLinearCpu {
  bias?: ArrayLike<number>;
  /** [rows, n], added last. */
  residual?: ArrayLike<number>;
  /** RMSNorm weight [k]: each x row is normalized first. */
  norm?: ArrayLike<number>;
  eps?: number;
  /** x is [rows, 2k], gate | up: the product uses silu(gate)·up. */
  swiglu?: boolean;
  /** As swiglu with the tanh GELU: 0.5·g·(1 + tanh(√(2/π)·(g + 0.044715·g³)))·up. */
  geglu?: boolean;
  /** SiLU of (product + bias), taken before the residual is added. */
  silu?: boolean;
}

/** y = residual + act(prologue(x) · wᵀ + bias), prologue = RMSNorm, SwiGLU or nothing, act = SiLU or nothing; f64 sums. */
export function fusedLinearCpu(x: ArrayLike<number>, w: ArrayLike<number>, rows: number, k: number, n: number, o: FusedLinearCpu = {}): Float32Array {
  const xs = linearPrologueCpu(x, rows, k, o);
  const y = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < n; c++) {
      let sum = o.bias ? o.bias[c] : 0;
      for (let i = 0; i < k; i++) sum += xs[r * k + i] * w[c * k + i];
      const v = o.silu ? sum / (1 + Math.exp(-sum)) : sum;
      y[r * n + c] = (o.residual ? o.residual[r * n + c] : 0) + v;
    }
  }
  return y;
}

/** The rows [rows, k] a fused linear multiplies: x itself, rmsnorm(x)·norm, or silu(gate)·up of x's halves. */
export function linearPrologueCpu(x: ArrayLike<number>, rows: number, k: number, o: Pick<FusedLinearCpu, 'norm' | 'eps' | 'swiglu' | 'geglu'> = {}): Float64Array {
  const xs = new Float64Array(rows * k);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let i = 0; i < k; i++) ss += x[r * k + i] * x[r * k + i];
    const inv = 1 / Math.sqrt(ss / k + (o.eps ?? 1e-5));
    for (let i = 0; i < k; i++) {
      if (o.swiglu) {
        const g = x[r * 2 * k + i];
        xs[r * k + i] = (g / (1 + Math.exp(-g))) * x[r * 2 * k + k + i];
      } else if (o.geglu) {
        const g = x[r * 2 * k + i];
        xs[r * k + i] = 0.5 * g * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (g + 0.044715 * g ** 3))) * x[r * 2 * k + k + i];
      } else if (o.norm) xs[r * k + i] = x[r * k + i] * inv * o.norm[i];
      else xs[r * k + i] = x[r * k + i];
    }
  }
  return xs;
}
