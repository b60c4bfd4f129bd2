import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Device, getDevice } from './device';
import { kernel, params } from './kernel';
import { scope, liveTensorCount } from './tensor';
import { add } from './ops/elementwise';
import { f16BitsToF32, f32ToF16Bits } from './half';
import { sizeClass } from './pool';
import { DeviceError, DisposedError, DTypeError, IndexError, OptionError, ShapeError } from './errors';
import { flags } from './flags';
import { randomArray } from './testing';

const device = await getDevice();

describe('Tensor', () => {
  it('round-trips f32, i32 and u32 data of awkward sizes', async () => {
    for (const n of [1, 3, 17, 257, 4099]) {
      const f = randomArray(n, n);
      const i = Int32Array.from({ length: n }, (_, k) => k * 7 - 100);
      const u = Uint32Array.from({ length: n }, (_, k) => 0xffffffff - k);
      const tf = device.tensor(f, [n]);
      const ti = device.tensor(i, [n], 'i32');
      const tu = device.tensor(u, [n], 'u32');
      expect(await tf.read()).toEqual(f);
      expect(await ti.read()).toEqual(i);
      expect(await tu.read()).toEqual(u);
      tf.dispose();
      ti.dispose();
      tu.dispose();
    }
  });

  it.runIf(device.hasF16)('stores f16 and reads it back as f32 within half precision', async () => {
    const data = randomArray(33, 5, -100, 100);
    const t = device.tensor(data, [3, 11], 'f16');
    const back = await t.read();
    for (let k = 0; k < data.length; k++) expect(Math.abs(back[k] - data[k])).toBeLessThanOrEqual(Math.abs(data[k]) * 2 ** -11 + 1e-7);
    t.dispose();
  });

  it('converts f16 bit patterns exactly like the IEEE definition (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), (h) => {
        const v = f16BitsToF32(h);
        if (Number.isNaN(v)) return Number.isNaN(f16BitsToF32(f32ToF16Bits(v)));
        return f32ToF16Bits(v) === h || (v === 0 && (h & 0x7fff) === 0);
      }),
    );
  });

  it('reshape shares storage; the buffer returns to the pool only when every view is gone', async () => {
    const before = device.liveBytes;
    const t = device.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const v = t.reshape([3, -1]);
    expect(v.shape).toEqual([3, 2]);
    t.dispose();
    expect(await v.read()).toEqual(new Float32Array([1, 2, 3, 4, 5, 6]));
    expect(device.liveBytes).toBeGreaterThan(before);
    v.dispose();
    expect(device.liveBytes).toBe(before);
    expect(() => t.reshape([6])).toThrow(DisposedError);
  });

  it('rejects bad shapes, sizes and dtypes with typed errors', () => {
    expect(() => device.tensor([1, 2, 3], [2, 2])).toThrow(ShapeError);
    expect(() => device.empty([2, -1])).toThrow(ShapeError);
    expect(() => device.empty([2.5])).toThrow(/non-negative integers/);
    expect(() => device.empty([2], 'f64' as never)).toThrow(DTypeError);
    const t = device.tensor([1, 2, 3, 4], [4]);
    expect(() => t.reshape([3])).toThrow(/reshape \[4\] f32 to \[3\]/);
    t.dispose();
  });

  it('pools buffers by size class and tracks live and peak bytes', () => {
    expect(sizeClass(1)).toBe(256);
    expect(sizeClass(1000)).toBeGreaterThanOrEqual(1000);
    fc.assert(fc.property(fc.integer({ min: 1, max: 1 << 28 }), (n) => sizeClass(n) >= n && sizeClass(n) <= Math.max(256, n * 1.25 + 256)));
    device.flush();
    device.resetPeak();
    const base = device.liveBytes;
    const a = device.empty([1024]);
    const firstBuffer = a.buffer;
    const b = device.empty([1024]);
    expect(device.liveBytes - base).toBe(2 * sizeClass(4096));
    expect(device.peakBytes - base).toBe(2 * sizeClass(4096));
    a.dispose();
    b.dispose();
    expect(device.liveBytes).toBe(base);
    const c = device.empty([1000]); // same size class: reuses a pooled buffer
    expect([firstBuffer, b.disposed]).toContain(firstBuffer);
    expect(device.pooledBytes).toBeGreaterThanOrEqual(sizeClass(4096));
    c.dispose();
  });

  it('scope() disposes what it tracked except what it returns', () => {
    const live = liveTensorCount();
    const kept = scope((track) => {
      const x = track(device.tensor([1, 2], [2]));
      const y = track(device.tensor([3, 4], [2]));
      track(add(x, y));
      return track(add(x, x));
    });
    expect(liveTensorCount()).toBe(live + 1);
    kept.dispose();
    expect(liveTensorCount()).toBe(live);
  });

  it('records many dispatches into one submit', async () => {
    const x = device.tensor(randomArray(64, 1), [64]);
    const flushEvery = flags.flushEvery;
    flags.flushEvery = Infinity;
    const submits = device.stats.submits;
    const dispatches = device.stats.dispatches;
    let y = add(x, x);
    for (let i = 0; i < 20; i++) {
      const z = add(y, x);
      y.dispose();
      y = z;
    }
    expect(device.stats.submits).toBe(submits);
    expect(device.stats.dispatches - dispatches).toBe(21);
    const out = await y.read();
    expect(device.stats.submits).toBe(submits + 1);
    const xs = await x.read();
    for (let i = 0; i < 64; i++) expect(out[i]).toBeCloseTo(22 * xs[i], 4);
    flags.flushEvery = flushEvery;
    x.dispose();
    y.dispose();
  });

  // flags.flushEvery sets it for every device; Device.flushEvery (or DeviceOptions.flushEvery)
  // overrides it for one, and undefined follows the flag again.
  for (const via of ['flags', 'device'] as const) {
    it(`submits on its own every flushEvery dispatches (set on ${via}), with the same results`, async () => {
      const x = device.tensor(randomArray(64, 2), [64]);
      await x.read();
      const flushEvery = flags.flushEvery;
      if (via === 'flags') flags.flushEvery = 4;
      else {
        flags.flushEvery = Infinity;
        device.flushEvery = 4;
      }
      expect(device.flushEvery).toBe(4);
      const submits = device.stats.submits;
      let y = add(x, x);
      for (let i = 0; i < 11; i++) {
        const z = add(y, x);
        y.dispose();
        y = z;
      }
      expect(device.stats.submits - submits).toBe(2); // 12 dispatches: submits before the 5th and the 9th
      const out = await y.read();
      const xs = await x.read();
      for (let i = 0; i < 64; i++) expect(out[i]).toBeCloseTo(13 * xs[i], 4);
      device.flushEvery = undefined;
      expect(device.flushEvery).toBe(flags.flushEvery);
      flags.flushEvery = flushEvery;
      expect(device.flushEvery).toBe(8);
      x.dispose();
      y.dispose();
    });
  }

  it('refuses a flushEvery below 1 with OptionError, on the flag, a device and Device.create', async () => {
    await expect(Device.create({ flushEvery: 0 })).rejects.toThrow(/Device.create: flushEvery must be a number ≥ 1/);
    expect(() => {
      flags.flushEvery = 0;
    }).toThrow(/flags.flushEvery must be a number ≥ 1 \(or Infinity\), got 0/);
    expect(() => {
      device.flushEvery = Number.NaN;
    }).toThrow(OptionError);
    expect(flags.flushEvery).toBe(8);
    expect(device.flushEvery).toBe(8);
  });

  it('times kernels with timestamp queries when the adapter can', async (ctx) => {
    if (!device.hasTimestamps) ctx.skip();
    const x = device.tensor(randomArray(256, 3), [256]);
    device.startProfile();
    expect(() => device.startProfile()).toThrow(/already running/);
    const ys = [add(x, x), add(x, x), add(x, x)];
    const report = await device.stopProfile();
    expect(report.dispatches).toBe(3);
    expect(report.kernels).toHaveLength(1);
    expect(report.kernels[0].calls).toBe(3);
    expect(report.kernels[0].key).toMatch(/add/);
    // Implementations may coarsen timestamps (Dawn rounds them to tens of µs), so three small adds
    // can measure 0 on a GPU (they did on an H100): a time, not necessarily a positive one.
    expect(Number.isFinite(report.totalMs) && report.totalMs >= 0).toBe(true);
    expect(report.totalMs).toBeCloseTo(report.kernels[0].ms, 9);
    // Profiled dispatches compute what plain ones do.
    const xs = await x.read();
    const y0 = await ys[0].read();
    for (let i = 0; i < 256; i++) expect(y0[i]).toBeCloseTo(2 * xs[i], 5);
    await expect(device.stopProfile()).rejects.toThrow(/no profile is running/);
    for (const t of [x, ...ys]) t.dispose();
  });

  it('a write after recorded reads keeps the recorded reads on the old data', async () => {
    const x = device.tensor([1, 1, 1, 1], [4]);
    const y = add(x, x); // recorded, not submitted
    x.write([5, 5, 5, 5]); // must not be seen by y
    const z = add(x, x);
    expect(Array.from(await y.read())).toEqual([2, 2, 2, 2]);
    expect(Array.from(await z.read())).toEqual([10, 10, 10, 10]);
    for (const t of [x, y, z]) t.dispose();
  });

  it('reports data-dependent out-of-range indices at the next read-back as IndexError', async () => {
    const flag = device.indexErrorFlag('test-lookup');
    const k = kernel(`test-lookup-${flag.bit}`, ['read', 'read', 'read_write', 'read_write'], () => `
struct Params { n: u32, m: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> ids: array<i32>;
@group(1) @binding(2) var<storage, read> table: array<f32>;
@group(1) @binding(3) var<storage, read_write> out: array<f32>;
@group(1) @binding(4) var<storage, read_write> err: atomic<u32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x >= p.n) { return; }
  let id = ids[g.x];
  if (id < 0 || u32(id) >= p.m) { atomicOr(&err, 1u << ${flag.bit}u); out[g.x] = 0.0; return; }
  out[g.x] = table[u32(id)];
}`);
    const table = device.tensor([10, 20, 30], [3]);
    const run = async (ids: number[]) => {
      const t = device.tensor(ids, [ids.length], 'i32');
      const out = device.empty([ids.length]);
      device.dispatch(k, [t.buffer, table.buffer, out.buffer, flag.buffer], params(ids.length, 3), [1]);
      try {
        return await out.read();
      } finally {
        t.dispose();
        out.dispose();
      }
    };
    expect(Array.from(await run([2, 0, 1]))).toEqual([30, 10, 20]);
    await expect(run([0, 3])).rejects.toThrow(IndexError);
    await expect(run([0, 3])).rejects.toThrow(/test-lookup/);
    expect(Array.from(await run([1]))).toEqual([20]); // the flag is cleared after reporting
    table.dispose();
  });

  it('turns a WebGPU error in recorded work into a DeviceError at the next read-back or sync, then goes on', async () => {
    const k = kernel('test-copy', ['read', 'read_write'], () => `
struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<f32>;
@group(1) @binding(2) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) { if (g.x < p.n) { out[g.x] = x[g.x]; } }`);
    const x = device.tensor([1, 2, 3, 4, 5, 6, 7, 8], [8]);
    const out = device.empty([4]);
    // Storage offsets must be multiples of 256: WebGPU rejects this bind group, and the submit.
    device.dispatch(k, [{ buffer: x.buffer, offset: 4, size: 16 }, out.buffer], params(4), [1]);
    const failed = (async () => {
      await out.read();
      await device.sync();
      await new Promise((r) => setTimeout(r, 50)); // where the error event is delivered late
      await device.sync();
    })();
    await expect(failed).rejects.toThrow(DeviceError);
    device.dispatch(k, [x.buffer, out.buffer], params(4), [1]);
    expect(Array.from(await out.read())).toEqual([1, 2, 3, 4]);
    // A binding past maxStorageBufferBindingSize is refused before WebGPU sees it.
    const limit = device.limits.maxStorageBufferBindingSize;
    expect(() => device.dispatch(k, [{ buffer: x.buffer, size: limit + 256 }, out.buffer], params(4), [1])).toThrow(/test-copy: binding 1 spans .* more than maxStorageBufferBindingSize/);
    x.dispose();
    out.dispose();
  });

  it('a destroyed device refuses work with DisposedError', async () => {
    const d = await Device.create();
    const t = d.tensor([1], [1]);
    d.destroy();
    expect(() => d.empty([1])).toThrow(DisposedError);
    await expect(t.read()).rejects.toThrow(DisposedError);
  });
});
