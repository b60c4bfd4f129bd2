import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { convertLlama2cToHf } from './convert';
import { ConfigError } from './errors';
import { parseGenerationConfig, samplingDefaults } from './generation-config';
import { Llama2cTokenizer } from './llama2c-tokenizer';
import { loadModelFiles } from './load';
import { memoryFileSource } from './source';
import { randomCheckpoint, STORIES_DIR } from './testdata';

const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));

describe('parseGenerationConfig', () => {
  it('reads the sampling fields and stop ids of a Llama 3.1 Instruct generation_config.json', () => {
    // The file as Meta ships it with Llama-3.1-8B-Instruct.
    const gc = parseGenerationConfig({ bos_token_id: 128000, do_sample: true, eos_token_id: [128001, 128008, 128009], temperature: 0.6, top_p: 0.9, transformers_version: '4.42.3' });
    expect(gc).toEqual({ doSample: true, temperature: 0.6, topP: 0.9, bosId: 128000, eosIds: [128001, 128008, 128009] });
    expect(parseGenerationConfig({ eos_token_id: 2, pad_token_id: 0, top_k: 20, max_new_tokens: 64 })).toEqual({ eosIds: [2], padId: 0, topK: 20, maxNewTokens: 64 });
  });

  it('names the field at fault', () => {
    expect(() => parseGenerationConfig({ eos_token_id: [1, 'x'] }, 'm/generation_config.json')).toThrow(/m\/generation_config\.json: eos_token_id = \[1,"x"\], expected a token id or a list/);
    expect(() => parseGenerationConfig({ temperature: -1 })).toThrow(ConfigError);
    expect(() => parseGenerationConfig({ top_p: 1.5 })).toThrow(/top_p = 1\.5, expected a number in \(0, 1\]/);
    expect(() => parseGenerationConfig({ do_sample: 'yes' })).toThrow(/do_sample/);
  });

  it('samplingDefaults follows transformers: greedy unless do_sample, then top-k 50 unless set', () => {
    expect(samplingDefaults(undefined)).toEqual({ temperature: 0 });
    expect(samplingDefaults({ temperature: 0.6, topP: 0.9 })).toEqual({ temperature: 0 });
    expect(samplingDefaults({ doSample: true, temperature: 0.6, topP: 0.9 })).toEqual({ temperature: 0.6, topK: 50, topP: 0.9 });
    expect(samplingDefaults({ doSample: true, topK: 0 })).toEqual({ temperature: 1 });
  });
});

describe('loadModelFiles with generation_config.json', () => {
  const tok512 = Llama2cTokenizer.fromBytes(readFileSync(`${STORIES_DIR}/tok512.bin`), 'tok512.bin', 512);
  const { config, weights } = randomCheckpoint({ vocabSize: 512 }, 3);
  const files = convertLlama2cToHf({ ...config, ropeLayout: 'half' }, weights, tok512);
  const cfg = JSON.parse(new TextDecoder().decode(files.get('config.json')!));

  it('reads the defaults and merges every stop id into config.eosIds and the tokenizer', async () => {
    const src = memoryFileSource({
      ...Object.fromEntries(files),
      'config.json': enc({ ...cfg, eos_token_id: [7, 9] }),
      'generation_config.json': enc({ do_sample: true, temperature: 0.7, eos_token_id: [9, 11] }),
    });
    const m = await loadModelFiles(src);
    expect(m.generationConfig).toEqual({ doSample: true, temperature: 0.7, eosIds: [9, 11] });
    expect(m.config.eosId).toBe(7);
    expect(m.config.eosIds).toEqual([7, 9, 11, 2]); // 2: the tokenizer's eos_token </s>
    expect(m.tokenizer.eosIds).toEqual([7, 9, 11, 2]);
  });

  it('has no defaults without the file, and names a stop id outside the vocabulary', async () => {
    expect((await loadModelFiles(memoryFileSource(files))).generationConfig).toEqual({});
    const bad = memoryFileSource({ ...Object.fromEntries(files), 'generation_config.json': enc({ eos_token_id: 512 }) }, 'm');
    await expect(loadModelFiles(bad)).rejects.toThrow(/m:generation_config\.json: eos_token_id 512 is outside the vocabulary \[0, 512\)/);
    const broken = memoryFileSource({ ...Object.fromEntries(files), 'generation_config.json': new TextEncoder().encode('{') }, 'm');
    await expect(loadModelFiles(broken)).rejects.toThrow(/m:generation_config\.json: not valid UTF-8 JSON/);
  });
});
