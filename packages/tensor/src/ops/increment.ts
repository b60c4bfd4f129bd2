// The cheapest dispatch there is: one invocation adding 1 to one u32. A chain of them, ended by
// a read-back, times what a device charges per dispatch and per read-back with no arithmetic.
import { checkDType, checkLive, kernel, params } from '../kernel';
import type { Tensor } from '../tensor';

const incrementKernel = kernel('increment', ['read_write'], () => `
struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read_write> x: array<u32>;

@compute @workgroup_size(1)
fn main() {
  x[0] = x[0] + 1u;
}`);

/** Records `n` dispatches that each add 1 to counter[0] (a u32 tensor), in place; nothing is read back. */
export function incrementTimes(counter: Tensor, n: number): void {
  const device = checkLive('incrementTimes', counter);
  checkDType('incrementTimes', 'counter', counter, 'u32');
  for (let i = 0; i < n; i++) device.dispatch(incrementKernel, [counter.buffer], params(0), [1]);
}
