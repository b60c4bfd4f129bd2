// Mutated model files must end in a typed error or a valid parse: never another exception, a hang,
// or an allocation sized by a corrupt header.
import { readFileSync } from 'node:fs';
import { HydraError } from '@hydra-ts/tensor';
import { describe, expect, it } from 'vitest';
import { convertLlama2cToHf } from './convert';
import { hfTensorsToCheckpoint, parseHfConfig } from './hf';
import { parseLlama2cCheckpoint } from './llama2c';
import { Llama2cTokenizer } from './llama2c-tokenizer';
import { ReferenceLlama } from './reference';
import { parseSafetensors } from './safetensors';
import { STORIES_DIR, randomCheckpoint } from './testdata';

/** Small seeded PRNG so failures are reproducible from the printed case number. */
function rng(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) % n;
  };
}

const INTERESTING = [0, 1, -1, 2, 3, 7, 8, 64, 255, 256, 4096, 65535, 1 << 20, 2 ** 31 - 1, -(2 ** 31), 1 << 30];

/** One mutation of `bytes`: bit flips, a truncation, an extension, or int32 overwrites near `hot` offsets. */
function mutate(bytes: Uint8Array, r: (n: number) => number, hot: number): Uint8Array {
  switch (r(5)) {
    case 0: {
      const b = bytes.slice();
      for (let k = 1 + r(4); k > 0; k--) {
        const i = r(b.length);
        b[i] ^= 1 << r(8);
      }
      return b;
    }
    case 1:
      return bytes.slice(0, r(bytes.length));
    case 2: {
      const b = new Uint8Array(bytes.length + 1 + r(64));
      b.set(bytes);
      return b;
    }
    default: {
      // Overwrite int32 fields where the structure lives (headers, length fields).
      const b = bytes.slice();
      const view = new DataView(b.buffer);
      for (let k = 1 + r(2); k > 0; k--) {
        const at = Math.min(r(hot), b.length - 4) & ~3;
        if (at >= 0) view.setInt32(at, INTERESTING[r(INTERESTING.length)], true);
      }
      return b;
    }
  }
}

type Outcome = 'ok' | 'typed';
function run(fn: () => void, what: string): Outcome {
  try {
    fn();
    return 'ok';
  } catch (e) {
    if (e instanceof HydraError) return 'typed';
    throw new Error(`${what}: untyped ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`, { cause: e });
  }
}

describe('fuzz: mutated files end in typed errors or valid parses', () => {
  it('llama2.c checkpoint (stories260K), 400 mutations', () => {
    const bytes = new Uint8Array(readFileSync(`${STORIES_DIR}/stories260K.bin`));
    const counts = { ok: 0, typed: 0 };
    for (let i = 0; i < 400; i++) {
      const r = rng(1000 + i);
      const b = mutate(bytes, r, 28);
      counts[run(() => {
        const { config, weights } = parseLlama2cCheckpoint(b, `case ${i}`);
        new ReferenceLlama(config, weights).forward(1, 0);
      }, `checkpoint case ${i}`)]++;
    }
    expect(counts.typed).toBeGreaterThan(100);
    expect(counts.ok).toBeGreaterThan(20);
  });

  it('llama2.c tokenizer (tok512), 400 mutations', () => {
    const bytes = new Uint8Array(readFileSync(`${STORIES_DIR}/tok512.bin`));
    const counts = { ok: 0, typed: 0 };
    for (let i = 0; i < 400; i++) {
      const r = rng(5000 + i);
      const b = mutate(bytes, r, bytes.length);
      counts[run(() => {
        const tok = Llama2cTokenizer.fromBytes(b, `case ${i}`, i % 2 === 0 ? 512 : undefined);
        const ids = tok.encode('Once upon a time, Lily saw 🦙.', { bos: true });
        tok.decode(ids);
        const dec = tok.createStreamDecoder();
        for (const id of ids) dec.push(id);
        dec.flush();
      }, `tokenizer case ${i}`)]++;
    }
    expect(counts.typed).toBeGreaterThan(100);
    expect(counts.ok).toBeGreaterThan(20);
  });

  it('safetensors model file and HF config, 400 mutations', () => {
    const model = randomCheckpoint({ architecture: 'qwen2', nLayers: 1 }, 3);
    const files = convertLlama2cToHf(model.config, model.weights);
    const st = files.get('model.safetensors')!;
    const headerEnd = 8 + Number(new DataView(st.buffer).getBigUint64(0, true));
    const configText = new TextDecoder().decode(files.get('config.json')!);
    const counts = { ok: 0, typed: 0 };
    for (let i = 0; i < 400; i++) {
      const r = rng(9000 + i);
      let b: Uint8Array;
      if (r(3) === 0) {
        // Edit the JSON header textually: digits and quotes are where the structure is.
        b = st.slice();
        for (let k = 1 + r(3); k > 0; k--) b[8 + r(headerEnd - 8)] = '0123456789",[]{}:-e'.charCodeAt(r(19));
      } else {
        b = mutate(st, r, headerEnd);
      }
      counts[run(() => {
        const { tensors } = parseSafetensors(b, `case ${i}`);
        hfTensorsToCheckpoint(model.config, tensors, `case ${i}`);
      }, `safetensors case ${i}`)]++;
      // And a mutated config.json.
      const chars = [...configText];
      chars[r(chars.length)] = '0123456789",[]{}:-'[r(18)];
      run(() => {
        let json: unknown;
        try {
          json = JSON.parse(chars.join(''));
        } catch {
          return; // not JSON any more: loadHfCheckpoint reports that as ConfigError, tested elsewhere
        }
        parseHfConfig(json as Record<string, unknown>, `config case ${i}`);
      }, `config case ${i}`);
    }
    expect(counts.typed).toBeGreaterThan(100);
    expect(counts.ok).toBeGreaterThan(5);
  });
});
