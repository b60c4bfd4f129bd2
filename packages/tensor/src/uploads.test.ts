import { describe, expect, it } from 'vitest';
import { getDevice } from './device';
import { HostUploads } from './uploads';
import { scale } from './ops/unary';
import { OptionError } from './errors';

const device = await getDevice();

describe('HostUploads', () => {
  it('keeps one tensor per key and shape, rewritten in place with the new values', async () => {
    const up = new HostUploads(device);
    const a = up.get('positions', [1, 2, 3], [3], 'i32');
    expect(Array.from(await a.read())).toEqual([1, 2, 3]);
    const b = up.get('positions', Int32Array.of(4, 5, 6), [3], 'i32');
    expect(b).toBe(a); // the same tensor, so the same buffer and bind groups
    expect(Array.from(await b.read())).toEqual([4, 5, 6]);
    expect(up.get('positions', [7, 8], [2], 'i32')).not.toBe(a); // another shape, another slot
    expect(up.get('mask', [1, 0, 1, 1], [2, 2], 'u32').dtype).toBe('u32');
    expect(up.size).toBe(3);
    up.dispose();
    expect(a.disposed).toBe(true);
    expect(() => up.get('positions', [1, 2, 3], [3], 'i32')).toThrow(OptionError);
  });

  it('commands recorded before a rewrite read the old values', async () => {
    const up = new HostUploads(device);
    const x = up.get('x', [1, 2], [2], 'f32');
    const y = scale(x, 10); // recorded, not yet submitted
    up.get('x', [3, 4], [2], 'f32'); // the device submits y's pass before the write
    const z = scale(x, 10);
    expect(Array.from(await y.read())).toEqual([10, 20]);
    expect(Array.from(await z.read())).toEqual([30, 40]);
    for (const t of [y, z]) t.dispose();
    up.dispose();
  });
});
