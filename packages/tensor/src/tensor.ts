// A tensor is a shape, a dtype and a GPU buffer it owns. Ownership is explicit: whoever creates a
// tensor disposes it (or hands it on). Reshaped views share the buffer through a reference count.

import type { Device } from './device';
import { DisposedError, DTypeError, ShapeError } from './errors';
import { f16ToF32, f32ToF16 } from './half';

export type DType = 'f32' | 'f16' | 'i32' | 'u32';

/** What read() returns: floats come back as f32 whatever their storage. */
export type TypedArrayFor<D extends DType> = D extends 'i32' ? Int32Array : D extends 'u32' ? Uint32Array : Float32Array;

export function dtypeBytes(dtype: DType): number {
  return dtype === 'f16' ? 2 : 4;
}

export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

class Storage {
  refs = 1;
  constructor(
    readonly device: Device,
    readonly buffer: GPUBuffer,
    readonly bytes: number,
  ) {}
}

let liveTensors = 0;

export class Tensor<D extends DType = DType> {
  readonly shape: readonly number[];
  readonly dtype: D;
  readonly size: number;
  private storage: Storage | null;
  /** Optional label used in error messages. */
  label?: string;

  private constructor(storage: Storage, shape: readonly number[], dtype: D) {
    this.storage = storage;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.size = shapeSize(shape);
    liveTensors++;
  }

  /**
   * @internal Use device.empty / device.tensor. `upload`: the caller writes it from the CPU next,
   * so take a buffer no recorded command uses.
   */
  static allocate<D extends DType>(device: Device, shape: readonly number[], dtype: D, upload = false): Tensor<D> {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new ShapeError(`tensor shape ${formatShape(shape)}: dimensions must be non-negative integers`);
    }
    if (!['f32', 'f16', 'i32', 'u32'].includes(dtype)) throw new DTypeError(`unknown dtype '${dtype}' (expected f32, f16, i32 or u32)`);
    if (dtype === 'f16' && !device.hasF16) throw new DTypeError('f16 tensors need the shader-f16 feature, which this device lacks');
    const bytes = shapeSize(shape) * dtypeBytes(dtype);
    const buffer = device.acquireBuffer(Math.max(4, Math.ceil(bytes / 4) * 4), upload);
    return new Tensor(new Storage(device, buffer, bytes), shape, dtype);
  }

  get device(): Device {
    return this.live('device').device;
  }

  /** The GPU buffer; throws if disposed. */
  get buffer(): GPUBuffer {
    return this.live('buffer').buffer;
  }

  get disposed(): boolean {
    return this.storage === null;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** Bytes of tensor data (the buffer may be larger: size classes). */
  get byteLength(): number {
    return this.size * dtypeBytes(this.dtype);
  }

  /** Copies `data` into the tensor (converting to f16 when the dtype is f16). */
  write(data: ArrayLike<number>): void {
    const s = this.live('write');
    if (data.length !== this.size) {
      throw new ShapeError(`write to tensor ${this.describe()}: got ${data.length} values, expected ${this.size}`);
    }
    let bytes: ArrayBufferView;
    switch (this.dtype) {
      case 'f32':
        bytes = data instanceof Float32Array ? data : Float32Array.from(data);
        break;
      case 'f16':
        bytes = f32ToF16(data);
        break;
      case 'i32':
        bytes = data instanceof Int32Array ? data : Int32Array.from(data);
        break;
      case 'u32':
        bytes = data instanceof Uint32Array ? data : Uint32Array.from(data);
        break;
    }
    if (bytes.byteLength % 4 !== 0) {
      const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
      padded.set(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      bytes = padded;
    }
    s.device.writeBuffer(s.buffer, bytes);
  }

  /** Submits pending work and reads the tensor back. f16 comes back as f32. */
  async read(): Promise<TypedArrayFor<D>> {
    const s = this.live('read');
    if (this.size === 0) return emptyOf(this.dtype) as TypedArrayFor<D>;
    if (this.dtype === 'f16') {
      const half = await s.device.readBuffer(s.buffer, this.byteLength, 'f16');
      return f16ToF32(half as unknown as Uint16Array) as TypedArrayFor<D>;
    }
    return (await s.device.readBuffer(s.buffer, this.byteLength, this.dtype)) as TypedArrayFor<D>;
  }

  /** A view with another shape of the same size; shares (and co-owns) the buffer. */
  reshape(shape: readonly number[]): Tensor<D> {
    const s = this.live('reshape');
    let inferred = -1;
    let known = 1;
    shape.forEach((d, i) => {
      if (d === -1) {
        if (inferred >= 0) throw new ShapeError(`reshape ${this.describe()} to ${formatShape(shape)}: at most one -1`);
        inferred = i;
      } else known *= d;
    });
    const full = [...shape];
    if (inferred >= 0) full[inferred] = known === 0 ? 0 : this.size / known;
    if (shapeSize(full) !== this.size || full.some((d) => !Number.isInteger(d) || d < 0)) {
      throw new ShapeError(`reshape ${this.describe()} to ${formatShape(shape)}: sizes differ (${this.size} elements)`);
    }
    s.refs++;
    return new Tensor(s, full, this.dtype);
  }

  /** Releases this handle; the buffer returns to the pool when no view holds it. */
  dispose(): void {
    const s = this.storage;
    if (!s) return;
    this.storage = null;
    liveTensors--;
    if (--s.refs === 0) s.device.releaseBuffer(s.buffer);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  describe(): string {
    return `${this.label ? this.label + ' ' : ''}${formatShape(this.shape)} ${this.dtype}`;
  }

  toString(): string {
    return `Tensor(${this.describe()}${this.storage ? '' : ', disposed'})`;
  }

  private live(what: string): Storage {
    if (!this.storage) throw new DisposedError(`${what}: tensor ${this.describe()} was disposed`);
    return this.storage;
  }
}

/** Number of tensor handles not yet disposed (leak checks in tests). */
export function liveTensorCount(): number {
  return liveTensors;
}

function emptyOf(dtype: DType): Float32Array | Int32Array | Uint32Array {
  return dtype === 'i32' ? new Int32Array(0) : dtype === 'u32' ? new Uint32Array(0) : new Float32Array(0);
}

/**
 * Runs `fn`, then disposes every tensor in `track` that `fn` did not return.
 * `scope((keep) => { ... })` style: tensors registered through the tracker die with the scope.
 */
export function scope<T>(fn: (track: <X extends Tensor>(t: X) => X) => T): T {
  const owned: Tensor[] = [];
  const track = <X extends Tensor>(t: X): X => {
    owned.push(t);
    return t;
  };
  let result: T;
  try {
    result = fn(track);
  } catch (e) {
    for (const t of owned) t.dispose();
    throw e;
  }
  const kept = new Set<unknown>(collectTensors(result));
  for (const t of owned) if (!kept.has(t)) t.dispose();
  return result;
}

function collectTensors(v: unknown, out: Tensor[] = []): Tensor[] {
  if (v instanceof Tensor) out.push(v);
  else if (Array.isArray(v)) for (const x of v) collectTensors(x, out);
  else if (v && typeof v === 'object' && !(ArrayBuffer.isView(v))) for (const x of Object.values(v)) collectTensors(x, out);
  return out;
}
