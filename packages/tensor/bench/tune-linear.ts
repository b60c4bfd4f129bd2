// Kernel-shape sweep for linear (development aid): HYDRA_TUNE='[{...LinearOptions}]' node --conditions=source --import tsx bench/tune-linear.ts
// (HYDRA_SHAPES, HYDRA_DTYPE, HYDRA_REPS, HYDRA_INNER: calls per timed batch). Prints CPU and wall time per call.
import { getDevice, randomArray, type Tensor } from '../src/index';
import { linear, type LinearOptions } from '../src/ops/linear';

const device = await getDevice();
const shapes = JSON.parse(process.env.HYDRA_SHAPES ?? '[[1,288,32000],[64,288,768]]') as Array<[number, number, number]>;
const variants = JSON.parse(process.env.HYDRA_TUNE ?? '[{}]') as LinearOptions[];
for (const [rows, k, n] of shapes) {
  const x = device.tensor(randomArray(rows * k, 1), [rows, k]);
  const w = device.tensor(randomArray(n * k, 2), [n, k], (process.env.HYDRA_DTYPE ?? 'f32') as 'f32');
  const flop = 2 * rows * k * n;
  const inner = Number(process.env.HYDRA_INNER ?? 0) || Math.max(1, Math.min(20, Math.round(1e8 / flop)));
  const best = variants.map(() => Infinity);
  const bestWall = variants.map(() => Infinity);
  for (let rep = 0; rep < Number(process.env.HYDRA_REPS ?? 6); rep++) {
    for (const [vi, v] of variants.entries()) {
      const outs: Tensor[] = [];
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < inner; i++) outs.push(linear(x, w, undefined, v));
      await device.sync();
      const cu = process.cpuUsage(c0);
      // CPU time of the whole process (lavapipe's worker threads included): steadier than wall time on a shared machine.
      const ms = (cu.user + cu.system) / 1000 / inner;
      const wall = (performance.now() - t0) / inner;
      outs.forEach((t) => t.dispose());
      if (rep > 0) {
        best[vi] = Math.min(best[vi], ms);
        bestWall[vi] = Math.min(bestWall[vi], wall);
      }
    }
  }
  for (const [vi, v] of variants.entries()) console.log(`${rows}x${k}x${n} ${JSON.stringify(v)}: ${best[vi].toFixed(2)} ms ${(flop / best[vi] / 1e6).toFixed(2)} GFLOP/cpu-s; wall ${bestWall[vi].toFixed(3)} ms ${(flop / bestWall[vi] / 1e6).toFixed(2)} GFLOP/s`);
  x.dispose();
  w.dispose();
}
device.destroy();
