// General matrix product c[m, n] = op(a) · op(b), op = identity or transpose, for the trainer's
// backward pass (dW = dYᵀ·X, dX = dY·W). By default it runs linear's column kernel with strides
// (linear/columns.ts says why that suits CPU adapters); path 'tiled' runs the workgroup-memory
// tiled kernel (linear/tiled.ts).

import { checkDType, checkLive, checkRank, shapeMismatch } from '../kernel';
import type { Tensor } from '../tensor';
import { dispatchColumns } from './linear/columns';
import { sharesRows } from './linear/select';
import { columnConfig } from './linear/tables';
import { DEFAULT_TILE, dispatchTiled, type TiledKernelSpec } from './linear/tiled';

export { DEFAULT_TILE, type TileConfig } from './linear/tiled';

export interface MatmulOptions {
  /** Treat a, stored [k, m], as its transpose. */
  transposeA?: boolean;
  /** Treat b, stored [n, k], as its transpose. */
  transposeB?: boolean;
  /** Kernel: 'columns' (default, see linear.ts) or the workgroup-memory 'tiled' kernel. */
  path?: 'columns' | 'tiled';
}

/**
 * c = op(a) · op(b) for f32 matrices: op(a) is [m, k], op(b) is [k, n]; returns c [m, n].
 * With transposeA, a is stored [k, m]; with transposeB, b is stored [n, k]. b may be f16.
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor<'f32'> {
  const op = 'matmul';
  const device = checkLive(op, a, b);
  checkRank(op, 'a', a, 2);
  checkRank(op, 'b', b, 2);
  checkDType(op, 'a', a, 'f32');
  checkDType(op, 'b', b, 'f32', 'f16');
  const transposeA = options.transposeA ?? false;
  const transposeB = options.transposeB ?? false;
  const [m, ka] = transposeA ? [a.shape[1], a.shape[0]] : [a.shape[0], a.shape[1]];
  const [kb, n] = transposeB ? [b.shape[1], b.shape[0]] : [b.shape[0], b.shape[1]];
  if (ka !== kb) {
    throw shapeMismatch(op, `inner dimensions differ: op(a) is [${m}, ${ka}], op(b) is [${kb}, ${n}] (transposeA=${transposeA}, transposeB=${transposeB})`, ['a', a], ['b', b]);
  }
  const out = device.empty([m, n], 'f32'); // [m, n]
  if (m === 0 || n === 0) return out;
  if (ka === 0) {
    out.dispose();
    return device.zeros([m, n], 'f32');
  }
  if ((options.path ?? 'columns') === 'columns') {
    // b's column c, element q: stored [n, k] (transposed) or [k, n].
    const contiguous = !transposeA && transposeB;
    const strides = contiguous ? undefined : { sar: transposeA ? 1 : ka, saq: transposeA ? m : 1, sbc: transposeB ? ka : 1, sbq: transposeB ? 1 : n };
    dispatchColumns(device, b.dtype, a.buffer, b.buffer, null, out.buffer, m, n, ka, n, 0, columnConfig(m, Infinity, sharesRows(device)), strides);
    return out;
  }
  const spec: TiledKernelSpec = { transposeA, transposeB, bDtype: b.dtype, tile: DEFAULT_TILE };
  dispatchTiled(device, spec, a.buffer, b.buffer, null, out.buffer, { m, n, k: ka, ldc: n, col0: 0, ldb: n });
  return out;
}
