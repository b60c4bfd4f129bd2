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

/** The base ids a Medusa / Hydra head scores: heads.d2t with a draft vocabulary, else 0..vocab-1. */
function scored(c: HeadConfig, v: Values): ArrayLike<number> {
  return v.get('heads.d2t') ?? Array.from({ length: c.vocabSize }, (_, i) => i);
}

/** Logits [draft vocab] of head i's output y: the lm_head's rows, or the base output's rows of the scored ids when shared. */
function logitsOf(c: HeadConfig, v: Values, output: Float32Array, head: number, y: Float64Array): Float64Array {
  const ids = scored(c, v);
  if (!c.sharedOutput) return matvec(v.get(`heads.${head}.lm_head.weight`)!, y, ids.length, c.dim);
  return Float64Array.from(ids, (id) => y.reduce((a, yi, i) => a + output[id * c.dim + i] * yi, 0));
}

/** Ranked draft ids as base ids (through heads.d2t when there is one). */
function baseIds(c: HeadConfig, v: Values, ids: number[]): number[] {
  const map = scored(c, v);
  return ids.map((id) => map[id]);
}

/** Logits [draft vocab] of Medusa head i from h_t (over draft ids with heads.d2t). */
export function medusaLogitsCpu(c: HeadConfig, v: Values, output: Float32Array, hT: ArrayLike<number>, i: number): Float64Array {
  let x: Float64Array = Float64Array.from(hT);
  for (let l = 0; l < c.layers; l++) x = block(v, `heads.${i}.blocks.${l}`, x, c.dim);
  return logitsOf(c, v, output, i, x);
}

/** Logits [draft vocab] of Hydra head i for the path tokens (root, x_1, ..., x_i; base ids). */
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

/** Ids of the k largest values, best first; ties to the lower id (@hydra-ts/tensor's CPU twin of topk, one row). */
export function topkCpu(values: ArrayLike<number>, k: number): number[] {
  return Array.from(cpu.topkCpu(values, 1, values.length, k).indices);
}

