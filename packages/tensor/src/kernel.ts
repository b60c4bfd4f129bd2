// A kernel is a small program object, as in tfjs-backend-webgpu: WGSL source, binding access
// modes and a cache key. Pipelines are compiled once per key by the device.

import type { Device } from './device';
import { DTypeError, DisposedError, ShapeError } from './errors';
import { formatShape, type DType, type Tensor } from './tensor';

export type Access = 'read' | 'read_write';

export interface Kernel {
  /** Unique per distinct WGSL source. */
  readonly key: string;
  /** WGSL with `@group(0) @binding(0) var<uniform> p: Params;` and storage buffers at `@group(1)`, bindings 1..n in order. */
  readonly source: string;
  readonly bindings: readonly Access[];
}

const kernels = new Map<string, Kernel>();

/** Builds (once per key) a kernel from a source generator. */
export function kernel(key: string, bindings: readonly Access[], source: () => string): Kernel {
  let k = kernels.get(key);
  if (!k) {
    k = { key, bindings, source: source() };
    kernels.set(key, k);
  }
  return k;
}

/** Packs a params struct of 4-byte scalars, in declaration order. */
export function params(...fields: Array<number | { f32: number }>): ArrayBuffer {
  const words = new Uint32Array(Math.max(4, Math.ceil(fields.length / 4) * 4));
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i];
    if (typeof f === 'number') words[i] = f < 0 ? f | 0 : f; // negatives as two's complement i32
    else {
      F32[0] = f.f32;
      words[i] = F32_BITS[0];
    }
  }
  return words.buffer;
}
const F32 = new Float32Array(1);
const F32_BITS = new Uint32Array(F32.buffer);

/** Spreads n workgroups over x and y so no dimension passes the 65535 limit. */
export function grid(device: Device, workgroups: number): [number, number] {
  const max = device.limits.maxComputeWorkgroupsPerDimension;
  if (workgroups <= max) return [workgroups, 1];
  const y = Math.ceil(workgroups / max);
  return [Math.ceil(workgroups / y), y];
}

/** WGSL snippet: flat workgroup index for grids made by `grid()`. */
export const FLAT_WORKGROUP = `wid.x + wid.y * nwg.x`;

/**
 * Lanes that load the rows of x between them in kernels that share rows through a subgroup
 * (ColumnConfig.share): lane l of each group of SHARE_LANES loads one row, the others get it by
 * subgroupBroadcast. Such kernels need subgroups of at least this many invocations.
 */
export const SHARE_LANES = 8;

/**
 * WGSL pieces of a block of tm rows shared through a subgroup (ColumnConfig.share), one mapping for
 * every kernel that shares rows: lane l of each SHARE_LANES loads row g·SHARE_LANES + l of the
 * block (group g), and row i reaches every lane by a broadcast from lane i mod SHARE_LANES. Needs
 * `@builtin(subgroup_invocation_id) lane` and `r0`, the block's first row.
 */
export function sharedRows(tm: number) {
  const lanes = Math.min(tm, SHARE_LANES);
  const groups = Array.from({ length: Math.ceil(tm / SHARE_LANES) }, (_, g) => g);
  /** The block row this lane loads for group g. */
  const row = (g: number) => `${g * SHARE_LANES}u + lane % ${lanes}u`;
  return {
    groups,
    row,
    /** `let xl{g} = …`: the offset of this lane's row of group g (clamped to `rows`), in units of `rowStride`. */
    offsets: (rows: string, rowStride: string) => groups.map((g) => `let xl${g} = min(r0 + ${row(g)}, ${rows} - 1u) * ${rowStride};`).join(' '),
    /** Row i of the block, from the value `loaded(g)` its lane loaded. */
    broadcast: (loaded: (g: number) => string, i: number) => `subgroupBroadcast(${loaded(Math.floor(i / SHARE_LANES))}, ${i % SHARE_LANES}u)`,
  };
}

export function checkLive(op: string, ...tensors: Tensor[]): Device {
  const device = (() => {
    for (const t of tensors) {
      if (t.disposed) throw new DisposedError(`${op}: input ${t.describe()} was disposed`);
    }
    return tensors[0].device;
  })();
  for (const t of tensors) {
    if (t.device !== device) throw new ShapeError(`${op}: inputs live on different devices`);
  }
  return device;
}

export function checkDType(op: string, name: string, t: Tensor, ...allowed: DType[]): void {
  if (!allowed.includes(t.dtype)) {
    throw new DTypeError(`${op}: ${name} ${t.describe()} has dtype ${t.dtype}, expected ${allowed.join(' or ')}`);
  }
}

export function checkRank(op: string, name: string, t: Tensor, ...ranks: number[]): void {
  if (!ranks.includes(t.rank)) {
    throw new ShapeError(`${op}: ${name} ${t.describe()} has rank ${t.rank}, expected rank ${ranks.join(' or ')}`);
  }
}

export function shapeMismatch(op: string, detail: string, ...tensors: Array<[string, { shape: readonly number[] }]>): ShapeError {
  return new ShapeError(`${op}: ${detail} (${tensors.map(([n, t]) => `${n} ${formatShape(t.shape)}`).join(', ')})`);
}

/** WGSL element type of a float tensor's storage. */
export function wgslFloat(dtype: DType): string {
  return dtype === 'f16' ? 'f16' : 'f32';
}

/** `enable f16;` when any float tensor involved is stored as f16. */
export function enableF16(...dtypes: DType[]): string {
  return dtypes.includes('f16') ? 'enable f16;\n' : '';
}

/**
 * Splits the n rows of `t` (rowBytes each) into [first, count] slices whose bytes fit one binding
 * of maxBinding bytes and start on 256-byte boundaries (storage offsets must), so a tensor past
 * maxStorageBufferBindingSize is bound a slice at a time. One slice when it all fits. With
 * `besideRowBytes`, the slices also start 256-byte-aligned in a second tensor of that many bytes a
 * row, bound in the same slices beside `t` (its rows must be no wider than t's).
 */
export function rowChunks(op: string, t: Tensor, rowBytes: number, n: number, maxBinding: number, besideRowBytes?: number): Array<[number, number]> {
  if (rowBytes * n <= maxBinding) return [[0, n]];
  const aligned = (bytes: number) => 256 / gcd(bytes, 256); // rows per 256-byte-aligned step
  const step = Math.max(aligned(rowBytes), besideRowBytes ? aligned(besideRowBytes) : 1); // powers of two: the larger is a multiple of the other
  const per = Math.floor(maxBinding / (rowBytes * step)) * step;
  if (per === 0) {
    throw new ShapeError(`${op}: ${t.describe()}: ${step} rows of ${rowBytes} bytes exceed the binding limit of ${maxBinding} bytes`);
  }
  const chunks: Array<[number, number]> = [];
  for (let first = 0; first < n; first += per) chunks.push([first, Math.min(per, n - first)]);
  return chunks;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}
