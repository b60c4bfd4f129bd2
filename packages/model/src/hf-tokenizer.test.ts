import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { llama2cTokenizerConfigJson, llama2cTokenizerJson } from './convert';
import { TokenizerError } from './errors';
import { HfTokenizer } from './hf-tokenizer';
import { Llama2cTokenizer } from './llama2c-tokenizer';
import { memoryFileSource } from './source';
import { HAVE_LLAMA2_TOKENIZER, LLAMA2_TOKENIZER_DIR, STORIES_DIR } from './testdata';

const tok512 = Llama2cTokenizer.fromBytes(readFileSync(`${STORIES_DIR}/tok512.bin`), 'tok512.bin', 512);
const hf512 = new HfTokenizer(llama2cTokenizerJson(tok512), llama2cTokenizerConfigJson());
const story = readFileSync(`${STORIES_DIR}/expected-greedy-200-steps.txt`, 'utf8');
const text = fc
  .array(fc.oneof(fc.constantFrom(...'abcdefghij ,.!\n\t'), fc.constantFrom('é', 'Ж', '🦙', '€', '  ')), { maxLength: 30 })
  .map((a) => a.join(''));

describe('HfTokenizer over a tokenizer.json built from tok512', () => {
  it('knows its vocabulary and special ids', () => {
    expect(hf512.vocabSize).toBe(512);
    expect([hf512.bosId, hf512.eosId]).toEqual([1, 2]);
  });

  it('encodes like the llama2.c tokenizer (story text and random text with byte fallback)', () => {
    expect(hf512.encode(story, { bos: true, eos: true })).toEqual(tok512.encode(story, { bos: true, eos: true }));
    fc.assert(
      fc.property(text, (s) => {
        expect(hf512.encode(s, { bos: true })).toEqual(tok512.encode(s, { bos: true }));
      }),
      { numRuns: 200 },
    );
  });

  it('decodes and stream-decodes back to the text, never emitting half a character', () => {
    fc.assert(
      fc.property(text, (s) => {
        const ids = hf512.encode(s, { bos: true });
        expect(hf512.decode(ids)).toBe(s);
        const dec = hf512.createStreamDecoder();
        const parts = ids.map((i) => dec.push(i));
        parts.push(dec.flush());
        expect(parts.join('')).toBe(s);
        for (const p of parts) expect(p).not.toContain('\uFFFD');
      }),
      { numRuns: 100 },
    );
  });

  it('renders a chat template with @huggingface/jinja', () => {
    const t = new HfTokenizer(llama2cTokenizerJson(tok512), {
      ...llama2cTokenizerConfigJson(),
      chat_template: "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}",
    });
    const msgs = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi!' }];
    expect(t.applyChatTemplate(msgs)).toBe('<s>[system] Be brief.\n[user] Hi!\n[assistant]');
    expect(t.applyChatTemplate(msgs, { addGenerationPrompt: false })).toBe('<s>[system] Be brief.\n[user] Hi!\n');
    expect(() => hf512.applyChatTemplate(msgs)).toThrow(/no chat_template/);
  });

  it('reports bad files and ids as TokenizerError', async () => {
    const src = memoryFileSource({ 'tokenizer.json': new TextEncoder().encode('{"model": ') }, 'm');
    await expect(HfTokenizer.fromSource(src)).rejects.toThrow(/m:tokenizer\.json: not valid UTF-8 JSON/);
    expect(() => new HfTokenizer({ version: '1.0' })).toThrow(/no "model" object/);
    expect(() => new HfTokenizer({ model: { type: 'Nonsense' } })).toThrow(TokenizerError);
    expect(() => hf512.decode([512])).toThrow(/token id 512 is outside/);
    const noBos = new HfTokenizer(llama2cTokenizerJson(tok512), {});
    expect(() => noBos.encode('a', { bos: true })).toThrow(/no BOS token/);
  });
});

describe.skipIf(!HAVE_LLAMA2_TOKENIZER)('HfTokenizer over a tokenizer.json built from the 32000-token Llama 2 tokenizer', () => {
  it('encodes sentences with the ids SentencePiece gives', () => {
    const big = Llama2cTokenizer.fromBytes(readFileSync(`${LLAMA2_TOKENIZER_DIR}tokenizer.bin`), 'tokenizer.bin', 32000);
    const hf = new HfTokenizer(llama2cTokenizerJson(big), llama2cTokenizerConfigJson());
    // From python sentencepiece on tokenizer.model.
    expect(hf.encode('Once upon a time, there was a little girl named Lily.')).toEqual([9038, 2501, 263, 931, 29892, 727, 471, 263, 2217, 7826, 4257, 365, 2354, 29889]);
    expect(hf.encode('naïve café 🦙 €100')).toEqual([1055, 30085, 345, 274, 28059, 29871, 243, 162, 169, 156, 25540, 29896, 29900, 29900]);
    expect(hf.encode(story)).toEqual(big.encode(story));
  });
});
