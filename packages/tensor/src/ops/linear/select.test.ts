import { describe, expect, it } from 'vitest';
import type { Device } from '../../device';
import { OptionError } from '../../errors';
import { selectLinear } from './select';

/** What selectLinear reads of a device: its name and subgroup sizes. */
function fakeDevice(name: string, subgroups: { minSize: number; maxSize: number } | null): Device {
  return { name, subgroups } as unknown as Device;
}

const cpu = fakeDevice('llvmpipe', null);
const gpu = fakeDevice('nvidia', { minSize: 32, maxSize: 32 });
const narrow = fakeDevice('narrow', { minSize: 8, maxSize: 8 });
const plain = { prologue: false };

describe('selectLinear: which linear kernel runs, and why', () => {
  it('one f32 row on subgroups of 32 lanes takes the k-split kernel, and says why', () => {
    const c = selectLinear(gpu, { rows: 1, n: 576, k: 576 }, 'f32', plain);
    expect(c.kernel).toBe('ksplit');
    expect(c.block).toBeUndefined();
    expect(c.reason).toBe('1×576·576→576 f32 on nvidia: one row of f32 weights on subgroups of 32 lanes (≥ 16): k split across a subgroup');
  });

  it('the column kernel runs elsewhere, and the reason names what kept the k-split kernel out', () => {
    const cases: Array<[Device, number, number, 'f32' | 'f16', boolean, RegExp]> = [
      [cpu, 1, 576, 'f32', false, /on llvmpipe: column kernel, for no subgroups of one fixed size/],
      [gpu, 8, 576, 'f32', false, /8×576·576→576 f32 on nvidia: column kernel, for 8 rows;/],
      [gpu, 1, 576, 'f16', false, /column kernel, for f16 weights/],
      [gpu, 1, 576, 'f32', true, /column kernel, for a fused prologue/],
      [narrow, 1, 576, 'f32', false, /column kernel, for k 576, past what the k-split kernel holds in registers/],
      [narrow, 1, 256, 'f32', false, /column kernel, for subgroups of 8 lanes \(the k-split kernel is the default from 16\)/],
    ];
    for (const [device, rows, k, weights, prologue, why] of cases) {
      const c = selectLinear(device, { rows, n: 576, k }, weights, { prologue });
      expect(c.kernel).toBe('columns');
      expect(c.block).toBeDefined();
      expect(c.reason).toMatch(why);
      expect(c.reason).toMatch(/register block from tables\.ts \(measured on llvmpipe\)/);
    }
  });

  it('quantized weights take the quantized kernel; forced paths and blocks say they were forced', () => {
    expect(selectLinear(gpu, { rows: 1, n: 64, k: 64 }, 'q4', plain).reason).toMatch(/q4 on nvidia: quantized weights have only the quantized column kernel/);
    const tiled = selectLinear(cpu, { rows: 4, n: 64, k: 64 }, 'f32', { prologue: false, path: 'tiled' });
    expect([tiled.kernel, tiled.reason]).toEqual(['tiled', "4×64·64→64 f32 on llvmpipe: path 'tiled' forced by option"]);
    const block = { rows: 1, cols: 2, wg: 64 };
    const forced = selectLinear(cpu, { rows: 1, n: 64, k: 64 }, 'f32', { prologue: false, columns: block as never });
    expect(forced.block).toBe(block);
    expect(forced.reason).toMatch(/register block forced by option columns/);
    expect(() => selectLinear(cpu, { rows: 1, n: 64, k: 64 }, 'f32', { prologue: false, path: 'ksplit' })).toThrow(OptionError);
    expect(() => selectLinear(gpu, { rows: 1, n: 64, k: 64 }, 'q8', { prologue: false, path: 'tiled' })).toThrow(/quantized weights \(q8\) have only the column path, got path 'tiled'/);
  });
});
