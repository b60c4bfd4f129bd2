// The device floor: one decode-shaped step of N trivial dispatches (the increment kernel) and one
// read-back, for N = the dispatch counts of the AR step and of the tree steps. `hydra bench`
// counts each decoder's dispatches per step and prints its step cost over this floor; this script
// measures the floor alone.
// Run from the repo root: pnpm bench:floor [-- 34 61 ...]   (default: the stories260K counts below)
import { loadavg } from 'node:os';
import { getDevice, measureDispatchFloor } from '../src/index';

// Dispatches per step of stories260K (hydra bench, device proposals): AR 34; Medusa, Hydra and
// Hydra++ on their tuned trees about 50, 58 and 61 (RESULTS.md). Other counts from the command line.
const DEFAULT_COUNTS = [1, 34, 50, 58, 61, 128];
const counts = process.argv.slice(2).filter((a) => a !== '--').map(Number);
const ns = counts.length > 0 ? counts : DEFAULT_COUNTS;
if (ns.some((n) => !Number.isInteger(n) || n < 0)) {
  process.stderr.write(`floor.bench: dispatch counts ${process.argv.slice(2).join(' ')}; expected integers >= 0\n`);
  process.exit(2);
}
const device = await getDevice({ softwareThreads: Number(process.env.HYDRA_SOFTWARE_THREADS ?? 0) });
const floor = await measureDispatchFloor(device, ns, { reps: 30 });
const one = floor.find((f) => f.dispatches === Math.min(...ns))!;
process.stdout.write(`device: ${device.name} (LP_NUM_THREADS ${process.env.LP_NUM_THREADS ?? 'default'}); load average ${loadavg()[0].toFixed(2)}\n`);
process.stdout.write('| dispatches + 1 read-back | step ms | µs per extra dispatch |\n|---:|---:|---:|\n');
for (const f of floor) {
  const per = f.dispatches > one.dispatches ? (((f.ms - one.ms) / (f.dispatches - one.dispatches)) * 1000).toFixed(1) : '-';
  process.stdout.write(`| ${f.dispatches} | ${f.ms.toFixed(3)} | ${per} |\n`);
}
device.destroy();
process.exit(0);
