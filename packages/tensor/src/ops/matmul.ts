// General matrix product c[m, n] = op(a) · op(b), op = identity or transpose, for the trainer's
// backward pass (dW = dYᵀ·X, dX = dY·W). By default it runs linear's column kernel with strides
// (linear/columns.ts says why that suits CPU adapters); path 'tiled' runs the workgroup-memory
// tiled kernel (linear/tiled.ts).

import { checkDType, checkLive, checkRank, shapeMismatch } from '../kernel';
import { OptionError, ShapeError } from '../errors';
import { dtypeBytes, type Tensor } from '../tensor';
import { add } from './elementwise';
import { slice } from './slice';
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
  /** Largest binding to use; default the device's maxStorageBufferBindingSize (tests set it small). */
  maxBindingBytes?: number;
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
  const maxBinding = options.maxBindingBytes ?? device.limits.maxStorageBufferBindingSize;
  if (!(Number.isInteger(maxBinding) && maxBinding >= 256)) throw new OptionError(`${op}: maxBindingBytes ${maxBinding} must be an integer ≥ 256`);
  if (!transposeB && b.byteLength > maxBinding && m * n * 4 <= maxBinding) {
    out.dispose();
    return splitK(a, b, m, ka, n, transposeA, maxBinding);
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

/**
 * c = op(a) · b with b [k, n] larger than one binding (dX = dY·W at a 152K vocabulary): the sum
 * over slices of k, each b slice bound as a byte range of its buffer and the matching columns of
 * op(a) copied out, so no binding exceeds maxBinding.
 */
function splitK(a: Tensor, b: Tensor, m: number, k: number, n: number, transposeA: boolean, maxBinding: number): Tensor<'f32'> {
  const device = a.device;
  const rowBytes = n * dtypeBytes(b.dtype);
  const align = 256 / gcd(rowBytes, 256); // slices start on 256-byte offsets
  const aRow = transposeA ? m * 4 : Math.max(1, m) * 4; // bytes of op(a)'s slice per k
  let step = Math.floor(Math.min(maxBinding / rowBytes, maxBinding / aRow) / align) * align;
  if (step < 1) throw new ShapeError(`matmul: b ${b.describe()} cannot be bound in slices of whole rows within ${maxBinding} bytes`);
  step = Math.min(step, k);
  let total: Tensor<'f32'> | null = null;
  for (let k0 = 0; k0 < k; k0 += step) {
    const k1 = Math.min(k, k0 + step);
    const part = slice(a, transposeA ? 0 : 1, k0, k1); // op(a)[:, k0:k1], stored as a is
    const c = device.empty([m, n], 'f32'); // [m, n]
    const kk = k1 - k0;
    const strides = { sar: transposeA ? 1 : kk, saq: transposeA ? m : 1, sbc: 1, sbq: n };
    const range = { buffer: b.buffer, offset: k0 * rowBytes, size: Math.ceil((kk * rowBytes) / 4) * 4 };
    dispatchColumns(device, b.dtype, part.buffer, range, null, c.buffer, m, n, kk, n, 0, columnConfig(m, Infinity, sharesRows(device)), strides);
    part.dispose();
    if (total) {
      const sum = add(total, c) as Tensor<'f32'>;
      total.dispose();
      c.dispose();
      total = sum;
    } else total = c;
  }
  return total!;
}

function gcd(x: number, y: number): number {
  return y === 0 ? x : gcd(y, x % y);
}
