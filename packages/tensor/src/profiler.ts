// GPU time per kernel, from timestamp queries. While a profile runs, the device gives every
// dispatch its own compute pass with timestamps at its start and end; each submit resolves them
// into a staging buffer that stopProfile() reads back. Profiling adds a pass per dispatch, so a
// profiled run is slower than a plain one: compare kernels with each other, not with plain timings.

import { BufferUsage, MapMode } from './constants';

/** GPU time spent in one kernel (by key) over a profile. */
export interface KernelTime {
  key: string;
  calls: number;
  /** Total GPU milliseconds between each dispatch's pass start and end. */
  ms: number;
}

export interface ProfileReport {
  /** Kernels by total time, slowest first. */
  kernels: KernelTime[];
  /** Sum of every dispatch's GPU time (ms). */
  totalMs: number;
  dispatches: number;
}

/** Dispatches per query set (two timestamps each); a full set forces a submit. */
export const PROFILE_CAPACITY = 1024;

interface Pending {
  staging: GPUBuffer;
  keys: string[];
}

/** @internal Owned by Device: the query set, the keys of the dispatches recorded since the last submit. */
export class Profiler {
  private readonly querySet: GPUQuerySet;
  private readonly resolveBuffer: GPUBuffer;
  private keys: string[] = [];
  private readonly pending: Pending[] = [];

  constructor(private readonly gpu: GPUDevice) {
    this.querySet = gpu.createQuerySet({ type: 'timestamp', count: 2 * PROFILE_CAPACITY });
    this.resolveBuffer = gpu.createBuffer({
      label: 'hydra-profile-resolve',
      size: 16 * PROFILE_CAPACITY,
      usage: BufferUsage.QUERY_RESOLVE | BufferUsage.COPY_SRC,
    });
  }

  get full(): boolean {
    return this.keys.length >= PROFILE_CAPACITY;
  }

  /** The timestamp writes for the pass of the next dispatch, of kernel `key`. */
  nextPass(key: string): GPUComputePassTimestampWrites {
    const i = this.keys.push(key) - 1;
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /** Records the resolve of this submit's timestamps into `encoder` (called just before finish). */
  beforeSubmit(encoder: GPUCommandEncoder): void {
    const n = this.keys.length;
    if (n === 0) return;
    const bytes = 16 * n;
    const staging = this.gpu.createBuffer({ size: bytes, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
    encoder.resolveQuerySet(this.querySet, 0, 2 * n, this.resolveBuffer, 0);
    encoder.copyBufferToBuffer(this.resolveBuffer, 0, staging, 0, bytes);
    this.pending.push({ staging, keys: this.keys });
    this.keys = [];
  }

  /** Reads every resolved submit back and sums GPU time per kernel. Call after the last submit. */
  async report(): Promise<ProfileReport> {
    const byKey = new Map<string, KernelTime>();
    let totalMs = 0;
    let dispatches = 0;
    for (const { staging, keys } of this.pending.splice(0)) {
      await staging.mapAsync(MapMode.READ);
      const stamps = new BigUint64Array(staging.getMappedRange().slice(0));
      staging.unmap();
      staging.destroy();
      keys.forEach((key, i) => {
        const ns = stamps[2 * i + 1] - stamps[2 * i];
        const ms = ns > 0n ? Number(ns) / 1e6 : 0;
        const entry = byKey.get(key) ?? { key, calls: 0, ms: 0 };
        entry.calls++;
        entry.ms += ms;
        byKey.set(key, entry);
        totalMs += ms;
        dispatches++;
      });
    }
    return { kernels: [...byKey.values()].sort((a, b) => b.ms - a.ms), totalMs, dispatches };
  }

  destroy(): void {
    for (const { staging } of this.pending) staging.destroy();
    this.querySet.destroy();
    this.resolveBuffer.destroy();
  }
}

/** A profile as a fixed-width table, slowest kernels first. */
export function formatProfile(report: ProfileReport, limit = 20): string {
  const lines = [`${'kernel'.padEnd(48)} ${'calls'.padStart(6)} ${'ms'.padStart(9)} ${'µs/call'.padStart(8)} ${'share'.padStart(6)}`];
  for (const k of report.kernels.slice(0, limit)) {
    const share = report.totalMs > 0 ? (100 * k.ms) / report.totalMs : 0;
    lines.push(`${k.key.slice(0, 48).padEnd(48)} ${(Number.isInteger(k.calls) ? String(k.calls) : k.calls.toFixed(1)).padStart(6)} ${k.ms.toFixed(2).padStart(9)} ${((1000 * k.ms) / k.calls).toFixed(1).padStart(8)} ${share.toFixed(1).padStart(5)}%`);
  }
  lines.push(`${"total".padEnd(48)} ${"".padStart(6)} ${report.totalMs.toFixed(2).padStart(9)}`);
  return lines.join('\n');
}
