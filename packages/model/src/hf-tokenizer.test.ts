import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { llama2cTokenizerConfigJson, llama2cTokenizerJson } from './convert';
import { TokenizerError, TokenLimitError } from './errors';
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

describe('HfTokenizer: special tokens, stop ids, chat encoding, streaming in context', () => {
  const chatTemplate = "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}{{ eos_token }}{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}";
  const chat = new HfTokenizer(llama2cTokenizerJson(tok512), { ...llama2cTokenizerConfigJson(), chat_template: chatTemplate });
  const msgs = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi!' }];

  it('addSpecialTokens applies the post-processor (<s> $A here) and nothing else', () => {
    expect(hf512.encode('Once upon', { addSpecialTokens: true })).toEqual(tok512.encode('Once upon', { bos: true }));
    expect(hf512.encode('Once upon', { addSpecialTokens: true, bos: true })).toEqual(tok512.encode('Once upon', { bos: true }));
    expect(tok512.encode('Once upon', { addSpecialTokens: true })).toEqual(tok512.encode('Once upon', { bos: true }));
    // A tokenizer.json whose post-processor adds nothing (as Qwen's): no BOS, whatever bosId is.
    const bare = new HfTokenizer({ ...llama2cTokenizerJson(tok512), post_processor: null }, llama2cTokenizerConfigJson());
    expect(bare.encode('Once upon', { addSpecialTokens: true })).toEqual(tok512.encode('Once upon'));
  });

  it('encodeChat encodes the rendered template without a second BOS', () => {
    const ids = chat.encodeChat(msgs);
    expect(ids.filter((i) => i === 1)).toEqual([1]);
    expect(ids[0]).toBe(1);
    const body = '[system] Be brief.';
    expect(ids.slice(1, 1 + tok512.encode(body).length)).toEqual(tok512.encode(body));
    expect(ids).toEqual(chat.encode(chat.applyChatTemplate(msgs)));
    expect(chat.encodeChat(msgs, { addGenerationPrompt: false })).toEqual(chat.encode(chat.applyChatTemplate(msgs, { addGenerationPrompt: false })));
    expect(() => chat.encodeChat(msgs, { maxTokens: 5 })).toThrow(TokenLimitError);
  });

  it('passes tools, documents and extra variables to the template, and raise_exception errors are TokenizerErrors', () => {
    const t = new HfTokenizer(llama2cTokenizerJson(tok512), {
      chat_template: "{% if tools %}{{ tools[0].name }}|{% endif %}{{ documents | length }}|{{ flavour }}{% if messages[0].role != 'user' %}{{ raise_exception('user first') }}{% endif %}",
    });
    expect(t.applyChatTemplate([{ role: 'user', content: 'x' }], { tools: [{ name: 'clock' }], documents: [{}, {}], variables: { flavour: 'mint' } })).toBe('clock|2|mint');
    expect(() => t.applyChatTemplate([{ role: 'system', content: 'x' }], { documents: [] })).toThrow(/applyChatTemplate: .*user first/);
  });

  it('keeps every stop id: the model config first, then the tokenizer eos_token', () => {
    const t = new HfTokenizer(llama2cTokenizerJson(tok512), llama2cTokenizerConfigJson(), { eosIds: [7, 9, 2] });
    expect(t.eosIds).toEqual([7, 9, 2]);
    expect(t.eosId).toBe(7);
    expect(t.decode([5, 7, 9, 2])).toBe(t.decode([5]));
    expect(hf512.eosIds).toEqual([2]);
    expect(tok512.eosIds).toEqual([2]);
  });

  it('maxTokens rejects a text that needs more tokens with a TokenLimitError naming both counts', () => {
    const n = tok512.encode(story, { addSpecialTokens: true }).length;
    for (const tok of [tok512, hf512]) {
      expect(tok.encode(story, { addSpecialTokens: true, maxTokens: n })).toHaveLength(n);
      expect(() => tok.encode(story, { addSpecialTokens: true, maxTokens: n - 1 })).toThrow(TokenLimitError);
      expect(() => tok.encode(story, { maxTokens: 10 })).toThrow(/needs at least \d+ tokens, more than the limit of 10/);
    }
  });

  it('a stream decoder given the prompt as context emits the continuation with its leading space', () => {
    for (const tok of [tok512, hf512]) {
      const prompt = tok.encode('Hello', { addSpecialTokens: true });
      const full = tok.encode('Hello world, said Lily.', { addSpecialTokens: true });
      expect(full.slice(0, prompt.length)).toEqual(prompt);
      const dec = tok.createStreamDecoder(prompt);
      const parts = full.slice(prompt.length).map((id) => dec.push(id));
      parts.push(dec.flush());
      expect(parts.join('')).toBe(' world, said Lily.');
    }
  });
});
