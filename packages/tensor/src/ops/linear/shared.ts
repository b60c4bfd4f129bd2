// What every kernel of the linear family shares: the bias binding, the register block of the
// column kernels, and the prologue / epilogue a product may fuse (see LinearOptions in ../linear.ts).
import type { Binding } from '../../device';

// Bias is bound always (any read-only buffer stands in when absent) and switched by p.hasBias,
// which halves the pipelines to compile: on llvmpipe a compile costs more than many dispatches.
export const BINDINGS = ['read', 'read', 'read', 'read_write'] as const;
export const BIAS_WGSL = `@group(1) @binding(3) var<storage, read> bias: array<f32>;
@group(1) @binding(4) var<storage, read_write> out: array<f32>;
fn addBias(i: u32) -> f32 {
  if (p.hasBias != 0u) { return bias[i]; }
  return 0.0;
}`;

/** What a column kernel does to x before the product. */
export type Prologue = 'none' | 'rmsnorm' | 'swiglu' | 'geglu';

/** The prologue of a fusion. */
export function prologueOf(fuse: ColumnFusion): Prologue {
  return fuse.norm ? 'rmsnorm' : fuse.swiglu ? 'swiglu' : fuse.geglu ? 'geglu' : 'none';
}

/** Shape of the column kernel: wg invocations, each tc columns × tm rows of y. */
export interface ColumnConfig {
  wg: number;
  tm: number;
  tc: number;
  /** What neighbouring invocations differ in: output columns (default) or rows of x. */
  lanes?: 'cols' | 'rows';
  /** Keep vec4 partial sums (independent FMA chains) instead of summing each dot at once. */
  vacc?: boolean;
  /**
   * Rows of x shared through the subgroup: each of SHARE_LANES neighbouring lanes loads one row
   * and subgroupBroadcast hands it to the rest, instead of every lane loading every row. Needs
   * a device whose subgroups hold at least SHARE_LANES invocations (sharesRows), column lanes, and
   * tm ≤ SHARE_LANES or a multiple of it.
   */
  share?: boolean;
}

/** Element strides of the column kernel's operands; absent means both contiguous in k. */
export interface ColumnStrides {
  sar: number;
  saq: number;
  sbc: number;
  sbq: number;
}

/** @internal What the column kernel fuses around the product (see LinearOptions). */
export interface ColumnFusion {
  residual?: Binding;
  norm?: { weight: Binding; eps: number };
  /** x holds gate | up halves of width k each; the product uses silu(gate)·up. */
  swiglu?: boolean;
  /** As swiglu with gelu_tanh(gate)·up. */
  geglu?: boolean;
  /** SiLU of the product plus bias, before the residual. */
  silu?: boolean;
}

