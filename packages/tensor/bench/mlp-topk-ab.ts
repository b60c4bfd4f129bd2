// Fused draft head (mlpTopK: one dispatch) against the same head as separate ops (linear R x,
// linear + SiLU + residual per block, output linear, topk), interleaved in one process. Prints
// the median wall time per head call of each for a few head shapes.
//
//   node --conditions=source --import tsx bench/mlp-topk-ab.ts [--rounds 40]
import { getDevice, linear, mlpTopK, MlpStack, randomArray, topk, type Tensor } from '../src/index';

const args = process.argv.slice(2);
const ROUNDS = Number(args[args.indexOf('--rounds') + 1] || 40);
const device = await getDevice();

interface Shape {
  name: string;
  rows: number;
  inDim: number;
  dim: number;
  blocks: number;
  vocab: number;
  k: number;
}
const shapes: Shape[] = [
  { name: 'stories260K Hydra++ depth 1', rows: 1, inDim: 128, dim: 64, blocks: 4, vocab: 512, k: 4 },
  { name: 'stories260K Hydra++ depth 4, 2 rows', rows: 2, inDim: 320, dim: 64, blocks: 4, vocab: 512, k: 2 },
  { name: 'depth 1, vocab 16', rows: 1, inDim: 128, dim: 64, blocks: 4, vocab: 16, k: 4 },
  { name: 'depth 1, 1 block, vocab 16', rows: 1, inDim: 128, dim: 64, blocks: 1, vocab: 16, k: 4 },
  { name: 'depth 1, 1 block, vocab 512', rows: 1, inDim: 128, dim: 64, blocks: 1, vocab: 512, k: 4 },
  { name: 'stories15M Hydra++ depth 1', rows: 1, inDim: 576, dim: 288, blocks: 4, vocab: 32000, k: 4 },
];

const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];
console.log(`device: ${device.name}`);
console.log('shape                                   fused ms   separate ms   ratio');
for (const s of shapes) {
  if (s.dim > 256) {
    console.log(`${s.name.padEnd(40)}  (dim ${s.dim} > 256: the fused kernel does not apply)`);
    continue;
  }
  const t = (n: number[], seed: number) => device.tensor(randomArray(n.reduce((a, b) => a * b, 1), seed, -0.1, 0.1), n);
  const r = t([s.dim, s.inDim], 1);
  const blocks = Array.from({ length: s.blocks }, (_, l) => ({ weight: t([s.dim, l === 0 ? s.inDim : s.dim], 10 + l), bias: t([s.dim], 20 + l) }));
  const out = t([s.vocab, s.dim], 3);
  const x = t([s.rows, s.inDim], 4);
  const stack = MlpStack.pack([{ residual: r, blocks }]);
  const fused = async () => {
    const { values, indices } = mlpTopK(x, stack, out, s.k);
    values.dispose();
    await indices.read();
    indices.dispose();
  };
  const separate = async () => {
    const owned: Tensor[] = [];
    const rx = linear(x, r);
    owned.push(rx);
    let y = linear(x, blocks[0].weight, blocks[0].bias, { activation: 'silu', residual: rx });
    owned.push(y);
    for (let l = 1; l < s.blocks; l++) {
      y = linear(y, blocks[l].weight, blocks[l].bias, { activation: 'silu', residual: y });
      owned.push(y);
    }
    const logits = linear(y, out);
    owned.push(logits);
    const { values, indices } = topk(logits, s.k);
    values.dispose();
    await indices.read();
    indices.dispose();
    for (const o of owned) o.dispose();
  };
  for (let i = 0; i < 3; i++) {
    await fused();
    await separate();
  }
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    let t0 = performance.now();
    await fused();
    a.push(performance.now() - t0);
    t0 = performance.now();
    await separate();
    b.push(performance.now() - t0);
  }
  const fa = median(a);
  const fb = median(b);
  console.log(`${s.name.padEnd(40)} ${fa.toFixed(3).padStart(8)}   ${fb.toFixed(3).padStart(11)}   ${(fa / fb).toFixed(2)}`);
  stack.dispose();
}
