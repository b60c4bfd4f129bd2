// Buffer pool by size class. Freed buffers wait until the commands that use them are submitted
import { BufferUsage } from './constants';
// before they can be handed out again, so a CPU write into a reused buffer never races a
// recorded-but-unsubmitted read of its old contents.

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
  private readonly pending: GPUBuffer[] = [];
  private readonly staging = new Map<number, GPUBuffer[]>();
  private readonly sizes = new WeakMap<GPUBuffer, number>();

  constructor(private readonly gpu: GPUDevice) {}

  acquire(bytes: number): GPUBuffer {
    const size = sizeClass(bytes);
    const list = this.free.get(size);
    let buffer = list?.pop();
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

  release(buffer: GPUBuffer, inFlight: boolean): void {
    const size = this.sizes.get(buffer);
    if (size === undefined) return;
    this.liveBytes -= size;
    this.pooledBytes += size;
    if (inFlight) this.pending.push(buffer);
    else this.push(buffer, size);
  }

  afterSubmit(): void {
    for (const b of this.pending) this.push(b, this.sizes.get(b)!);
    this.pending.length = 0;
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
    for (const b of this.pending) this.pooledBytes += this.sizes.get(b)!;
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
