import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CandidateTree, trees } from '@hydra-ts/tree';
import { samplingVerifier, subtractDraft, treeRejectionSample, type ResidualRule } from './sampling';
import { greedyVerifier } from './greedy';
import { createRng, type Rng } from './rng';
import { argmaxOf, warpLogits, type SamplingOptions } from './warp';
import type { VerifyInput, VerifyResult } from './verifier';
import { VerifyError } from './errors';
import { chiSquareTest } from '../test/chi-square';
import { randomTrees } from '../test/random-tree';

// A toy language model: the logits for the next token are a fixed pseudo-random function of the
// whole prefix, so every tree row has its own distribution, exactly as with a real base model.
const V = 6;
const ROOT = 2;
const EMITTED = 3; // the test compares the joint law of the first 3 emitted tokens: 6³ = 216 cells
const TREE = CandidateTree.fromPaths([[0], [1], [2], [0, 0], [0, 1], [1, 0], [2, 0], [0, 0, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0]]);

// Prefixes are keyed by a number: code(prefix + [t]) = code(prefix) * (V + 1) + t + 1.
const extend = (code: number, t: number) => code * (V + 1) + t + 1;

const baseCache = new Map<number, Float32Array>();
function baseLogits(code: number): Float32Array {
  let row = baseCache.get(code);
  if (!row) {
    const rng = createRng(code * 2 + 1);
    row = Float32Array.from({ length: V }, () => (rng.next() - 0.5) * 4);
    baseCache.set(code, row);
  }
  return row;
}
// The draft resembles the base model (so candidates are often accepted several levels deep) but is not equal to it.
const draftCache = new Map<number, { q: Float32Array; order: number[] }>();
function draft(code: number): { q: Float32Array; order: number[] } {
  let d = draftCache.get(code);
  if (!d) {
    const rng = createRng(code * 2);
    const z = Array.from(baseLogits(code), (b) => 1.2 * b + (rng.next() - 0.5) * 2.5);
    const m = Math.max(...z);
    const e = z.map((x) => Math.exp(x - m));
    const s = e.reduce((a, b) => a + b, 0);
    const q = Float32Array.from(e, (x) => x / s);
    d = { q, order: Array.from({ length: V }, (_, v) => v).sort((a, b) => q[b] - q[a] || a - b) };
    draftCache.set(code, d);
  }
  return d;
}

type DraftMode = 'top-k' | 'sampled' | 'sampled-without-replacement';

const topKSteps = new Map<number, VerifyInput>();

/** The verify-pass readback for one step whose context (code) ends with the root token. */
function stepInput(context: number, root: number, mode: DraftMode, draftRng: Rng): VerifyInput {
  const cached = mode === 'top-k' ? topKSteps.get(context) : undefined;
  if (cached) return cached;
  const n = TREE.size;
  const tokens = new Int32Array(n);
  const logits = new Float32Array(n * V); // [tree.size, vocab]
  const rows = mode === 'top-k' ? null : new Float32Array(n * V); // [tree.size, vocab]
  const codes = new Float64Array(n);
  codes[0] = context;
  tokens[0] = root;
  logits.set(baseLogits(context), 0);
  for (let i = 1; i < n; i++) {
    const parent = TREE.parents[i];
    const { q, order } = draft(codes[parent]);
    if (mode === 'top-k') {
      tokens[i] = order[TREE.ranks[i]];
    } else {
      let row = q;
      if (mode === 'sampled-without-replacement') {
        row = Float32Array.from(q);
        for (const s of TREE.nodes[parent].children) if (s < i) row[tokens[s]] = 0;
        let sum = 0;
        for (let v = 0; v < V; v++) sum += row[v];
        for (let v = 0; v < V; v++) row[v] /= sum;
      }
      let u = draftRng.next();
      let x = 0;
      while (x < V - 1 && u >= row[x]) u -= row[x++];
      while (row[x] === 0) x--; // rounding ran past the last live token
      tokens[i] = x;
      rows!.set(row, i * V);
    }
    codes[i] = extend(codes[parent], tokens[i]);
    logits.set(baseLogits(codes[i]), i * V);
  }
  const input = { tree: TREE, tokens, logits, vocabSize: V, draftProbs: rows };
  if (mode === 'top-k') topKSteps.set(context, input);
  return input;
}

