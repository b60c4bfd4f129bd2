// int8 weights in groups of 32 with one f32 scale a group (the Q8_0 scheme of llama2.c's runq.c).
import type { Device } from '../../device';
import { quantizeQ8Cpu } from '../../cpu/linear-q8';
import { QuantizedMatrix } from './quantized-matrix';

export class Q8Matrix extends QuantizedMatrix {
  readonly bits = 8;

  /** Quantizes a row-major [n, k] f32 matrix (k a multiple of 4; quantizeQ8Cpu) and uploads it. */
  static quantize(device: Device, data: Float32Array, shape: readonly [number, number], label?: string): Q8Matrix {
    const { q, scales } = QuantizedMatrix.upload(8, device, data, shape, label, quantizeQ8Cpu, (v) => new Uint32Array(v.buffer, v.byteOffset, v.length / 4));
    return new Q8Matrix(q, scales, shape[0], shape[1], label);
  }

  protected unpack(words: Uint32Array): Int8Array {
    return new Int8Array(words.buffer, words.byteOffset, words.byteLength);
  }
}

/**
 * 4-bit weights (quantizeQ4Cpu: values in [-8, 7]), half the bytes of Q8Matrix: `q` is [n, w/8]
 * u32. In each group, word j holds values 8j..8j+7 offset by 8: byte b's low nibble is value 8j+b
 * and its high nibble value 8j+4+b, so each nibble plane lines up with one int8 word of x.
 */
