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
import { KSPLIT_MAX_UNITS, ksplitByDefault, ksplitFits } from './ksplit';
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
}

/** Whether the column kernels can share rows of x through subgroups on this device. */
export function sharesRows(device: Device): boolean {
  return device.subgroups !== null && device.subgroups.minSize >= SHARE_LANES;
}

/** The kernel (and register block) for one product; throws OptionError for a forced choice that cannot run. */
export function selectLinear(device: Device, shape: LinearShape, weights: LinearWeights, req: LinearRequest): LinearChoice {
  const { rows, n, k } = shape;
  const share = sharesRows(device);
  if (weights === 'q8' || weights === 'q4') {
    if (req.path !== undefined && req.path !== 'columns') throw new OptionError(`linear: quantized weights (${weights}) have only the column path, got path '${req.path}'`);
    return { kernel: 'quantized', block: req.columns ?? quantConfig(weights === 'q8' ? 8 : 4, rows, n, share) };
  }
  const fits = !req.columns && !req.prologue && ksplitFits(device, rows, k, weights);
  if (req.path === 'ksplit' && !fits) {
    throw new OptionError(
      `linear: path 'ksplit' needs one row, f32 weights, k a multiple of 4 and at most ${KSPLIT_MAX_UNITS * 4} per subgroup lane, subgroups of one size, and no columns, normalize, swiglu or geglu option; got ${rows} row(s), k ${k}, ${weights} weights on ${device.name}`,
    );
  }
  const kernel = req.path ?? (fits && ksplitByDefault(device) ? 'ksplit' : 'columns');
  if (kernel === 'columns') return { kernel, block: req.columns ?? columnConfig(rows, n, share) };
  return { kernel };
}
