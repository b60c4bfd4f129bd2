// Lossless speculative sampling on the real model: the joint distribution of the first two
// generated tokens under tree speculative sampling must match sampling the base model directly.
// The exact target distribution comes from the model itself (prefill logits for token 1, one
// forward per likely token 1 for token 2); the sampler's frequencies are compared with a
// Pearson chi-square test, threshold p > 1e-3 (cells with expected count < 5 pooled).
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { getDevice } from '@hydra-ts/tensor';
import { LlamaModel } from '@hydra-ts/model';
import { getTree } from '@hydra-ts/tree';
import { samplingVerifier, warpLogits } from '@hydra-ts/verify';
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
});
