import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseLlama2cCheckpoint } from './llama2c';
import { Llama2cTokenizer } from './llama2c-tokenizer';
import { ReferenceLlama, referenceGreedy, rope } from './reference';
import { STORIES_DIR, randomCheckpoint } from './testdata';

const ckpt = parseLlama2cCheckpoint(readFileSync(`${STORIES_DIR}/stories260K.bin`), 'stories260K.bin');
const tok = Llama2cTokenizer.fromBytes(readFileSync(`${STORIES_DIR}/tok512.bin`), 'tok512.bin', ckpt.config.vocabSize);
const expected = readFileSync(`${STORIES_DIR}/expected-greedy-200-steps.txt`);

describe('ReferenceLlama on stories260K', () => {
  it("reproduces llama2.c's greedy 200-step output byte for byte", () => {
    const model = new ReferenceLlama(ckpt.config, ckpt.weights);
    const ids = referenceGreedy(model, [tok.bosId], 200);
    const text = tok.decode([tok.bosId, ...ids]);
    expect(Buffer.from(text, 'utf8').equals(expected)).toBe(true);
    // The stream decoder prints the same bytes.
    const dec = tok.createStreamDecoder();
    let streamed = dec.push(tok.bosId);
    for (const id of ids) streamed += dec.push(id);
    expect(streamed + dec.flush()).toBe(text);
  });
});

/**
 * The same model written another way: whole-sequence matrices, no KV cache, rotation by explicit
 * pair lists, float64 throughout. Agreement checks cache indexing, GQA head sharing, biases,
 * both RoPE layouts, theta and untied output on shapes stories260K does not have.
 */
function naiveLogits(ckpt: ReturnType<typeof randomCheckpoint>, tokens: number[]): number[][] {
  const { config: c, weights: w } = ckpt;
  const T = tokens.length;
  const lin = (x: number[], W: Float32Array, outDim: number, b?: Float32Array) =>
    Array.from({ length: outDim }, (_, o) => x.reduce((acc, xi, i) => acc + xi * W[o * x.length + i], b ? b[o] : 0));
  const norm = (x: number[], g: Float32Array) => {
    const r = 1 / Math.sqrt(x.reduce((a, v) => a + v * v, 0) / x.length + c.normEps);
    return x.map((v, i) => v * r * g[i]);
  };
  const pairs: [number, number][] = [];
  for (let i = 0; i < c.headDim / 2; i++) pairs.push(c.ropeLayout === 'interleaved' ? [2 * i, 2 * i + 1] : [i, i + c.headDim / 2]);
  // Newer families: a layer slides when layerTypes says so (or every layer has the window); sliding
  // layers of Gemma 3 turn by their own base, unscaled; linear scaling divides the angle.
  const sliding = (l: number) => (c.layerTypes ? c.layerTypes[l] === 'sliding' : !!c.slidingWindow);
  const local = (l: number) => sliding(l) && c.ropeLocalTheta !== undefined;
  const rot = (v: number[], heads: number, pos: number, l: number) => {
    const out = v.slice();
    const theta = local(l) ? c.ropeLocalTheta! : c.ropeTheta;
    const divide = !local(l) && c.ropeScaling?.type === 'linear' ? c.ropeScaling.factor : 1;
    for (let h = 0; h < heads; h++) {
      pairs.forEach(([a, b], i) => {
        const ang = (pos * theta ** (-(2 * i) / c.headDim)) / divide;
        const [x, y] = [v[h * c.headDim + a], v[h * c.headDim + b]];
        out[h * c.headDim + a] = x * Math.cos(ang) - y * Math.sin(ang);
        out[h * c.headDim + b] = x * Math.sin(ang) + y * Math.cos(ang);
      });
    }
    return out;
  };
  // Each head of v ([heads·headDim]) RMS-normed by its own rms, scaled by g [headDim].
  const headNorm = (v: number[], g: Float32Array | undefined) => {
    if (!c.qkNorm || !g) return v;
    return v.map((_, j) => {
      const h0 = j - (j % c.headDim);
      const head = v.slice(h0, h0 + c.headDim);
      return (v[j] / Math.sqrt(head.reduce((a, x) => a + x * x, 0) / c.headDim + c.normEps)) * g[j % c.headDim];
    });
  };
  const cap = (v: number, k: number | null | undefined) => (k ? k * Math.tanh(v / k) : v);
  const gelu = (a: number) => 0.5 * a * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (a + 0.044715 * a ** 3)));
  let X = tokens.map((t) => Array.from(w.tokenEmbedding.subarray(t * c.dim, (t + 1) * c.dim), (v) => v * (c.embedScale ?? 1)));
  w.layers.forEach((L, l) => {
    const H = X.map((x) => norm(x, L.attnNorm));
    const Q = H.map((h, t) => rot(headNorm(lin(h, L.wq, c.nHeads * c.headDim, L.bq), L.qNorm), c.nHeads, t, l));
    const K = H.map((h, t) => rot(headNorm(lin(h, L.wk, c.nKvHeads * c.headDim, L.bk), L.kNorm), c.nKvHeads, t, l));
    const V = H.map((h) => lin(h, L.wv, c.nKvHeads * c.headDim, L.bv));
    X = X.map((x, t) => {
      const att: number[] = [];
      // keys u ≤ t, and within the window t − u < slidingWindow on sliding layers
      const seen = K.map((_, u) => u).filter((u) => u <= t && (!sliding(l) || t - u < c.slidingWindow!));
      for (let h = 0; h < c.nHeads; h++) {
        const g = Math.floor((h * c.nKvHeads) / c.nHeads); // kv head serving query head h
        const s = seen.map((u) => {
          let d = 0;
          for (let i = 0; i < c.headDim; i++) d += Q[t][h * c.headDim + i] * K[u][g * c.headDim + i];
          return cap(d * (c.attnScale ?? 1 / Math.sqrt(c.headDim)), c.attnSoftcap);
        });
        const m = Math.max(...s);
        const e = s.map((v) => Math.exp(v - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let i = 0; i < c.headDim; i++) att.push(e.reduce((a, p, k) => a + (p / z) * V[seen[k]][g * c.headDim + i], 0));
      }
      const o = lin(att, L.wo, c.dim, c.oBias ? L.bo : undefined);
      const x1 = x.map((v, i) => v + (c.sandwichNorms ? norm(o, L.postAttnNorm!) : o)[i]);
      const h2 = norm(x1, L.ffnNorm);
      const gate = lin(h2, L.w1, c.hiddenDim);
      const up = lin(h2, L.w3, c.hiddenDim);
      const f = lin(gate.map((a, i) => (c.activation === 'gelu_tanh' ? gelu(a) : a / (1 + Math.exp(-a))) * up[i]), L.w2, c.dim);
      const f2 = c.sandwichNorms ? norm(f, L.postFfnNorm!) : f;
      return x1.map((v, i) => v + f2[i]);
    });
  });
  return X.map((x) => lin(norm(x, w.finalNorm), w.output, c.vocabSize).map((v) => cap(v, c.finalSoftcap)));
}