type Verify = (input: VerifyInput, rng: Rng) => VerifyResult;

/** Runs speculative decoding until EMITTED tokens are out; returns them as one cell index. */
function decode(verify: Verify, mode: DraftMode, rng: Rng, draftRng: Rng, stats: { steps: number; deep: number }): number {
  let context = extend(0, ROOT);
  let root = ROOT;
  let emitted = 0;
  let cell = 0;
  const emit = (t: number) => {
    context = extend(context, t);
    if (emitted++ < EMITTED) cell = cell * V + t;
  };
  while (emitted < EMITTED) {
    const input = stepInput(context, root, mode, draftRng);
    const r = verify(input, rng);
    for (let k = 1; k < r.path.length; k++) emit(input.tokens[r.path[k]]);
    emit(r.next);
    root = r.next;
    stats.steps++;
    if (r.path.length >= 3) stats.deep++;
  }
  return cell;
}

/** Exact law of the first EMITTED tokens under plain token-by-token sampling. */
function targetJoint(opts: SamplingOptions): Float64Array {
  const joint = new Float64Array(V ** EMITTED);
  const walk = (code: number, prob: number, cell: number, depth: number) => {
    if (depth === EMITTED) {
      joint[cell] = prob;
      return;
    }
    const p = warpLogits(baseLogits(code), opts);
    for (let t = 0; t < V; t++) walk(extend(code, t), prob * p[t], cell * V + t, depth + 1);
  };
  walk(extend(0, ROOT), 1, 0, 0);
  return joint;
}

const TRIALS = 200_000;
const P_MIN = 1e-4; // pass when the chi-square p-value exceeds 1e-4 (dof reported with each run)

function fit(verify: Verify, mode: DraftMode, opts: SamplingOptions, seed: number) {
  const counts = new Float64Array(V ** EMITTED);
  const rng = createRng(seed);
  const draftRng = createRng(seed + 1);
  const stats = { steps: 0, deep: 0 };
  for (let k = 0; k < TRIALS; k++) counts[decode(verify, mode, rng, draftRng, stats)]++;
  const result = chiSquareTest(counts, targetJoint(opts));
  return { ...result, deepFraction: stats.deep / stats.steps, tokensPerStep: (TRIALS * EMITTED) / stats.steps };
}

describe('samplingVerifier is lossless (chi-square on the first 3 tokens, 200k decodes each)', () => {
  const cases: [string, DraftMode, SamplingOptions][] = [
    ['top-k candidates, temperature 1', 'top-k', { temperature: 1 }],
    ['top-k candidates, temperature 0.7, top-k 4, top-p 0.9', 'top-k', { temperature: 0.7, topK: 4, topP: 0.9 }],
    ['sampled candidates (i.i.d. siblings), temperature 1', 'sampled', { temperature: 1 }],
    ['sampled candidates without replacement, temperature 1.3, top-p 0.95', 'sampled-without-replacement', { temperature: 1.3, topP: 0.95 }],
  ];
  cases.forEach(([name, mode, opts], k) => {
    it(name, () => {
      const v = samplingVerifier(opts);
      const r = fit((input, rng) => v.verify(input, rng), mode, opts, 1000 + k);
      console.log(`${name}: chi2 = ${r.stat.toFixed(1)}, dof = ${r.dof}, p = ${r.pValue.toExponential(2)}, ` +
        `tokens/step = ${r.tokensPerStep.toFixed(3)}, steps accepting >= 2 candidates = ${(100 * r.deepFraction).toFixed(1)}%`);
      expect(r.impossible).toBe(0);
      expect(r.pValue).toBeGreaterThan(P_MIN);
      expect(r.deepFraction).toBeGreaterThan(0.05); // depth-2 and deeper acceptance really happened
    });
  });
});

