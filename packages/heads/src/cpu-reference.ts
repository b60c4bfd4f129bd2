// Plain-TS forward passes of the heads, written from the equations (not from the GPU code), for
// tests: parameter values by their heads-file names, float64 accumulation.
import { cpu } from '@hydra-ts/tensor';
import type { CandidateTree } from '@hydra-ts/tree';
import type { HeadConfig } from './config';

type Values = Map<string, Float32Array>;

/** y = W x (+ b), W [n, k] row-major. */
function matvec(w: Float32Array, x: Float64Array, n: number, k: number, b?: Float32Array): Float64Array {
  const y = new Float64Array(n);
  for (let o = 0; o < n; o++) {
    let s = b ? b[o] : 0;
    for (let i = 0; i < k; i++) s += w[o * k + i] * x[i];
    y[o] = s;
  }
  return y;
}

const silu = (v: number) => v / (1 + Math.exp(-v));

function block(v: Values, prefix: string, x: Float64Array, dim: number): Float64Array {
  const z = matvec(v.get(`${prefix}.weight`)!, x, dim, dim, v.get(`${prefix}.bias`));
  return x.map((xi, i) => xi + silu(z[i]));
}

function logitsOf(c: HeadConfig, v: Values, output: Float32Array, head: number, y: Float64Array): Float64Array {
  const w = c.sharedOutput ? output : v.get(`heads.${head}.lm_head.weight`)!;
  return matvec(w, y, c.vocabSize, c.dim);
}

/** Logits [vocab] of Medusa head i from h_t. */
export function medusaLogitsCpu(c: HeadConfig, v: Values, output: Float32Array, hT: ArrayLike<number>, i: number): Float64Array {
  let x: Float64Array = Float64Array.from(hT);
  for (let l = 0; l < c.layers; l++) x = block(v, `heads.${i}.blocks.${l}`, x, c.dim);
  return logitsOf(c, v, output, i, x);
}

/** Logits [vocab] of Hydra head i for the path tokens (root, x_1, ..., x_i). */
export function hydraLogitsCpu(c: HeadConfig, v: Values, embeddings: Float32Array, output: Float32Array, hT: ArrayLike<number>, path: readonly number[]): Float64Array {
  const { dim } = c;
  const i = path.length - 1;
  const width = (i + 2) * dim;
  const x = new Float64Array(width);
  x.set(Float64Array.from(hT));
  path.forEach((t, j) => x.set(embeddings.subarray(t * dim, (t + 1) * dim), (j + 1) * dim));
  const rx = matvec(v.get(`heads.${i}.input.residual`)!, x, dim, width);
  const z = matvec(v.get(`heads.${i}.input.weight`)!, x, dim, width, v.get(`heads.${i}.input.bias`));
  let y: Float64Array = rx.map((r, o) => r + silu(z[o]));
  for (let l = 1; l < c.layers; l++) y = block(v, `heads.${i}.blocks.${l}`, y, dim);
  return logitsOf(c, v, output, i, y);
}

/** Ids of the k largest values, best first; ties to the lower id. */
export function topkCpu(values: ArrayLike<number>, k: number): number[] {
  const ids = Array.from({ length: values.length }, (_, i) => i);
  ids.sort((a, b) => values[b] - values[a] || a - b);
  return ids.slice(0, k);
}

/** The tree's tokens as Medusa heads fill it: node (d, r) = r-th best of head d-1. */
export function medusaProposeCpu(c: HeadConfig, v: Values, output: Float32Array, hT: ArrayLike<number>, tree: CandidateTree, root: number): Int32Array {
  const tokens = new Int32Array(tree.size);
  tokens[0] = root;
  const lists = Array.from({ length: tree.depth }, (_, i) => topkCpu(medusaLogitsCpu(c, v, output, hT, i), c.vocabSize));
  for (let n = 1; n < tree.size; n++) tokens[n] = lists[tree.nodes[n].depth - 1][tree.nodes[n].rank];
  return tokens;
}

/** The tree's tokens as Hydra heads fill it: each child is its parent's path's r-th best of head d-1. */
export function hydraProposeCpu(c: HeadConfig, v: Values, embeddings: Float32Array, output: Float32Array, hT: ArrayLike<number>, tree: CandidateTree, root: number): Int32Array {
  const tokens = new Int32Array(tree.size);
  tokens[0] = root;
  // nodes are sorted by depth, so a node's parent is filled before it
  for (let n = 1; n < tree.size; n++) {
    const path: number[] = [];
    for (let p = tree.nodes[n].parent; p >= 0; p = tree.nodes[p].parent) path.unshift(tokens[p]);
    const ranked = topkCpu(hydraLogitsCpu(c, v, embeddings, output, hT, path), tree.nodes[n].rank + 1);
    tokens[n] = ranked[tree.nodes[n].rank];
  }
  return tokens;
}

/**
 * Logits [vocab] of MLPSpeculator stage i = path.length-1 for the path (root, x_1, ..., x_i):
 * s_0 = h_t (or h_t/rms/√2), s_{j+1} = GELU(N_j(P_j s_j + c·E_j[x_j])), logits = H_i s_{i+1}.
 * c, eps and the norm are restated here from fms-extras' MLPSpeculator, not imported.
 */
export function mlpSpeculatorLogitsCpu(c: HeadConfig, v: Values, hT: ArrayLike<number>, path: readonly number[]): Float64Array {
  const { dim, vocabSize: vocab } = c;
  const inner = c.speculator!.innerDim;
  const eps = 1e-6;
  const rms = (x: Float64Array) => 1 / Math.sqrt(x.reduce((a, b) => a + b * b, 0) / x.length + eps);
  const stateWeight = 0.5 ** (0.5 / c.numHeads);
  const embWeight = Math.sqrt((1 - stateWeight ** 2) * (inner / 2));
  let s: Float64Array = Float64Array.from(hT);
  if (c.speculator!.scaleInput) {
    const r = rms(s);
    s = s.map((x) => (x * r) / Math.SQRT2);
  }
  let z: Float64Array = new Float64Array(0);
  path.forEach((token, j) => {
    const e = v.get(`speculator.emb.${j}.weight`)!.subarray(token * inner, (token + 1) * inner);
    const y = matvec(v.get(`speculator.proj.${j}.weight`)!, s, inner, j === 0 ? dim : inner).map((p, o) => p + (embWeight / stateWeight) * e[o]);
    const r = rms(y);
    const w = v.get(`speculator.ln.${j}.weight`)!;
    const b = v.get(`speculator.ln.${j}.bias`)!;
    s = y.map((x, o) => {
      const n = x * r * w[o] + b[o];
      return 0.5 * n * (1 + cpu.erfCpu(n / Math.SQRT2));
    });
    if (j === path.length - 1) z = matvec(v.get(`speculator.head.${j}.weight`)!, s, vocab, inner);
  });
  return z;
}

/** The tree's tokens as an MLPSpeculator fills it: each child is its parent's path's r-th best of stage d-1. */
export function mlpSpeculatorProposeCpu(c: HeadConfig, v: Values, hT: ArrayLike<number>, tree: CandidateTree, root: number): Int32Array {
  const tokens = new Int32Array(tree.size);
  tokens[0] = root;
  for (let n = 1; n < tree.size; n++) {
    const path: number[] = [];
    for (let p = tree.nodes[n].parent; p >= 0; p = tree.nodes[p].parent) path.unshift(tokens[p]);
    tokens[n] = topkCpu(mlpSpeculatorLogitsCpu(c, v, hT, path), tree.nodes[n].rank + 1)[tree.nodes[n].rank];
  }
  return tokens;
}
