// Lossless speculative sampling on the real model: the joint distribution of the first two
// generated tokens under tree speculative sampling must match sampling the base model directly,
// with deterministic candidates and with candidates a head samples from a known draft q.
// The exact target distribution comes from the model itself (prefill logits for token 1, one
// forward per likely token 1 for token 2); the sampler's frequencies are compared with a
// Pearson chi-square test, threshold p > 1e-3 (cells with expected count < 5 pooled).
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { getDevice } from '@hydra-ts/tensor';
import { LlamaModel } from '@hydra-ts/model';
import { DynamicTree, getTree } from '@hydra-ts/tree';
import { createEagleHead, loadHead, type DraftHead, type Proposal, type ProposeRequest } from '@hydra-ts/heads';
import { createRng, sampleCategorical, samplingVerifier, warpLogits, type Rng, type Verifier } from '@hydra-ts/verify';
import { SpeculativeDecoder } from './decoder';
import { OracleHead } from './testing';

const modelDir = fileURLToPath(new URL('../../../models/stories260K', import.meta.url));
const device = await getDevice();
const model = await LlamaModel.load(modelDir, { device });
const decoder = new SpeculativeDecoder(model);
const V = model.config.vocabSize;

/** Exact p(x1, x2 | prompt) under temperature T, for x1 with p(x1) ≥ minP1; the rest is pooled. */
async function exactJoint(prompt: number[], T: number, minP1: number): Promise<Map<string, number>> {
  const cache = model.createCache();
  const pre = model.forward(cache, { tokens: prompt, logits: 'last' });
  cache.commit();
  const p1 = warpLogits((await pre.logits!.read()) as Float32Array, { temperature: T });
  pre.hidden.dispose();
  pre.logits!.dispose();
  const joint = new Map<string, number>();
  for (let x1 = 0; x1 < V; x1++) {
    if (p1[x1] < minP1) continue;
    const f = model.forward(cache, { tokens: [x1], logits: 'last' });
    const p2 = warpLogits((await f.logits!.read()) as Float32Array, { temperature: T });
    f.hidden.dispose();
    f.logits!.dispose();
    cache.rollback(prompt.length);
    for (let x2 = 0; x2 < V; x2++) if (p1[x1] * p2[x2] > 0) joint.set(`${x1},${x2}`, p1[x1] * p2[x2]);
  }
  cache.dispose();
  return joint;
}

/** p(next | ids) under temperature T, from one prefill of `ids`. */
async function nextDist(ids: number[], T: number): Promise<Float64Array> {
  const cache = model.createCache();
  const f = model.forward(cache, { tokens: ids, logits: 'last' });
  const p = warpLogits((await f.logits!.read()) as Float32Array, { temperature: T });
  f.hidden.dispose();
  f.logits!.dispose();
  cache.dispose();
  return p;
}

/**
 * A weightless head that samples: every candidate at depth d is drawn (siblings independently)
 * from a fixed draft distribution q_d, and reported as draftProbs unless `report` is false.
 * Only the members the decoder requires.
 */
class SampledDraftHead implements DraftHead {
  readonly name = 'sampled-draft';
  readonly depth: number;
  private rng: Rng;
  constructor(
    /** q_d for d = 1..depth, each [vocab]. */
    private readonly q: Float32Array[],
    private readonly report = true,
    seed = 7,
  ) {
    this.depth = q.length;
    this.rng = createRng(seed);
  }
  observe(): void {}
  async propose({ tree, root }: ProposeRequest): Promise<Proposal> {
    const tokens = new Int32Array(tree.size);
    const draftProbs = new Float32Array(tree.size * V); // [tree.size, vocab]; row 0 unused
    tokens[0] = root;
    for (let i = 1; i < tree.size; i++) {
      const q = this.q[tree.positionOffsets[i] - 1];
      tokens[i] = sampleCategorical(q, this.rng);
      draftProbs.set(q, i * V);
    }
    return { tokens, draftProbs: this.report ? draftProbs : null };
  }
  reset(): void {}
}