describe('negative controls: wrong residual rules fail the same test', () => {
  const keepTarget: ResidualRule = () => {}; // never removes the rejected mass
  const zeroTokenOnly: ResidualRule = (p, _q, x) => subtractDraft(p, null, x); // ignores q in the residual
  const cases: [string, DraftMode, ResidualRule][] = [
    ['residual not updated after a rejection (top-k candidates)', 'top-k', keepTarget],
    ['residual treats a sampled candidate as one-hot', 'sampled', zeroTokenOnly],
  ];
  cases.forEach(([name, mode, rule], k) => {
    it(name, () => {
      const opts = { temperature: 1 };
      const r = fit((input, rng) => treeRejectionSample(input, opts, rng, rule), mode, opts, 2000 + k);
      console.log(`${name}: chi2 = ${r.stat.toFixed(1)}, dof = ${r.dof}, p = ${r.pValue.toExponential(2)}`);
      expect(r.pValue).toBeLessThan(P_MIN);
    });
  });
});

describe('samplingVerifier', () => {
  it('at temperature 0 equals the greedy verifier when siblings hold distinct tokens (property)', () => {
    fc.assert(
      fc.property(randomTrees(40, 3), fc.integer({ min: 4, max: 6 }), fc.integer(), fc.boolean(), (tree, vocab, seed, sampled) => {
        const rng = createRng(seed);
        const logits = Float32Array.from({ length: tree.size * vocab }, () => rng.next());
        // Siblings differ, as top-k candidates do: ranks are distinct and below 4 <= vocab.
        const offset = Int32Array.from({ length: tree.size }, () => Math.floor(rng.next() * vocab));
        const tokens = Int32Array.from({ length: tree.size }, (_, i) => (i === 0 ? 0 : (offset[tree.parents[i]] + tree.ranks[i]) % vocab));
        const draft = sampled ? new Float32Array(tree.size * vocab).fill(1 / vocab) : null;
        const argmax = Int32Array.from({ length: tree.size }, (_, i) => argmaxOf(logits.subarray(i * vocab, (i + 1) * vocab)));
        const input = { tree, tokens, logits, argmax, vocabSize: vocab, draftProbs: draft };
        expect(samplingVerifier({ temperature: 0 }).verify(input, createRng(seed))).toEqual(greedyVerifier().verify(input, rng));
      }),
      { numRuns: 300 },
    );
  });

  it('rejects a candidate its draft row could not have produced', () => {
    const tree = CandidateTree.fromPaths([[0], [1]]);
    const logits = new Float32Array(3 * 2);
    const draftProbs = Float32Array.of(0.5, 0.5, 1, 0, 1, 0);
    const input = { tree, tokens: Int32Array.of(0, 0, 1), logits, vocabSize: 2, draftProbs };
    // Node 1 (token 0) is rejected with probability 1/2 under uniform p; retry seeds until node 2 is reached.
    expect(() => {
      for (let s = 0; s < 64; s++) samplingVerifier({ temperature: 1 }).verify(input, createRng(s));
    }).toThrowError(/draftProbs\[2, 1\] = 0 but node 2 holds token 1/);
  });

  it('rejects bad options and shapes', () => {
    expect(() => samplingVerifier({ temperature: Number.POSITIVE_INFINITY })).toThrowError(/temperature = Infinity/);
    expect(() => samplingVerifier({ temperature: 1, topK: 2.5 })).toThrowError(/topK = 2.5/);
    const tree = trees['cpu-8'];
    const v = samplingVerifier({ temperature: 1 });
    const base = { tree, tokens: new Int32Array(9), vocabSize: 4, logits: new Float32Array(36) };
    expect(v.verify(base, createRng(0)).path[0]).toBe(0);
    expect(() => v.verify({ ...base, draftProbs: new Float32Array(35) }, createRng(0))).toThrowError(
      /sample verifier: input.draftProbs has 35 values; expected tree.size \* vocab = 9 \* 4 = 36/,
    );
    expect(() => v.verify({ ...base, logits: undefined }, createRng(0))).toThrowError(VerifyError);
  });
});
