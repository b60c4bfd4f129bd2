// Small host arrays that go to the GPU again and again — a decoding step's positions, its tree
// mask, index lists — each as one persistent tensor per key, rewritten in place. A fresh upload
// takes whatever pooled buffer is free, so every kernel that reads it needs a new bind group
// (~30 µs each on Dawn); a stable buffer keeps the bind groups found in the device's cache.
import type { Device } from './device';
import { OptionError } from './errors';
import type { DType, Tensor } from './tensor';

interface Slot {
  tensor: Tensor;
  /** The values last written, to skip rewriting equal ones. */
  values: Float64Array;
}

export class HostUploads {
  private readonly slots = new Map<string, Slot>();
  private disposed = false;

  constructor(readonly device: Device) {}

  /**
   * The tensor of `key` holding `data` ([shape] of `dtype`): made on the first call for this key
   * and shape, rewritten (only when the values changed) on later ones. Owned by this object: do
   * not dispose it; it holds `data` until the next get() with the same key and shape. Commands
   * recorded before a rewrite still read the old values (the device submits them first).
   */
  get(key: string, data: ArrayLike<number>, shape: readonly number[], dtype: DType): Tensor {
    if (this.disposed) throw new OptionError(`HostUploads.get(${key}): disposed`);
    const full = `${key}|${dtype}|${shape.join('x')}`;
    const slot = this.slots.get(full);
    if (!slot) {
      const tensor = this.device.tensor(data, shape, dtype);
      this.slots.set(full, { tensor, values: Float64Array.from(data) });
      return tensor;
    }
    let same = slot.values.length === data.length;
    for (let i = 0; same && i < data.length; i++) same = slot.values[i] === data[i];
    if (!same) {
      slot.tensor.write(data);
      slot.values.set(data);
    }
    return slot.tensor;
  }

  /** Tensors held. */
  get size(): number {
    return this.slots.size;
  }

  dispose(): void {
    this.disposed = true;
    for (const s of this.slots.values()) s.tensor.dispose();
    this.slots.clear();
  }
}
