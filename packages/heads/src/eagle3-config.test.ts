// The EAGLE-3 head config and file layout: defaults, tensor shapes, and typed errors for bad files.
import { describe, expect, it } from 'vitest';
import { parseHeadFile } from './checkpoint';
import { defaultFeatureLayers, eagle3Shapes, headConfigFor, headParameterShapes, type HeadConfig } from './config';
import { HeadCheckpointError, HeadOptionError } from './errors';
import { baseConfig, headsFile, randomValues } from './testdata';

const base = baseConfig({ nLayers: 5, vocabSize: 512 });

function eagle3File(c: HeadConfig, over: Record<string, Float32Array> = {}) {
  const values = randomValues(c, 3);
  values.set('eagle3.d2t', Float32Array.from({ length: c.eagle3!.draftVocabSize }, (_, i) => Math.floor(1.5 * i)));
  for (const [k, v] of Object.entries(over)) values.set(k, v);
  return headsFile(c, values);
}

describe('eagle3 config', () => {
  it('defaults: the base attention shape, featureLayers [1, 2, 4] for 5 layers (vLLM\'s (2, L/2, L-3) for 32), draftVocabSize min(vocab, 32000)', () => {
    const c = headConfigFor(base, { kind: 'eagle3', numHeads: 4 });
    expect(c).toMatchObject({ kind: 'eagle3', numHeads: 4, layers: 1, sharedOutput: false, prefix: null });
    expect(c.eagle3).toEqual({ nHeads: 3, nKvHeads: 1, headDim: 8, hiddenDim: 40, featureLayers: [1, 2, 4], draftVocabSize: 512 });
    expect(defaultFeatureLayers(32)).toEqual([2, 16, 29]);
    expect(defaultFeatureLayers(5)).toEqual([1, 2, 4]);
    expect(headConfigFor(baseConfig({ nLayers: 8, vocabSize: 40000 }), { kind: 'eagle3', numHeads: 2 }).eagle3!.draftVocabSize).toBe(32000);
  });

  it('the file layout is the spec\'s: names and shapes', () => {
    const c = headConfigFor(base, { kind: 'eagle3', numHeads: 4, draftVocabSize: 300 });
    const dim = base.dim;
    expect([...headParameterShapes(c)]).toEqual([...eagle3Shapes(dim, c.eagle3!)]);
    expect(Object.fromEntries(headParameterShapes(c))).toEqual({
      'eagle3.fc.weight': [dim, 3 * dim], 'eagle3.input_norm': [dim], 'eagle3.hidden_norm': [dim],
      'eagle3.wq': [24, 2 * dim], 'eagle3.wk': [8, 2 * dim], 'eagle3.wv': [8, 2 * dim], 'eagle3.wo': [dim, 24],
      'eagle3.ffn_norm': [dim], 'eagle3.w1': [40, dim], 'eagle3.w3': [40, dim], 'eagle3.w2': [dim, 40],
      'eagle3.norm': [dim], 'eagle3.lm_head': [300, dim], 'eagle3.d2t': [300],
    });
  });

  it('bad options are HeadOptionErrors saying what was expected', () => {
    expect(() => headConfigFor(base, { kind: 'eagle3', numHeads: 2, featureLayers: [1, 1, 4] })).toThrow(/featureLayers = \[1,1,4\], expected three increasing base layers in \[0, nLayers = 5\)/);
    expect(() => headConfigFor(base, { kind: 'eagle3', numHeads: 2, featureLayers: [1, 2, 5] })).toThrow(HeadOptionError);
    expect(() => headConfigFor(base, { kind: 'eagle3', numHeads: 2, draftVocabSize: 513 })).toThrow(/draftVocabSize = 513, expected an integer in \[1, 512\]/);
    expect(() => headConfigFor(base, { kind: 'eagle3', numHeads: 2, sharedOutput: true })).toThrow(/own lm_head/);
    expect(() => headConfigFor(base, { kind: 'eagle', numHeads: 2, draftVocabSize: 3 })).toThrow(/not options of eagle heads/);
  });

  it('a well-formed file parses; bad d2t, featureLayers or shapes are HeadCheckpointErrors', () => {
    const c = headConfigFor(base, { kind: 'eagle3', numHeads: 3, draftVocabSize: 300 });
    const ok = parseHeadFile(eagle3File(c), 'e3.safetensors', base);
    expect(ok.config).toEqual(c);
    expect([...ok.values.get('eagle3.d2t')!.slice(0, 3)]).toEqual([0, 1, 3]);
    const d2t = (f: (a: Float32Array) => void) => {
      const a = Float32Array.from({ length: 300 }, (_, i) => Math.floor(1.5 * i));
      f(a);
      return { 'eagle3.d2t': a };
    };
    expect(() => parseHeadFile(eagle3File(c, d2t((a) => (a[7] = 512))), 'e3.safetensors', base)).toThrow(/eagle3.d2t\[7\] = 512, expected a base token id in \[0, 512\)/);
    expect(() => parseHeadFile(eagle3File(c, d2t((a) => (a[5] = a[4]))), 'e3.safetensors', base)).toThrow(/eagle3.d2t\[5\] = 6 after 6, expected strictly increasing base ids/);
    expect(() => parseHeadFile(eagle3File(c, d2t((a) => (a[2] = 4.5))), 'e3.safetensors', base)).toThrow(HeadCheckpointError);
    const bad = { ...c, eagle3: { ...c.eagle3!, featureLayers: [3, 2, 4] } };
    expect(() => parseHeadFile(headsFile(c, randomValues(c, 1), { config: JSON.stringify(bad) }), 'e3.safetensors', base)).toThrow(/featureLayers = \[3,2,4\], expected three increasing/);
    const big = { ...c, eagle3: { ...c.eagle3!, draftVocabSize: 600 } };
    expect(() => parseHeadFile(headsFile(c, randomValues(c, 1), { config: JSON.stringify(big) }), 'e3.safetensors', base)).toThrow(/config.eagle3.draftVocabSize = 600, expected an integer in \[1, 512\]/);
    const { eagle3: _, ...none } = c;
    expect(() => parseHeadFile(headsFile(c, randomValues(c, 1), { config: JSON.stringify(none) }), 'e3.safetensors', base)).toThrow(/config.eagle3 = undefined, expected an object/);
    const other = headConfigFor(base, { kind: 'eagle3', numHeads: 3, draftVocabSize: 200 });
    expect(() => parseHeadFile(eagle3File(other), 'e3.safetensors', base)).not.toThrow();
    expect(() => parseHeadFile(headsFile(other, randomValues(other, 1), { config: JSON.stringify(c) }), 'e3.safetensors', base)).toThrow(/tensor eagle3.lm_head has shape \[200, 24\], expected \[300, 24\]/);
  });
});