/** The tree's tokens as Medusa heads fill it: node (d, r) = r-th best of head d-1. */
export function medusaProposeCpu(c: HeadConfig, v: Values, output: Float32Array, hT: ArrayLike<number>, tree: CandidateTree, root: number): Int32Array {
  const tokens = new Int32Array(tree.size);
  tokens[0] = root;
  const lists = Array.from({ length: tree.depth }, (_, i) => baseIds(c, v, topkCpu(medusaLogitsCpu(c, v, output, hT, i), c.vocabSize)));
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
    const ranked = baseIds(c, v, topkCpu(hydraLogitsCpu(c, v, embeddings, output, hT, path), tree.nodes[n].rank + 1));
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

/** RMSNorm of one row with gain w, eps (@hydra-ts/tensor's CPU twin). */
function rmsnormCpu(x: Float64Array, w: Float32Array, eps: number): Float64Array {
  return cpu.rmsnormCpu(x, w, 1, x.length, eps);
}

/** Rotates each head's pairs of x (in place) at position pos (@hydra-ts/tensor's CPU twin of rope; freqs for a scaled RoPE). */
function ropeCpu(x: Float64Array, heads: number, headDim: number, pos: number, theta: number, layout: 'interleaved' | 'half', freqs?: ArrayLike<number>): void {
  x.set(cpu.ropeCpu(x, [pos], 1, heads * headDim, headDim, layout, theta, freqs));
}

/**
 * The EAGLE head's draft logits along one path, from its equations, one row at a time:
 *   g_i = W_fc [e(x_{i+1}); f_i] + b_fc for committed positions i < L (x_L = root),
 *   g_{L-1+j} = W_fc [e(path[j-1]); f'_{L-1+j}] + b_fc for the path, f' the layer's previous output,
 *   out = x2 + W2 (silu(W1 n2) ⊙ W3 n2), x2 = g + Wo attn(rope(Wq n1), rope(Wk n1), Wv n1),
 *   n1 = rmsnorm(g) (n1 = g without inputNorm), n2 = rmsnorm(x2), each row attending to every row before it and itself;
 *   logits = W_out out.
 * `features` [L, dim] are f_0..f_{L-1}. Returns path.length + 1 rows [vocab]: after the root, then
 * after each path token.
 */
export function eagleLogitsCpu(c: HeadConfig, v: Values, embeddings: Float32Array, output: Float32Array, features: Float32Array, context: readonly number[], root: number, path: readonly number[]): Float64Array[] {
  const { dim, vocabSize } = c;
  const s = c.eagle!;
  const get = (name: string) => v.get(`eagle.${name}`)!;
  const qDim = s.nHeads * s.headDim;
  const kvDim = s.nKvHeads * s.headDim;
  const keys: Float64Array[] = [];
  const vals: Float64Array[] = [];
  const row = (token: number, f: ArrayLike<number>, pos: number): Float64Array => {
    const x = new Float64Array(2 * dim);
    x.set(embeddings.subarray(token * dim, (token + 1) * dim));
    x.set(Float64Array.from(f), dim);
    const g = matvec(get('fc.weight'), x, dim, 2 * dim, v.get('eagle.fc.bias')); // no bias with fcBias false
    const n1 = s.inputNorm === false ? g : rmsnormCpu(g, get('attn_norm'), s.normEps);
    const q = matvec(get('wq'), n1, qDim, dim);
    const k = matvec(get('wk'), n1, kvDim, dim);
    ropeCpu(q, s.nHeads, s.headDim, pos, s.ropeTheta, s.ropeLayout);
    ropeCpu(k, s.nKvHeads, s.headDim, pos, s.ropeTheta, s.ropeLayout);
    keys.push(k);
    vals.push(matvec(get('wv'), n1, kvDim, dim));
    const att = attendCpu(q, keys, vals, s);
    const x2 = matvec(get('wo'), att, dim, qDim).map((o, i) => o + g[i]);
    const n2 = rmsnormCpu(x2, get('ffn_norm'), s.normEps);
    const h1 = matvec(get('w1'), n2, s.hiddenDim, dim);
    const h3 = matvec(get('w3'), n2, s.hiddenDim, dim);
    const ffn = matvec(get('w2'), h1.map((a, i) => silu(a) * h3[i]), dim, s.hiddenDim);
    return x2.map((xi, i) => xi + ffn[i]);
  };
  const L = context.length;
  let f: Float64Array = new Float64Array(dim);
  for (let i = 0; i < L; i++) f = row(i + 1 < L ? context[i + 1] : root, features.subarray(i * dim, (i + 1) * dim), i);
  const out = [matvec(output, f, vocabSize, dim)];
  path.forEach((token, j) => {
    f = row(token, f, L + j);
    out.push(matvec(output, f, vocabSize, dim));
  });
  return out;
}

/** The tree's tokens as an EAGLE head fills it: each child is the r-th best of the draft logits at the end of its parent's path. */
export function eagleProposeCpu(c: HeadConfig, v: Values, embeddings: Float32Array, output: Float32Array, features: Float32Array, context: readonly number[], tree: CandidateTree, root: number): Int32Array {
  const tokens = new Int32Array(tree.size);
  tokens[0] = root;
  for (let n = 1; n < tree.size; n++) {
    const path: number[] = [];
    for (let p = tree.nodes[n].parent; p > 0; p = tree.nodes[p].parent) path.unshift(tokens[p]);
    const logits = eagleLogitsCpu(c, v, embeddings, output, features, context, root, path);
    tokens[n] = topkCpu(logits[path.length], tree.nodes[n].rank + 1)[tree.nodes[n].rank];
  }
  return tokens;
}

/**
 * The EAGLE-3 head's draft logits along one path, from the spec's equations, one row at a time:
 *   a = W_fc F_i for committed row i (token x_{i+1}, x_L = root, RoPE position i),
 *   a = m(parent) for path token j (RoPE position L-1+j),
 *   u = [rms(e(x)) · input_norm ; rms(a) · hidden_norm],  q, k, v = Wq u, Wk u, Wv u (RoPE on q, k),
 *   o = a + Wo attn,  m = o + W2 (silu(W1 n) ⊙ W3 n), n = rms(o) · ffn_norm,
 *   logits = lm_head (rms(m) · norm) over the draft vocabulary (base token = d2t[argmax]).
 * Each row attends to every row before it and itself. `features` [L, 3·dim] are F_0..F_{L-1};
 * `rope` the base model's theta, layout, eps and (for a scaled RoPE) its frequencies. Returns path.length + 1 rows [draftVocabSize].
 */
export function eagle3LogitsCpu(
  c: HeadConfig,
  v: Values,
  embeddings: Float32Array,
  rope: { theta: number; layout: 'interleaved' | 'half'; eps: number; freqs?: ArrayLike<number> },
  features: Float32Array,
  context: readonly number[],
  root: number,
  path: readonly number[],
): Float64Array[] {
  const { dim } = c;
  const s = c.eagle3!;
  const get = (name: string) => v.get(`eagle3.${name}`)!;
  const qDim = s.nHeads * s.headDim;
  const kvDim = s.nKvHeads * s.headDim;
  const keys: Float64Array[] = [];
  const vals: Float64Array[] = [];
  const row = (token: number, a: Float64Array, pos: number): Float64Array => {
    const e = Float64Array.from(embeddings.subarray(token * dim, (token + 1) * dim));
    const u = new Float64Array(2 * dim);
    u.set(rmsnormCpu(e, get('input_norm'), rope.eps));
    u.set(rmsnormCpu(a, get('hidden_norm'), rope.eps), dim);
    const q = matvec(get('wq'), u, qDim, 2 * dim);
    const k = matvec(get('wk'), u, kvDim, 2 * dim);
    ropeCpu(q, s.nHeads, s.headDim, pos, rope.theta, rope.layout, rope.freqs);
    ropeCpu(k, s.nKvHeads, s.headDim, pos, rope.theta, rope.layout, rope.freqs);
    keys.push(k);
    vals.push(matvec(get('wv'), u, kvDim, 2 * dim));
    const att = attendCpu(q, keys, vals, s);
    const o = matvec(get('wo'), att, dim, qDim).map((x, i) => x + a[i]);
    const n = rmsnormCpu(o, get('ffn_norm'), rope.eps);
    const h1 = matvec(get('w1'), n, s.hiddenDim, dim);
    const h3 = matvec(get('w3'), n, s.hiddenDim, dim);
    const ffn = matvec(get('w2'), h1.map((x, i) => silu(x) * h3[i]), dim, s.hiddenDim);
    return o.map((x, i) => x + ffn[i]);
  };
  const logits = (m: Float64Array) => matvec(get('lm_head'), rmsnormCpu(m, get('norm'), rope.eps), s.draftVocabSize, dim);
  const L = context.length;
  let m: Float64Array = new Float64Array(dim);
  for (let i = 0; i < L; i++) {
    const a = matvec(get('fc.weight'), Float64Array.from(features.subarray(i * 3 * dim, (i + 1) * 3 * dim)), dim, 3 * dim);
    m = row(i + 1 < L ? context[i + 1] : root, a, i);
  }
  const out = [logits(m)];
  path.forEach((token, j) => {
    m = row(token, m, L + j);
    out.push(logits(m));
  });
  return out;
}

/** Softmax attention of one query row over the kept keys and values (grouped-query heads), float64. */
function attendCpu(q: Float64Array, keys: readonly Float64Array[], vals: readonly Float64Array[], s: { nHeads: number; nKvHeads: number; headDim: number }): Float64Array {
  const att = new Float64Array(s.nHeads * s.headDim);
  for (let h = 0; h < s.nHeads; h++) {
    const kvh = Math.floor(h / (s.nHeads / s.nKvHeads));
    const scores = keys.map((kk) => {
      let d = 0;
      for (let i = 0; i < s.headDim; i++) d += q[h * s.headDim + i] * kk[kvh * s.headDim + i];
      return d / Math.sqrt(s.headDim);
    });
    const m = Math.max(...scores);
    const p = scores.map((z) => Math.exp(z - m));
    const total = p.reduce((a, b) => a + b, 0);
    for (let j = 0; j < keys.length; j++) for (let i = 0; i < s.headDim; i++) att[h * s.headDim + i] += (p[j] / total) * vals[j][kvh * s.headDim + i];
  }
  return att;
}
