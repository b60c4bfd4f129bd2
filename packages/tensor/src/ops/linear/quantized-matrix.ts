// Weight matrices stored as small integers in groups of Q8_GROUP along the input dimension, one
// f32 scale a group: the QuantizedMatrix base, which linear() takes in place of a weight tensor.
// Q8Matrix (int8) and Q4Matrix (4-bit) are its two layouts, each in its own file.
import type { Device } from '../../device';
import { DisposedError, DTypeError, ShapeError } from '../../errors';
import { formatShape, type Tensor } from '../../tensor';
import { dequantizeQ8Cpu, q8Width, Q8_GROUP, type Q8Data } from '../../cpu/linear-q8';

export { Q8_GROUP };

/**
 * A weight matrix [n, k] stored as small integers in groups of Q8_GROUP along k, with one f32
 * scale a group; rows are zero-padded to a whole number of groups (w = q8Width(k)). linear() takes
 * one in place of a weight tensor: Q8Matrix (int8) or Q4Matrix (4-bit). Owns two tensors: `q`,
 * the packed values as u32 words, and `scales` [n, w/32] f32.
 */
export abstract class QuantizedMatrix {
  readonly shape: readonly [number, number];
  /** Bits a value: 8 (Q8Matrix) or 4 (Q4Matrix). */
  abstract readonly bits: 8 | 4;
  /** Optional label used in error messages. */
  label?: string;

  protected constructor(
    readonly q: Tensor<'u32'>,
    readonly scales: Tensor<'f32'>,
    n: number,
    k: number,
    label?: string,
  ) {
    this.shape = Object.freeze([n, k]) as readonly [number, number];
    this.label = label;
  }

  /**
   * Checks the arguments of a quantizer, quantizes on the CPU and uploads: `pack` turns the values
   * (one per slot, rows of q8Width(k)) into the u32 words of `q`.
   */
  protected static upload(
    bits: 8 | 4,
    device: Device,
    data: Float32Array,
    shape: readonly [number, number],
    label: string | undefined,
    quantizeCpu: (data: Float32Array, rows: number, k: number) => Q8Data,
    pack: (values: Int8Array) => Uint32Array,
  ): { q: Tensor<'u32'>; scales: Tensor<'f32'> } {
    const [n, k] = shape;
    const name = `Q${bits}Matrix${label ? ` ${label}` : ''}`;
    if (!device.hasPacked4x8) {
      throw new DTypeError(`${name}: quantized weights need WGSL's packed_4x8_integer_dot_product, which ${device.name} lacks`);
    }
    if (!Number.isInteger(n) || !Number.isInteger(k) || n < 0 || k <= 0 || k % 4 !== 0) {
      throw new ShapeError(`${name}: shape ${formatShape(shape)} must be [n, k] with k a positive multiple of 4`);
    }
    if (!(data instanceof Float32Array) || data.length !== n * k) {
      throw new ShapeError(`${name}: ${data?.length ?? 'no'} values for shape ${formatShape(shape)}, expected ${n * k}`);
    }
    const { q, scales } = quantizeCpu(data, n, k);
    const width = q8Width(k);
    return { q: device.tensor(pack(q), [n, (width * bits) / 32], 'u32'), scales: device.tensor(scales, [n, width / Q8_GROUP], 'f32') };
  }

  get device(): Device {
    return this.q.device;
  }

  get disposed(): boolean {
    return this.q.disposed;
  }

  /** GPU bytes held: the packed values and the scales. */
  get byteLength(): number {
    return this.q.byteLength + this.scales.byteLength;
  }

  describe(): string {
    return `${this.label ? `${this.label} ` : ''}q${this.bits} ${formatShape(this.shape)}`;
  }

  /** The values one per slot, [n, q8Width(k)], from the packed words. */
  protected abstract unpack(words: Uint32Array): Int8Array;

  /** The matrix it stands for, [n, k] f32 (each value times its group's scale). */
  async read(): Promise<Float32Array> {
    if (this.disposed) throw new DisposedError(`read: ${this.describe()} was disposed`);
    const [n, k] = this.shape;
    const [q, scales] = await Promise.all([this.q.read(), this.scales.read()]);
    return dequantizeQ8Cpu({ q: this.unpack(q), scales }, n, k);
  }

  dispose(): void {
    this.q.dispose();
    this.scales.dispose();
  }
}

/** int8 weights: `q` is [n, w/4] u32, four values a word, lowest byte first. */
