import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bpeWord, speedUpLongWords } from './hf-bpe';
import { hfTokenizerDir, type HfTokenizerFixture } from './testdata';

function core(name: HfTokenizerFixture): Tokenizer {
  const dir = hfTokenizerDir(name);
  return new Tokenizer(JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')), JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')));
}

// Words in the model's own alphabet: byte-level symbols for Llama 3, '▁'-joined text for Gemma and Llama 2.
const WORDS: Record<string, fc.Arbitrary<string>> = {
  'llama-3': fc.array(fc.constantFrom('x', 'a', 'b', 'Ġ', 'ä¸Ń', 'æĸĩ', '0'), { minLength: 1, maxLength: 600 }).map((a) => a.join('')),
  'gemma-3': fc.array(fc.constantFrom('x', 'the', '▁', 'ing', '中', '文', '🦙', 'é'), { minLength: 1, maxLength: 400 }).map((a) => a.join('')),
  'llama-2': fc.array(fc.constantFrom('x', 'the', '▁', 'ing', '中', '文', '🦙', 'é'), { minLength: 1, maxLength: 400 }).map((a) => a.join('')),
};

describe.each(Object.keys(WORDS) as HfTokenizerFixture[])('bpeWord on the %s BPE model', (name) => {
  const base = core(name);
  const model = (base as unknown as { model: { bpe(w: string): string[]; bpe_ranks: Map<string, number> } }).model;
  const libraryBpe = model.bpe.bind(model);

  it('merges as the library does, word for word (property, words up to hundreds of symbols)', () => {
    fc.assert(
      fc.property(WORDS[name], (w) => {
        // The library caches words; clear it so each one is merged afresh.
        (model as unknown as { clear_cache(): void }).clear_cache();
        expect(bpeWord(model as never, w)).toEqual(libraryBpe(w));
      }),
      { numRuns: 150 },
    );
  });

  it('speedUpLongWords sends only words past the cached length to bpeWord', () => {
    const sped = core(name);
    expect(speedUpLongWords((sped as unknown as { model: unknown }).model)).toBe(true);
    const long = 'x'.repeat(3000) + 'the▁end';
    expect(sped.encode(long, { add_special_tokens: false }).ids).toEqual(base.encode(long, { add_special_tokens: false }).ids);
    expect(speedUpLongWords({ vocab: {} })).toBe(false);
  });
});
