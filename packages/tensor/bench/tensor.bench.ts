// Tensor benchmarks: linear (fast path) vs the naive one-invocation-per-output kernel on the
// shapes the model and heads use, plus the fixed costs of a dispatch and of a read-back.
// 'linear' is the kernel linear() picks by itself; 'tiled' the workgroup-memory kernel (path 'tiled').
// Run from the repo root: pnpm bench:tensor   (HYDRA_BENCH_QUICK=1 for fewer repetitions)

import { loadavg } from 'node:os';
import { add, getDevice, kernel, linear, linearNaive, params, Q4Matrix, Q8Matrix, QuantizedMatrix, randomArray, rmsnorm, slice, swiglu, type Device, type LinearOptions, type Tensor } from '../src/index';

const quick = process.env.HYDRA_BENCH_QUICK === '1';
const REPS = quick ? 3 : 7;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Last time()'s median CPU time per call (ms), lavapipe's worker threads included. */
let cpuMs = 0;

/** Median wall time (ms) of `inner` back-to-back calls of fn, each batch ended by device.sync(). */
async function time(device: Device, inner: number, fn: () => Tensor | void, reps = REPS): Promise<number> {
  const cpu: number[] = [];
  const run = async () => {
    const outs: Tensor[] = [];
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < inner; i++) {
      const t = fn();
      if (t) outs.push(t);
    }
    await device.sync();
    const ms = (performance.now() - t0) / inner;
    const cu = process.cpuUsage(c0);
    cpu.push((cu.user + cu.system) / 1000 / inner);
    for (const t of outs) t.dispose();
    return ms;
  };
  await run(); // warm-up: pipeline compile, pool
  const ts: number[] = [];
  cpu.length = 0;
  for (let r = 0; r < reps; r++) ts.push(await run());
  cpuMs = median(cpu);
  return median(ts);
}

