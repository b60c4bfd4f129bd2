import { describe, expect, it } from 'vitest';
import { DAWN_NOISE, NoiseFilter } from './dawn-log';

// Dawn's lines as printed on Mesa's lavapipe (webgpu 0.6.2).
const UNIFORM = 'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.\n';
const STORAGE = 'Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.\n';

function filtered(...chunks: string[]): string {
  let out = '';
  const f = new NoiseFilter((t) => (out += t));
  for (const c of chunks) f.push(c);
  f.end();
  return out;
}

describe("Dawn's limit warnings", () => {
  it('drops exactly those two lines', () => {
    expect(DAWN_NOISE.test(UNIFORM)).toBe(true);
    expect(DAWN_NOISE.test(STORAGE)).toBe(true);
    expect(filtered(UNIFORM, STORAGE)).toBe('');
    expect(filtered('Warning: something else\n', UNIFORM, 'error: x\n')).toBe('Warning: something else\nerror: x\n');
  });

  it('reassembles lines split across chunks and keeps a last line without a newline', () => {
    const text = `a\n${UNIFORM}b\n${STORAGE}tail`;
    for (const cut of [1, 7, 30, UNIFORM.length + 2, text.length - 2]) {
      expect(filtered(text.slice(0, cut), text.slice(cut))).toBe('a\nb\ntail');
    }
    expect(filtered(...[...text])).toBe('a\nb\ntail');
  });
});
