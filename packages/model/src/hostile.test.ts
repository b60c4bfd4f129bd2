// Hostile model directories: non-regular files, oversized files, configs that misstate the
// weights, non-finite weights and contexts out of proportion to the model. Each must end in a
// typed error naming the file and field, before anything large is allocated.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { convertLlama2cToHf } from './convert';
import { ConfigError, FileSourceError, WeightError } from './errors';
import { loadModelFiles } from './load';
import { parseSafetensors, serializeSafetensors } from './safetensors';
import { memoryFileSource, nodeFileSource, readFileChecked } from './source';
import { STORIES_DIR, randomCheckpoint } from './testdata';
import type { Tokenizer } from './tokenizer';

const tmp = mkdtempSync(path.join(tmpdir(), 'hydra-hostile-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const model = randomCheckpoint({ architecture: 'llama', qkvBias: false, nLayers: 3 }, 5);
const files = convertLlama2cToHf(model.config, model.weights);
const json = (name: string) => JSON.parse(new TextDecoder().decode(files.get(name)!));
const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
// These directories hold no tokenizer; what is checked here comes before it is needed.
const opts = { tokenizer: { vocabSize: model.config.vocabSize } as Tokenizer };

describe('file sources refuse what is not a bounded regular file', () => {
  it('a directory, /dev/zero and a FIFO are refused from their stat, naming the path and what was expected', async () => {
    const fifo = path.join(tmp, 'fifo');
    execFileSync('mkfifo', [fifo]);
    for (const [p, kind] of [[tmp, 'a directory'], ['/dev/zero', 'a character device'], [fifo, 'a FIFO']] as const) {
      // A FIFO with no writer would block a read forever: the stat must refuse it first.
      await expect(nodeFileSource('').read(p, { expected: 'a safetensors file' })).rejects.toThrow(new FileSourceError(`${p}: is ${kind}, expected a safetensors file`));
      expect(() => readFileChecked(p, { expected: 'a tree JSON file' })).toThrow(`${p}: is ${kind}, expected a tree JSON file`);
    }
  });

  it('a file over maxBytes is refused before it is read; a missing one names the path', async () => {
    const big = path.join(tmp, 'big.json');
    writeFileSync(big, 'x'.repeat(5000));
    expect(() => readFileChecked(big, { maxBytes: 4096, expected: 'a tree JSON file' })).toThrow(/big\.json: 4\.9 KiB, larger than the 4\.0 KiB accepted for a tree JSON file/);
    await expect(nodeFileSource(tmp).read('big.json', { maxBytes: 100 })).rejects.toThrow(FileSourceError);
    expect(readFileChecked(big, { maxBytes: 5000 }).length).toBe(5000);
    expect(() => readFileChecked(path.join(tmp, 'nope'))).toThrow(/cannot read .*nope: ENOENT/);
    await expect(memoryFileSource({ a: new Uint8Array(10) }).read('a', { maxBytes: 5 })).rejects.toThrow(/memory:a: 10 bytes, larger than the 5 bytes/);
  });

  it('loadModelFiles on a directory named model.bin, or /dev/zero as a checkpoint, fails with FileSourceError', async () => {
    mkdirSync(path.join(tmp, 'm', 'model.bin'), { recursive: true });
    await expect(loadModelFiles(path.join(tmp, 'm', 'model.bin'))).rejects.toThrow(/model\.bin: is a directory, expected a llama2\.c checkpoint/);
    await expect(loadModelFiles(nodeFileSource('/dev'), { checkpoint: 'zero' })).rejects.toThrow(new FileSourceError('/dev/zero: is a character device, expected a llama2.c checkpoint'));
  });
});

describe('configs and weights that disagree', () => {
  it('weights of more layers than num_hidden_layers are a WeightError naming the field', async () => {
    const src = memoryFileSource(new Map([...files, ['config.json', enc({ ...json('config.json'), num_hidden_layers: 2 })]]), 'dir');
    await expect(loadModelFiles(src, opts)).rejects.toThrow(/tensor model\.layers\.2\.\S+ belongs to layer 2, but num_hidden_layers = 2 \(config\.json\)/);
    await expect(loadModelFiles(src, opts)).rejects.toThrow(WeightError);
    // The config as written loads.
    expect((await loadModelFiles(memoryFileSource(files), opts)).config.nLayers).toBe(3);
  });

  it('a NaN or an infinity in any weight is a WeightError naming the tensor, unless allowNonfinite', async () => {
    const tensors = parseSafetensors(files.get('model.safetensors')!).tensors;
    for (const [tensor, field, bad] of [['model.layers.1.mlp.down_proj.weight', 'layers[1].w2', NaN], ['model.norm.weight', 'finalNorm', -Infinity]] as const) {
      const edited = new Map([...tensors].map(([k, v]) => [k, { shape: v.shape, data: v.data.slice() }]));
      edited.get(tensor)!.data[3] = bad;
      const src = memoryFileSource(new Map([...files, ['model.safetensors', serializeSafetensors(edited)]]), 'dir');
      await expect(loadModelFiles(src, opts)).rejects.toThrow(new WeightError(`dir:: weight ${field}[3] = ${bad}, expected finite values (pass allowNonfinite / --allow-nonfinite to load it anyway)`));
      const loaded = await loadModelFiles(src, { ...opts, allowNonfinite: true });
      expect(Number.isFinite(field === 'finalNorm' ? loaded.weights.finalNorm[3] : loaded.weights.layers[1].w2[3])).toBe(false);
    }
  });

  it('a llama2.c checkpoint of NaN weights is refused by name', async () => {
    const bytes = new Uint8Array(readFileSync(`${STORIES_DIR}/stories260K.bin`));
    new Float32Array(bytes.buffer, 28).fill(NaN);
    const src = memoryFileSource({ 'nan.bin': bytes, 'tokenizer.bin': new Uint8Array(readFileSync(`${STORIES_DIR}/tok512.bin`)) }, 'dir');
    await expect(loadModelFiles(src, { checkpoint: 'nan.bin' })).rejects.toThrow(/dir:nan\.bin: weight tokenEmbedding\[0\] = NaN, expected finite values/);
  });

  it.each([1048576, 4194304])('max_position_embeddings %i for a tiny model is a ConfigError naming config.json, unless capped by maxContext', async (positions) => {
    const src = memoryFileSource(new Map([...files, ['config.json', enc({ ...json('config.json'), max_position_embeddings: positions })]]), 'dir');
    await expect(loadModelFiles(src, opts)).rejects.toThrow(ConfigError);
    await expect(loadModelFiles(src, opts)).rejects.toThrow(new RegExp(`dir:config\\.json: max_position_embeddings = ${positions} would size a .* KV cache .* pass maxContext`));
    const capped = await loadModelFiles(src, { ...opts, maxContext: 64 });
    expect(capped.config.maxSeqLen).toBe(64);
    // A plausible context passes untouched, and a cap above it changes nothing.
    expect((await loadModelFiles(memoryFileSource(files), { ...opts, maxContext: 1 << 20 })).config.maxSeqLen).toBe(model.config.maxSeqLen);
  });
});
