// The device floor: the time of a decode-shaped step that does no arithmetic, N dispatches of the
// increment kernel and one read-back. A decoder's step cost over the floor at its own dispatch
// count says how much of the step is arithmetic and how much is the device's per-dispatch price.
import type { Device } from './device';
import { OptionError } from './errors';
import { incrementTimes } from './ops/increment';

export interface DispatchFloor {
  dispatches: number;
  /** Lower-quartile time of one step (N dispatches + one read-back of 4 bytes), ms. */
  ms: number;
}

const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

/**
 * Times steps of `n` increment dispatches and one read-back for each n in `counts`, counts taking
 * turns rep by rep so load elsewhere falls on all alike. Throws if a read-back shows a dispatch
 * did not run.
 */
export async function measureDispatchFloor(device: Device, counts: readonly number[], opts: { reps?: number } = {}): Promise<DispatchFloor[]> {
  const reps = opts.reps ?? 20;
  if (!Number.isInteger(reps) || reps < 1) throw new OptionError(`measureDispatchFloor: reps ${reps}; expected an integer >= 1`);
  for (const n of counts) if (!Number.isInteger(n) || n < 0) throw new OptionError(`measureDispatchFloor: dispatch count ${n}; expected an integer >= 0`);
  const counter = device.zeros([1], 'u32');
  const times: number[][] = counts.map(() => []);
  let expected = 0;
  try {
    for (let k = 0; k < reps + 2; k++) {
      for (let j = 0; j < counts.length; j++) {
        const t0 = now();
        incrementTimes(counter, counts[j]);
        const value = ((await counter.read()) as Uint32Array)[0];
        const dt = now() - t0;
        expected += counts[j];
        if (value !== expected >>> 0) throw new OptionError(`measureDispatchFloor: counter read ${value}, expected ${expected}: dispatches were lost`);
        if (k >= 2) times[j].push(dt); // two rounds compile the kernel and fill the pools
      }
    }
  } finally {
    counter.dispose();
  }
  return counts.map((dispatches, j) => {
    const s = [...times[j]].sort((a, b) => a - b);
    return { dispatches, ms: s[Math.floor((s.length - 1) / 4)] };
  });
}
