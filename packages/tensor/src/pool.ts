// Buffer pool by size class, last freed first out. The device decides which buffers a CPU upload
// may take (none that unsubmitted commands still use), so a write never races a recorded read.
import { BufferUsage } from './constants';

const STORAGE_USAGE = BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST;

/** Rounds up to one of 4 classes per power of two (≤ 25% waste), at least 256 bytes. */
export function sizeClass(bytes: number): number {
  if (bytes <= 256) return 256;
  const p = 2 ** Math.floor(Math.log2(bytes - 1));
  const step = Math.max(256, p / 4);
  return Math.ceil(bytes / step) * step;
}

export class BufferPool {
  liveBytes = 0;
  peakBytes = 0;
  pooledBytes = 0;
  private readonly free = new Map<number, GPUBuffer[]>();
  private readonly staging = new Map<number, GPUBuffer[]>();
  private readonly sizes = new WeakMap<GPUBuffer, number>();

  constructor(private readonly gpu: GPUDevice) {}

  /** A buffer of bytes' size class: the last one freed that `usable` accepts (any by default), else a new one. */
  acquire(bytes: number, usable?: (b: GPUBuffer) => boolean): GPUBuffer {
    const size = sizeClass(bytes);
    const list = this.free.get(size);
    let buffer: GPUBuffer | undefined;
    if (list && list.length > 0) {
      if (!usable) buffer = list.pop();
      else {
        for (let i = list.length - 1; i >= 0; i--) {
          if (usable(list[i])) {
            buffer = list[i];
            list.splice(i, 1);
            break;
          }
        }
      }
    }
    if (buffer) {
      this.pooledBytes -= size;
    } else {
      buffer = this.gpu.createBuffer({ size, usage: STORAGE_USAGE });
      this.sizes.set(buffer, size);
    }
    this.liveBytes += size;
    if (this.liveBytes > this.peakBytes) this.peakBytes = this.liveBytes;
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    const size = this.sizes.get(buffer);
    if (size === undefined) return;
    this.liveBytes -= size;
    this.pooledBytes += size;
    this.push(buffer, size);
  }

  acquireStaging(bytes: number): GPUBuffer {
    const size = sizeClass(bytes);
    const b = this.staging.get(size)?.pop();
    if (b) return b;
    const buffer = this.gpu.createBuffer({ size, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
    this.sizes.set(buffer, size);
    return buffer;
  }

  releaseStaging(buffer: GPUBuffer): void {
    const size = this.sizes.get(buffer)!;
    let list = this.staging.get(size);
    if (!list) this.staging.set(size, (list = []));
    if (list.length < 4) list.push(buffer);
    else buffer.destroy();
  }

  resetPeak(): void {
    this.peakBytes = this.liveBytes;
  }

  /** Destroys every pooled buffer; returns them so caches keyed on them can forget them. */
  trim(): GPUBuffer[] {
    const out: GPUBuffer[] = [];
    for (const list of this.free.values()) for (const b of list) out.push(b);
    for (const b of out) b.destroy();
    this.free.clear();
    this.pooledBytes = 0;
    return out;
  }

  destroy(): void {
    this.trim();
    for (const list of this.staging.values()) for (const b of list) b.destroy();
    this.staging.clear();
  }

  private push(buffer: GPUBuffer, size: number): void {
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(buffer);
  }
}
