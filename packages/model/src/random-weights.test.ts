import { describe, expect, it } from 'vitest';
import { validateWeights, type LlamaConfig } from './config';
import { ConfigError } from './errors';
import { randomCheckpoint, STORIES15M_CONFIG } from './random-weights';

const tiny: LlamaConfig = { ...STORIES15M_CONFIG, dim: 24, hiddenDim: 40, nLayers: 3, nHeads: 4, nKvHeads: 2, headDim: 6, vocabSize: 37, qkvBias: true, tiedEmbeddings: false };

describe('randomCheckpoint', () => {
  it('has the shapes of the config, is seeded, and is scaled normal', () => {
    const a = randomCheckpoint(tiny, 5);
    validateWeights(a.config, a.weights);
    expect(a.weights.output).not.toBe(a.weights.tokenEmbedding);
    const b = randomCheckpoint(tiny, 5);
    expect(b.weights.layers[2].w2).toEqual(a.weights.layers[2].w2);
    expect(randomCheckpoint(tiny, 6).weights.layers[2].w2).not.toEqual(a.weights.layers[2].w2);
    // Mean ~0 and std ~0.02 over the embedding (37·24 = 888 samples); residual outputs shrunk.
    const e = a.weights.tokenEmbedding;
    const mean = e.reduce((s, x) => s + x, 0) / e.length;
    const std = Math.sqrt(e.reduce((s, x) => s + (x - mean) ** 2, 0) / e.length);
    expect(Math.abs(mean)).toBeLessThan(0.003);
    expect(std).toBeGreaterThan(0.018);
    expect(std).toBeLessThan(0.022);
    const wo = a.weights.layers[0].wo;
    const woStd = Math.sqrt(wo.reduce((s, x) => s + x * x, 0) / wo.length);
    expect(woStd).toBeLessThan(0.02 / Math.sqrt(6) * 1.2);
    expect(a.weights.layers[1].attnNorm.every((x) => x === 1)).toBe(true);
  });

  it('ties output to the embedding when the shape does, and rejects unknown shapes', () => {
    const small = randomCheckpoint({ ...STORIES15M_CONFIG, vocabSize: 64, nLayers: 1 }, 1);
    expect(small.weights.output).toBe(small.weights.tokenEmbedding);
    expect(() => randomCheckpoint('gpt5' as 'stories15M')).toThrow(ConfigError);
    expect(() => randomCheckpoint({ ...tiny, nKvHeads: 3 })).toThrow(ConfigError);
  });
});