const device = await getDevice();
console.log(`adapter: ${device.name}${device.hasF16 ? ', shader-f16' : ''}; LP_NUM_THREADS ${process.env.LP_NUM_THREADS ?? 'default'}`);
console.log(`maxStorageBufferBindingSize: ${device.limits.maxStorageBufferBindingSize} bytes`);
// Timings are wall clock: other processes on the machine slow them down, so say how busy it was.
// GFLOP/CPU-s divides by the process's CPU time instead, which contention inflates less.
console.log(`load average at start: ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);

interface Shape {
  rows: number;
  k: number;
  n: number;
  dtype?: 'f32' | 'f16' | 'q8' | 'q4';
}
const shapes: Shape[] = [
  { rows: 1, k: 288, n: 32000 },
  { rows: 1, k: 288, n: 32000, dtype: 'f16' },
  { rows: 1, k: 288, n: 32000, dtype: 'q8' },
  { rows: 1, k: 288, n: 32000, dtype: 'q4' },
  { rows: 64, k: 288, n: 288 },
  { rows: 64, k: 288, n: 768 },
  { rows: 64, k: 288, n: 768, dtype: 'q8' },
  { rows: 64, k: 288, n: 768, dtype: 'q4' },
  { rows: 64, k: 576, n: 49152 },
];

const extra: LinearOptions = {};
const rowsOut: string[][] = [['shape', 'w dtype', 'linear ms', 'linear GFLOP/s', 'linear GFLOP/CPU-s', 'tiled GFLOP/s', 'naive ms', 'naive GFLOP/s', 'speed-up']];
for (const s of shapes) {
  if (s.dtype === 'f16' && !device.hasF16) continue;
  if ((s.dtype === 'q8' || s.dtype === 'q4') && !device.hasPacked4x8) continue;
  const x = device.tensor(randomArray(s.rows * s.k, 1), [s.rows, s.k]);
  const wData = randomArray(s.n * s.k, 2, -0.1, 0.1);
  const w =
    s.dtype === 'q8' ? Q8Matrix.quantize(device, wData, [s.n, s.k]) : s.dtype === 'q4' ? Q4Matrix.quantize(device, wData, [s.n, s.k]) : device.tensor(wData, [s.n, s.k], s.dtype ?? 'f32');
  const b = device.tensor(randomArray(s.n, 3), [s.n]);
  const flop = 2 * s.rows * s.k * s.n;
  const inner = Math.max(1, Math.min(20, Math.round(2e8 / flop)));
  const fast = await time(device, inner, () => linear(x, w, b, extra));
  const fastCpu = cpuMs;
  const gf = (ms: number) => (flop / ms / 1e6).toFixed(2);
  if (w instanceof QuantizedMatrix) {
    // quantized weights have only the column path: no tiled or naive kernel to compare with.
    rowsOut.push([`${s.rows}×${s.k}·${s.k}→${s.n}`, s.dtype!, fast.toFixed(3), gf(fast), gf(fastCpu), '-', '-', '-', '-']);
  } else {
    const tiled = await time(device, inner, () => linear(x, w, b, { ...extra, path: 'tiled' }), Math.min(REPS, 3));
    const naive = await time(device, Math.max(1, Math.round(inner / 4)), () => linearNaive(x, w, b), flop > 1e9 ? 2 : REPS);
    rowsOut.push([`${s.rows}×${s.k}·${s.k}→${s.n}`, s.dtype ?? 'f32', fast.toFixed(3), gf(fast), gf(fastCpu), gf(tiled), naive.toFixed(3), gf(naive), `${(naive / fast).toFixed(1)}×`]);
  }
  w.dispose();
  x.dispose();
  b.dispose();
}
printTable(rowsOut);

// Decode-step fusions (one row, stories15M widths): the op sequence a layer used to run against
// the one fused linear that replaces it. CPU ms per call, lavapipe's threads included.
{
  const D = 288;
  const H = 768;
  const fusedRows: string[][] = [['one row, stories15M widths', 'w dtype', 'separate ops CPU ms', 'fused linear CPU ms', 'dispatches']];
  for (const dtype of ['f32', 'f16'] as const) {
    if (dtype === 'f16' && !device.hasF16) continue;
    const x = device.tensor(randomArray(D, 1), [1, D]);
    const g = device.tensor(randomArray(D, 2, 0.5, 1.5), [D]);
    const w13 = device.tensor(randomArray(2 * H * D, 3, -0.1, 0.1), [2 * H, D], dtype);
    const w2 = device.tensor(randomArray(D * H, 4, -0.1, 0.1), [D, H], dtype);
    const hb13 = device.tensor(randomArray(2 * H, 5), [1, 2 * H]);
    const half = (t: Tensor, start: number) => {
      const flat = t.reshape([t.size]);
      const part = slice(flat, 0, start, start + H); // one row: a buffer copy
      flat.dispose();
      const row = part.reshape([1, H]);
      part.dispose();
      return row;
    };
    const pairs: Array<[string, () => void, () => void, string]> = [
      [
        'rmsnorm → linear 288→1536',
        () => {
          const xn = rmsnorm(x, g);
          linear(xn, w13).dispose();
          xn.dispose();
        },
        () => linear(x, w13, undefined, { normalize: { weight: g } }).dispose(),
        '2 → 1',
      ],
      [
        'swiglu → linear 768→288 → add',
        () => {
          const [gate, up] = [half(hb13, 0), half(hb13, H)];
          const hb = swiglu(gate, up);
          const y = linear(hb, w2);
          add(x, y).dispose();
          for (const t of [gate, up, hb, y]) t.dispose();
        },
        () => linear(hb13, w2, undefined, { swiglu: true, residual: x }).dispose(),
        '3 → 1',
      ],
    ];
    for (const [name, separate, fused, dispatches] of pairs) {
      await time(device, 20, separate);
      const sepCpu = cpuMs;
      await time(device, 20, fused);
      fusedRows.push([name, dtype, sepCpu.toFixed(3), cpuMs.toFixed(3), dispatches]);
    }
    for (const t of [x, g, w13, w2, hb13]) t.dispose();
  }
  console.log('');
  printTable(fusedRows);
}

// Fixed costs: a dispatch that does almost nothing, and a submit + read-back round trip.
const tiny = kernel('bench-tiny', ['read_write'], () => `
struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read_write> v: array<f32>;
@compute @workgroup_size(1)
fn main() { v[0] = v[0] + 1.0; }`);
const buf = device.zeros([4]);
const DISPATCHES = 100;
const perBatch = await time(device, 1, () => {
  for (let i = 0; i < DISPATCHES; i++) device.dispatch(tiny, [buf.buffer], params(1), [1]);
});
const roundTrips: number[] = [];
for (let r = 0; r < 5 + REPS * 3; r++) {
  device.dispatch(tiny, [buf.buffer], params(1), [1]);
  const t0 = performance.now();
  await buf.read();
  if (r >= 5) roundTrips.push(performance.now() - t0);
}
buf.dispose();
console.log(`\nload average at end: ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
printTable([
  ['fixed cost', 'time'],
  [`one tiny dispatch (${DISPATCHES} in one submit)`, `${((perBatch / DISPATCHES) * 1000).toFixed(1)} µs`],
  ['submit + read-back round trip (1 dispatch, 16 bytes)', `${median(roundTrips).toFixed(3)} ms`],
]);
device.destroy();

function printTable(rows: string[][]): void {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const line = (r: string[]) => `| ${r.map((v, c) => v.padEnd(widths[c])).join(' | ')} |`;
  console.log(line(rows[0]));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows.slice(1)) console.log(line(r));
}
