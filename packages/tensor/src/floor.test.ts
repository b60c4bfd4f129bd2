import { describe, expect, it } from 'vitest';
import { getDevice } from './device';
import { OptionError } from './errors';
import { measureDispatchFloor } from './floor';
import { incrementTimes } from './ops/increment';

const device = await getDevice();

describe('increment and the dispatch floor', () => {
  it('runs every dispatch it records: the counter reads back n after n of them', async () => {
    for (const n of [1, 3, 17, 257]) {
      const c = device.zeros([1], 'u32');
      const before = device.stats.dispatches;
      incrementTimes(c, n);
      expect(device.stats.dispatches - before).toBe(n);
      expect(Array.from((await c.read()) as Uint32Array)).toEqual([n]);
      c.dispose();
    }
  });

  it('times a step per dispatch count, one read-back each', async () => {
    const before = device.stats.readbacks;
    const f = await measureDispatchFloor(device, [0, 5, 40], { reps: 2 });
    expect(f.map((x) => x.dispatches)).toEqual([0, 5, 40]);
    expect(f.every((x) => x.ms > 0 && Number.isFinite(x.ms))).toBe(true);
    expect(device.stats.readbacks - before).toBe(3 * (2 + 2));
  });

  it('rejects bad counts and u32-less counters with typed errors', async () => {
    await expect(measureDispatchFloor(device, [-1])).rejects.toThrow(OptionError);
    await expect(measureDispatchFloor(device, [1], { reps: 0 })).rejects.toThrow(/reps 0/);
    const f = device.zeros([1], 'f32');
    expect(() => incrementTimes(f, 1)).toThrow(/counter/);
    f.dispose();
  });
});
