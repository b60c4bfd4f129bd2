// Which kernel runs a linear, and why: the one place that decides, by adapter, shape and weights.
//
//   weights        rows  adapter                                    kernel      block
//   q8 / q4        any   any                                        quantized   quantConfig (tables.ts)
//   f32            1     subgroups of one size ≥ 16 (hardware GPUs)  ksplit      (k split across a subgroup)
//   f32, f16       any   otherwise                                  columns     columnConfig (tables.ts)
//
// The k-split kernel also needs k a multiple of 4 within its register slice and no fused
// prologue (RMSNorm, SwiGLU, GeGLU); where it does not fit, the column kernel runs. Rows of x are
// shared through subgroups (ColumnConfig.share) where subgroups hold at least SHARE_LANES lanes.
// LinearOptions.path forces 'columns', 'ksplit' or the workgroup-memory 'tiled' kernel, and
// LinearOptions.columns a register block (tests, benchmarks); a forced choice that cannot run is
// an OptionError naming what it needs.
import type { Device } from '../../device';
import { OptionError } from '../../errors';
import { SHARE_LANES } from '../../kernel';
import { KSPLIT_DEFAULT_LANES, KSPLIT_MAX_UNITS, ksplitByDefault, ksplitFits, ksplitLanes } from './ksplit';
import type { ColumnConfig } from './shared';
import { columnConfig, quantConfig } from './tables';

export type LinearKernel = 'ksplit' | 'columns' | 'quantized' | 'tiled';

/** Stored weights as the selection sees them. */
export type LinearWeights = 'f32' | 'f16' | 'q8' | 'q4';

export interface LinearShape {
  rows: number;
  /** Output columns of this dispatch (a slice of w's rows when w is bound in slices). */
  n: number;
  k: number;
}

export interface LinearRequest {
  /** A fused prologue over x (RMSNorm, SwiGLU or GeGLU). */
  prologue: boolean;
  path?: 'columns' | 'ksplit' | 'tiled';
  columns?: ColumnConfig;
}

export interface LinearChoice {
  kernel: LinearKernel;
  /** Register block of the column and quantized kernels. */
  block?: ColumnConfig;
  /** Why this kernel (and block) runs here, in words: the rule that picked it and what it saw (built when read). */
  readonly reason: string;
}

/** Whether the column kernels can share rows of x through subgroups on this device. */
export function sharesRows(device: Device): boolean {
  return device.subgroups !== null && device.subgroups.minSize >= SHARE_LANES;
}

/** The kernel (and register block) for one product, and why; throws OptionError for a forced choice that cannot run. */
export function selectLinear(device: Device, shape: LinearShape, weights: LinearWeights, req: LinearRequest): LinearChoice {
  const { rows, n, k } = shape;
  const share = sharesRows(device);
  // The reasons are built only when read: selectLinear runs on every recorded product.
  const what = () => `${rows}×${k}·${k}→${n} ${weights} on ${device.name}`;
  const blockWhy = () => (req.columns ? 'register block forced by option columns' : `register block from tables.ts (measured on llvmpipe)${share ? ', rows of x shared through subgroups' : ''}`);
  if (weights === 'q8' || weights === 'q4') {
    if (req.path !== undefined && req.path !== 'columns') throw new OptionError(`linear: quantized weights (${weights}) have only the column path, got path '${req.path}'`);
    return choice('quantized', req.columns ?? quantConfig(weights === 'q8' ? 8 : 4, rows, n, share), () => `${what()}: quantized weights have only the quantized column kernel; ${blockWhy()}`);
  }
  const fits = !req.columns && !req.prologue && ksplitFits(device, rows, k, weights);
  if (req.path === 'ksplit' && !fits) {
    throw new OptionError(
      `linear: path 'ksplit' needs one row, f32 weights, k a multiple of 4 and at most ${KSPLIT_MAX_UNITS * 4} per subgroup lane, subgroups of one size, and no columns, normalize, swiglu or geglu option; got ${rows} row(s), k ${k}, ${weights} weights on ${device.name}`,
    );
  }
  const path = req.path;
  if (path !== undefined) {
    const forced = () => `${what()}: path '${path}' forced by option`;
    return path === 'columns' ? choice('columns', req.columns ?? columnConfig(rows, n, share), () => `${forced()}; ${blockWhy()}`) : choice(path, undefined, forced);
  }
  if (fits && ksplitByDefault(device)) {
    return choice('ksplit', undefined, () => `${what()}: one row of f32 weights on subgroups of ${ksplitLanes(device)} lanes (≥ ${KSPLIT_DEFAULT_LANES}): k split across a subgroup`);
  }
  const why = () =>
    fits
      ? `subgroups of ${ksplitLanes(device) ?? 'no'} lanes (the k-split kernel is the default from ${KSPLIT_DEFAULT_LANES})`
      : rows !== 1 ? `${rows} rows` : req.prologue ? 'a fused prologue (RMSNorm, SwiGLU or GeGLU)' : req.columns ? 'a forced register block' : weights !== 'f32' ? `${weights} weights` : ksplitLanes(device) === null ? 'no subgroups of one fixed size' : `k ${k}, past what the k-split kernel holds in registers`;
  return choice('columns', req.columns ?? columnConfig(rows, n, share), () => `${what()}: column kernel, for ${why()}; ${blockWhy()}`);
}

function choice(kernel: LinearKernel, block: ColumnConfig | undefined, why: () => string): LinearChoice {
  return {
    kernel,
    ...(block ? { block } : {}),
    get reason() {
      return why();
    },
  };
}