describe('ReferenceLlama against a cache-free whole-sequence formulation', () => {
  it.each([
    ['GQA 3:1, q/k/v bias, untied, theta 5e5, interleaved', {}],
    ['MHA, half layout, tied, 1 layer', { nKvHeads: 3, ropeLayout: 'half' as const, tiedEmbeddings: true, nLayers: 1, qkvBias: false }],
    ['6:2 heads of dim 2, hidden 1, dim 1', { dim: 1, hiddenDim: 1, nHeads: 6, nKvHeads: 2, headDim: 2, ropeLayout: 'half' as const }],
    ['one head of dim 16, vocab 257', { nHeads: 1, nKvHeads: 1, headDim: 16, vocabSize: 257, dim: 3 }],
    ['Qwen3-like: q/k norms, o bias, half layout', { architecture: 'qwen3' as const, qkNorm: true, oBias: true, ropeLayout: 'half' as const }],
    ['Mistral-like: window 4 over 13 tokens', { architecture: 'mistral' as const, slidingWindow: 4, qkvBias: false }],
    ['Gemma 2-like: GeGLU, sandwich norms, soft caps, scale, embed scale, alternating windows', {
      architecture: 'gemma2' as const, nLayers: 3, qkvBias: false, tiedEmbeddings: true, activation: 'gelu_tanh' as const, sandwichNorms: true,
      attnScale: 0.3, attnSoftcap: 2, finalSoftcap: 1.5, embedScale: 4.1, slidingWindow: 3, layerTypes: ['sliding', 'full', 'sliding'] as const,
    }],
    ['Gemma 3-like: q/k norms, local base on sliding layers, linear scaling on the global one', {
      architecture: 'gemma3' as const, nLayers: 3, qkvBias: false, qkNorm: true, activation: 'gelu_tanh' as const, sandwichNorms: true, embedScale: 4.1,
      slidingWindow: 5, layerTypes: ['sliding', 'sliding', 'full'] as const, ropeTheta: 1e6, ropeLocalTheta: 10000, ropeScaling: { type: 'linear' as const, factor: 8 },
    }],
  ])('%s', (_, over) => {
    const ckpt = randomCheckpoint(over, 21);
    const tokens = Array.from({ length: 13 }, (_, t) => (t * 5 + 2) % ckpt.config.vocabSize);
    const want = naiveLogits(ckpt, tokens);
    const model = new ReferenceLlama(ckpt.config, ckpt.weights);
    tokens.forEach((tok, pos) => {
      const got = model.forward(tok, pos);
      for (let v = 0; v < got.length; v++) expect(Math.abs(got[v] - want[pos][v])).toBeLessThan(2e-5);
    });
    expect(model.hidden.length).toBe(ckpt.config.dim);
  });

  it('exposes the final normed hidden state that produced the logits', () => {
    const model = new ReferenceLlama(ckpt.config, ckpt.weights);
    const logits = model.forward(1, 0);
    const h = model.hidden;
    let dot = 0;
    for (let i = 0; i < 64; i++) dot += h[i] * ckpt.weights.output[7 * 64 + i];
    expect(Math.abs(dot - logits[7])).toBeLessThan(1e-4);
  });

  it('rejects out-of-range tokens and positions with IndexError', () => {
    const model = new ReferenceLlama(ckpt.config, ckpt.weights);
    expect(() => model.forward(512, 0)).toThrow(/token 512, expected an id in \[0, 512\)/);
    expect(() => model.forward(1, 512)).toThrow(/pos 512, expected a position in \[0, 512\)/);
    expect(() => model.forward(1, 0)).not.toThrow();
  });

  it('refuses weights that do not fit the config', () => {
    const bad = { ...ckpt.weights, finalNorm: new Float32Array(63) };
    expect(() => new ReferenceLlama(ckpt.config, bad)).toThrow(/weight finalNorm has 63 elements, expected \[64\] = 64/);
    expect(() => new ReferenceLlama({ ...ckpt.config, nKvHeads: 3 }, ckpt.weights)).toThrow(/nHeads = 8 is not a multiple of nKvHeads = 3/);
  });
});
