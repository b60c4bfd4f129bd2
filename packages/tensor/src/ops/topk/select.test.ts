import { describe, expect, it } from 'vitest';
import { getDevice } from '../../device';
import { OptionError } from '../../errors';
import { topkCpu } from '../../cpu/topk';
import { randomArray } from '../../testing';
import { topk } from '../topk';
import { selectTopk, type TopkKernel } from './select';

const device = await getDevice();

/** Keys of the kernels dispatched while `f` runs. */
function dispatched(f: () => void): string[] {
  const keys: string[] = [];
  const dispatch = device.dispatch;
  device.dispatch = (k, ...rest) => {
    keys.push(k.key);
    return dispatch.call(device, k, ...rest);
  };
  try {
    f();
  } finally {
    device.dispatch = dispatch;
  }
  return keys;
}

describe('selectTopk: which top-k kernel runs, and why', () => {
  const table: Array<[rows: number, n: number, k: number, kernel: TopkKernel]> = [
    [1, 1, 1, 'thread'],
    [8, 512, 10, 'thread'], // stories260K's vocabulary, a tree's rows
    [1, 4096, 64, 'thread'], // the widest row one invocation walks
    [1, 4097, 1, 'workgroup'],
    [3, 32000, 10, 'workgroup'], // Llama 2's vocabulary
    [1, 151936, 64, 'workgroup'], // Qwen3's
  ];
  for (const [rows, n, k, kernel] of table) {
    it(`[${rows}, ${n}], k ${k} → ${kernel}`, () => {
      const choice = selectTopk(device, { rows, n, k }, 'f32');
      expect(choice.kernel).toBe(kernel);
      expect(choice.reason).toContain(`rows of ${n}`);
    });
  }

  it('a forced kernel wins, and says so; an unknown one is an OptionError', () => {
    expect(selectTopk(device, { rows: 1, n: 100, k: 3 }, 'f32', 'workgroup')).toEqual({ kernel: 'workgroup', reason: "forced by option kernel 'workgroup'" });
    expect(selectTopk(device, { rows: 1, n: 40000, k: 3 }, 'f32', 'thread').kernel).toBe('thread');
    expect(() => selectTopk(device, { rows: 1, n: 100, k: 3 }, 'f32', 'warp' as TopkKernel)).toThrow(OptionError);
  });

  // The selected kernel is the one topk dispatches, and both variants equal the CPU twin exactly.
  for (const [rows, n, k] of [[3, 257, 17], [2, 4096, 64], [2, 4097, 5], [1, 9001, 33]] as const) {
    it(`topk runs the selected kernel and every variant equals the CPU twin: [${rows}, ${n}], k ${k}`, async () => {
      const xa = randomArray(rows * n, n + k, -10, 10);
      const x = device.tensor(xa, [rows, n]);
      const want = topkCpu(xa, rows, n, k);
      const selected = selectTopk(device, { rows, n, k }, 'f32').kernel;
      let r = topk(x, k);
      const keys = dispatched(() => {
        r.values.dispose();
        r.indices.dispose();
        r = topk(x, k);
      });
      expect(keys).toEqual([selected === 'thread' ? 'topk-thread' : 'topk']);
      for (const kernel of [undefined, 'thread', 'workgroup'] as const) {
        if (kernel) {
          r.values.dispose();
          r.indices.dispose();
          r = topk(x, k, { kernel });
        }
        expect(Array.from(await r.indices.read()), `indices, ${kernel ?? selected}`).toEqual(Array.from(want.indices));
        expect(Array.from(await r.values.read()), `values, ${kernel ?? selected}`).toEqual(Array.from(want.values));
      }
      for (const t of [x, r.values, r.indices]) t.dispose();
    });
  }
});
