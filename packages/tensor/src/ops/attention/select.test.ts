import { describe, expect, it } from 'vitest';
import { getDevice } from '../../device';
import { OptionError } from '../../errors';
import { attentionCpu } from '../../cpu/attention';
import { assertClose, randomArray } from '../../testing';
import { attention } from '../attention';
import { selectAttention, type AttentionKernel } from './select';

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

describe('selectAttention: which attention kernel runs, and why', () => {
  const table: Array<[rows: number, headDim: number, kernel: AttentionKernel]> = [
    [1, 1, 'thread'],
    [1, 8, 'thread'], // stories260K decoding
    [17, 48, 'thread'], // a tree of 17 rows
    [1, 64, 'thread'], // Llama-3.2-1B / SmolLM2 heads: the widest the thread kernel takes
    [1, 65, 'workgroup'],
    [64, 128, 'workgroup'], // Qwen3 heads, a prefill chunk
    [3, 256, 'workgroup'], // Gemma's widest heads
  ];
  for (const [rows, headDim, kernel] of table) {
    it(`rows ${rows}, headDim ${headDim} → ${kernel}`, () => {
      const choice = selectAttention(device, { rows, headDim }, 'f32');
      expect(choice.kernel).toBe(kernel);
      expect(choice.reason).toContain(`headDim ${headDim}`);
    });
  }

  it('a forced kernel wins where it can run, and says so; one that cannot is an OptionError', () => {
    expect(selectAttention(device, { rows: 1, headDim: 8 }, 'f32', 'workgroup')).toEqual({ kernel: 'workgroup', reason: "forced by option kernel 'workgroup'" });
    expect(selectAttention(device, { rows: 1, headDim: 64 }, 'f32', 'thread').kernel).toBe('thread');
    expect(() => selectAttention(device, { rows: 1, headDim: 65 }, 'f32', 'thread')).toThrow(OptionError);
    expect(() => selectAttention(device, { rows: 1, headDim: 65 }, 'f32', 'thread')).toThrow(/kernel 'thread' supports headDim up to 64, got 65/);
    expect(() => selectAttention(device, { rows: 1, headDim: 8 }, 'f32', 'warp' as AttentionKernel)).toThrow(/option kernel = "warp", expected 'thread' or 'workgroup'/);
  });

  // The selected kernel is the one attention dispatches, and it matches the CPU twin; the other
  // variant (where it can run) gives the same numbers.
  for (const headDim of [8, 10, 64, 96]) {
    it(`attention runs the selected kernel and every variant matches the CPU twin: headDim ${headDim}`, async () => {
      const rows = 5, cachedLen = 19, nHeads = 4, nKvHeads = 2, capacity = 32;
      const qa = randomArray(rows * nHeads * headDim, headDim, -2, 2);
      const ka = randomArray(capacity * nKvHeads * headDim, headDim + 1, -2, 2);
      const va = randomArray(capacity * nKvHeads * headDim, headDim + 2);
      const q = device.tensor(qa, [rows, nHeads * headDim]);
      const k = device.tensor(ka, [capacity, nKvHeads * headDim]);
      const v = device.tensor(va, [capacity, nKvHeads * headDim]);
      const opts = { cachedLen, nHeads, nKvHeads, headDim };
      const want = attentionCpu(qa, ka, va, { rows, ...opts });
      const selected = selectAttention(device, { rows, headDim }, 'f32').kernel;
      let out = attention(q, k, v, opts);
      const keys = dispatched(() => {
        out.dispose();
        out = attention(q, k, v, opts);
      });
      expect(keys).toEqual([selected === 'thread' ? `attention-thread-${headDim}` : `attention-${headDim % 4 === 0 ? 'v4' : 'f32'}`]);
      assertClose(await out.read(), want, { what: `attention headDim ${headDim}, selected ${selected}`, atol: 2e-5, rtol: 2e-4 });
      out.dispose();
      for (const kernel of ['thread', 'workgroup'] as const) {
        if (kernel === 'thread' && headDim > 64) continue;
        const o = attention(q, k, v, { ...opts, kernel });
        assertClose(await o.read(), want, { what: `attention headDim ${headDim}, kernel ${kernel}`, atol: 2e-5, rtol: 2e-4 });
        o.dispose();
      }
      for (const t of [q, k, v]) t.dispose();
    });
  }
});