/** q ∝ p^2: sharper than the target, so the acceptance test min(1, p/q) really rejects its favourites. */
function sharpen(p: Float64Array): Float32Array {
  let sum = 0;
  for (const x of p) sum += x * x;
  return Float32Array.from(p, (x) => (x * x) / sum);
}

/** Upper tail of the chi-square distribution (Wilson–Hilferty approximation; fine for dof ≥ 3). */
function chiSquarePValue(x: number, dof: number): number {
  const z = (Math.cbrt(x / dof) - (1 - 2 / (9 * dof))) / Math.sqrt(2 / (9 * dof));
  return 0.5 * erfc(z / Math.SQRT2);
}
function erfc(x: number): number {
  const t = 1 / (1 + 0.5 * Math.abs(x));
  const y = t * Math.exp(-x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628288 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? y : 2 - y;
}

function chiSquare(counts: Map<string, number>, probs: Map<string, number>, trials: number): { stat: number; dof: number } {
  let stat = 0;
  let cells = 0;
  let pooledObs = 0;
  let pooledExp = 0;
  let covered = 0;
  for (const [k, p] of probs) {
    covered += p;
    const e = p * trials;
    const o = counts.get(k) ?? 0;
    if (e < 5) {
      pooledObs += o;
      pooledExp += e;
    } else {
      stat += ((o - e) * (o - e)) / e;
      cells++;
    }
  }
  let other = trials;
  for (const [k, o] of counts) if (probs.has(k)) other -= o;
  pooledObs += other;
  pooledExp += (1 - covered) * trials;
  if (pooledExp > 0) {
    stat += ((pooledObs - pooledExp) ** 2) / pooledExp;
    cells++;
  }
  return { stat, dof: cells - 1 };
}

describe('speculative sampling is lossless on stories260K', () => {
  it('first two tokens: tree sampling vs the exact base distribution (chi-square, p > 1e-3)', async () => {
    const t0 = performance.now();
    const T = 1;
    const prompt = model.tokenizer!.encode('Lily saw a', { bos: true });
    const joint = await exactJoint(prompt, T, 0.002);
    // A deterministic proposer that drafts the greedy continuation: often accepted, often not.
    const greedy = (await decoder.generate({ prompt, maxNewTokens: 6 })).tokenIds;
    const tree = getTree('cpu-8');
    const head = new OracleHead([...prompt, ...greedy], tree.depth, V);
    const verifier = samplingVerifier({ temperature: T });
    const trials = 800;
    const counts = new Map<string, number>();
    let multi = 0;
    for (let s = 0; s < trials; s++) {
      const r = await decoder.generate({ prompt, maxNewTokens: 2, head, tree, verifier, sampling: { temperature: T }, seed: 1000 + s, stopAtEos: false });
      const key = r.tokenIds.join(',');
      counts.set(key, (counts.get(key) ?? 0) + 1);
      if (r.acceptedPerStep[0] >= 2) multi++;
    }
    const { stat, dof } = chiSquare(counts, joint, trials);
    console.log(`sampling test: chi-square ${stat.toFixed(1)} on ${dof} dof, p = ${chiSquarePValue(stat, dof).toExponential(2)}; ${multi}/${trials} first steps accepted a draft; ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const p = chiSquarePValue(stat, dof);
    // Both branches must be exercised: accepted drafts and residual resampling.
    expect(multi).toBeGreaterThan(trials * 0.05);
    expect(multi).toBeLessThan(trials * 0.95);
    expect(dof).toBeGreaterThanOrEqual(3);
    expect(p, `chi-square ${stat.toFixed(1)} on ${dof} dof`).toBeGreaterThan(1e-3);
  }, 600_000);

  it('a dynamic tree (grown from the trained Hydra head each step) keeps the first two tokens distributed as the base model\'s', async () => {
    const T = 1;
    const prompt = model.tokenizer!.encode('Lily saw a', { bos: true });
    const joint = await exactJoint(prompt, T, 0.002);
    const head = await loadHead(model, `${modelDir}/heads/hydra.safetensors`);
    const tree = new DynamicTree({ maxNodes: 12, topK: 4 });
    const verifier = samplingVerifier({ temperature: T });
    const trials = 800;
    const counts = new Map<string, number>();
    let multi = 0;
    for (let s = 0; s < trials; s++) {
      const r = await decoder.generate({ prompt, maxNewTokens: 2, head, tree, verifier, sampling: { temperature: T }, seed: 7000 + s, stopAtEos: false });
      const key = r.tokenIds.join(',');
      counts.set(key, (counts.get(key) ?? 0) + 1);
      if (r.acceptedPerStep[0] >= 2) multi++;
    }
    const { stat, dof } = chiSquare(counts, joint, trials);
    const p = chiSquarePValue(stat, dof);
    console.log(`dynamic tree sampling: chi-square ${stat.toFixed(1)} on ${dof} dof, p = ${p.toExponential(2)}; ${multi}/${trials} first steps accepted a draft`);
    expect(multi).toBeGreaterThan(trials * 0.05);
    expect(dof).toBeGreaterThanOrEqual(3);
    expect(p, `chi-square ${stat.toFixed(1)} on ${dof} dof`).toBeGreaterThan(1e-3);
    head.dispose();
  }, 600_000);

  // A head that samples its candidates from q: the verifier must see q (Proposal.draftProbs) to
  // accept with min(1, p/q) and resample from normalize(max(0, p − q)).
  describe('candidates sampled from a draft q (Proposal.draftProbs)', async () => {
    const T = 1;
    const prompt = model.tokenizer!.encode('Lily saw a', { bos: true });
    const joint = await exactJoint(prompt, T, 0.002);
    // q_d: the base model's next-token laws along its greedy continuation, sharpened.
    const tree = getTree('cpu-8');
    const greedy = (await decoder.generate({ prompt, maxNewTokens: tree.depth })).tokenIds;
    const q: Float32Array[] = [];
    for (let d = 1; d <= tree.depth; d++) q.push(sharpen(await nextDist([...prompt, ...greedy.slice(0, d)], T)));
    const trials = 3000;
    const fit = async (head: DraftHead, verifier?: Verifier) => {
      const counts = new Map<string, number>();
      let multi = 0;
      for (let s = 0; s < trials; s++) {
        // No verifier given: temperature 1 defaults to the sampling verifier.
        const r = await decoder.generate({ prompt, maxNewTokens: 2, head, tree, verifier, sampling: { temperature: T }, seed: 5000 + s, stopAtEos: false });
        const key = r.tokenIds.join(',');
        counts.set(key, (counts.get(key) ?? 0) + 1);
        if (r.acceptedPerStep[0] >= 2) multi++;
      }
      const { stat, dof } = chiSquare(counts, joint, trials);
      return { stat, dof, p: chiSquarePValue(stat, dof), multi };
    };

    it('the first two tokens follow the base distribution (chi-square, p > 1e-3), and q raises acceptance', async () => {
      const r = await fit(new SampledDraftHead(q));
      // Withheld, the same draws are judged as deterministic candidates (accept with p(x)): lossless as well, but accepted less often.
      const withheld = await fit(new SampledDraftHead(q, false));
      console.log(
        `sampled drafts: chi-square ${r.stat.toFixed(1)} on ${r.dof} dof, p = ${r.p.toExponential(2)}; ${r.multi}/${trials} first steps accepted a draft ` +
          `(q withheld: ${withheld.multi}/${trials}, chi-square p = ${withheld.p.toExponential(2)})`,
      );
      expect(r.multi).toBeGreaterThan(trials * 0.05);
      expect(r.multi).toBeLessThan(trials * 0.95);
      expect(r.dof).toBeGreaterThanOrEqual(3);
      expect(r.p, `chi-square ${r.stat.toFixed(1)} on ${r.dof} dof`).toBeGreaterThan(1e-3);
      expect(r.multi).toBeGreaterThan(withheld.multi * 1.1);
    }, 600_000);

    it('an EAGLE head drawing its candidates (drawCandidates) keeps the first two tokens distributed as the base model\'s', async () => {
      // Untrained and random: its q is far from p, so this is about losslessness, not acceptance.
      const eagle = await createEagleHead(model, { depth: tree.depth, seed: 4 });
      eagle.drawCandidates({ temperature: 1, seed: 9 });
      const r = await fit(eagle);
      console.log(`eagle drawn drafts: chi-square ${r.stat.toFixed(1)} on ${r.dof} dof, p = ${r.p.toExponential(2)}; ${r.multi}/${trials} first steps accepted a draft`);
      expect(r.dof).toBeGreaterThanOrEqual(3);
      expect(r.p, `chi-square ${r.stat.toFixed(1)} on ${r.dof} dof`).toBeGreaterThan(1e-3);
      eagle.dispose();
    }, 600_000);

    it('negative control: a verifier told the wrong q (uniform) fails the same test', async () => {
      const sampler = samplingVerifier({ temperature: T });
      const lied: Verifier = { ...sampler, verify: (input, rng) => sampler.verify({ ...input, draftProbs: input.draftProbs && new Float32Array(input.draftProbs.length).fill(1 / V) }, rng) };
      const r = await fit(new SampledDraftHead(q), lied);
      console.log(`sampled drafts, uniform q told: chi-square ${r.stat.toFixed(1)} on ${r.dof} dof, p = ${r.p.toExponential(2)}`);
      expect(r.p).toBeLessThan(1e-3);
    }, 600_000);
  });
});

describe('sampling with no verifier given samples every token', () => {
  const prompt = 'Once upon a time';
  const seeds = Array.from({ length: 50 }, (_, s) => s);
  /** Distinct continuations over the seeds, and how many distinct ones share the most common first token. */
  async function spread(opts: { head?: DraftHead; tree?: ReturnType<typeof getTree>; temperature: number }) {
    const runs: number[][] = [];
    for (const seed of seeds) {
      const r = await decoder.generate({ prompt, maxNewTokens: 12, head: opts.head, tree: opts.tree, sampling: { temperature: opts.temperature }, seed, stopAtEos: false });
      runs.push(r.tokenIds);
    }
    const firsts = new Map<number, number>();
    for (const r of runs) firsts.set(r[0], (firsts.get(r[0]) ?? 0) + 1);
    const top = [...firsts].sort((a, b) => b[1] - a[1])[0][0];
    return { distinct: new Set(runs.map((r) => r.join(','))).size, distinctFirst: firsts.size, sameFirst: new Set(runs.filter((r) => r[0] === top).map((r) => r.join(','))).size };
  }

  it('temperature 1: 50 seeds give many distinct continuations, also after the same first token (AR and with a head)', async () => {
    const greedy = await spread({ temperature: 0 });
    expect(greedy.distinct).toBe(1);
    const ids = model.tokenizer!.encode(prompt, { bos: true });
    const continuation = (await decoder.generate({ prompt, maxNewTokens: 16 })).tokenIds;
    const tree = getTree('cpu-8');
    for (const [label, head] of [['ar', undefined], ['oracle head', new OracleHead([...ids, ...continuation], tree.depth, V)]] as const) {
      const r = await spread({ temperature: 1, head, tree: head ? tree : undefined });
      console.log(`${label}, temperature 1: ${r.distinct} distinct continuations of 12 tokens over 50 seeds (${r.distinctFirst} first tokens; ${r.sameFirst} after the most common one); greedy: ${greedy.distinct}`);
      // Greedy after the first token would make every continuation a function of its first token.
      expect(r.distinct).toBeGreaterThan(r.distinctFirst);
      expect(r.sameFirst).toBeGreaterThan(1);
      expect(r.distinct).toBeGreaterThanOrEqual(25);
    }
  }, 600_000);
});
