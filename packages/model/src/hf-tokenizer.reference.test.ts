// Real tokenizers (Llama 2, 3, 3.1, Qwen 3, Gemma 3) held to transformers.js, the reference
// implementation of Hugging Face tokenizers and chat templates in JavaScript: plain encoding,
// chat prompts, exact round trips on a Unicode corpus, and streaming that matches a full decode.
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AutoTokenizer, env, type PreTrainedTokenizer } from '@huggingface/transformers';
import { beforeAll, describe, expect, it } from 'vitest';
import { TokenLimitError } from './errors';
import { HfTokenizer } from './hf-tokenizer';
import { HF_TOKENIZER_FIXTURES, hfTokenizerDir, STORIES_DIR, type HfTokenizerFixture } from './testdata';
import type { ChatMessage } from './tokenizer';

env.allowRemoteModels = false;

/** transformers.js's tokenizer of a folder holding tokenizer.json and tokenizer_config.json. */
async function reference(dir: string): Promise<PreTrainedTokenizer> {
  const parent = join(dir, '..');
  env.localModelPath = `${parent}/`;
  return AutoTokenizer.from_pretrained(dir.slice(parent.length + 1).replace(/\/$/, ''));
}

function ours(dir: string): HfTokenizer {
  const json = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
  const config = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'));
  return new HfTokenizer(json, config, { name: dir });
}

/** apply_chat_template's ids as numbers (it returns a tensor even with return_dict: false). */
function referenceChat(ref: PreTrainedTokenizer, messages: ChatMessage[], addGenerationPrompt: boolean): number[] {
  const out = ref.apply_chat_template(messages as never, { tokenize: true, add_generation_prompt: addGenerationPrompt, return_dict: false }) as unknown as { data: ArrayLike<bigint | number> };
  return Array.from(out.data, Number);
}

const CORPUS = [
  'Hello world',
  ' leading space, and trailing  ',
  'Hello , world . Is n\'t it ? "Quoted" (parens)',
  '  multiple   spaces\n\n\ttabs\r\nand CRLF',
  'naïve café 🦙 €100 ½ ﬁ',
  '中文测试，日本語のテキスト、한국어 텍스트',
  'مرحبا بالعالم! שלום עולם! (RTL)',
  '👨‍👩‍👧‍👦 family, 🏳️‍🌈 flag, 👍🏽 skin tone, 🇯🇵 regional',
  'NUL\u0000inside and \u0007bell',
  'combining: e\u0301 a\u0308 n\u0303 \u1100\u1161\u11a8 Z\u0351\u0352\u0353',
  'def f(x):\n    return x**2  # code\n',
  '1234567890 3.14159 -42 1e-5',
  '',
];

/** Text of special tokens that decode renders (not BOS or EOS, which render as nothing). */
const SPECIAL_TEXT = '<|start_header_id|>user<|end_header_id|> <|im_start|>system<|im_end|> <start_of_turn>model<end_of_turn> <think>';

const CONVERSATIONS: Record<string, ChatMessage[]> = {
  'one user turn': [{ role: 'user', content: 'Hi!' }],
  'system prompt': [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'What is 2+2?' }],
  'multi-turn with assistant turns': [
    { role: 'system', content: 'You answer in one word.' },
    { role: 'user', content: 'Capital of France?' },
    { role: 'assistant', content: 'Paris.' },
    { role: 'user', content: 'And of Japan? 日本' },
    { role: 'assistant', content: 'Tokyo 🗼' },
    { role: 'user', content: 'Thanks!\nBye.' },
  ],
};

const CHAT_FIXTURES: HfTokenizerFixture[] = ['llama-3', 'llama-3.1', 'qwen-3', 'gemma-3']; // llama-2 (base) has no chat template

describe.each(Object.keys(HF_TOKENIZER_FIXTURES) as HfTokenizerFixture[])('%s tokenizer against transformers.js', (name) => {
  const dir = hfTokenizerDir(name);
  let tok: HfTokenizer;
  let ref: PreTrainedTokenizer;
  beforeAll(async () => {
    tok = ours(dir);
    ref = await reference(dir);
  }, 120_000);

  it('encode with addSpecialTokens gives the reference tokenizer.encode(text) ids', () => {
    for (const text of [...CORPUS, SPECIAL_TEXT]) {
      expect(tok.encode(text, { addSpecialTokens: true }), JSON.stringify(text)).toEqual(ref.encode(text));
      expect(tok.encode(text), JSON.stringify(text)).toEqual(ref.encode(text, { add_special_tokens: false }));
    }
  });

  it('long texts without split points (a CJK run, a 3000-letter word, a story) encode as the reference', () => {
    const story = readFileSync(join(STORIES_DIR, 'expected-greedy-200-steps.txt'), 'utf8');
    for (const text of ['中文测试日本語のテキスト'.repeat(300), `${'x'.repeat(3000)} end`, story.repeat(2)]) {
      expect(tok.encode(text, { addSpecialTokens: true })).toEqual(ref.encode(text));
    }
  });

  it('maxTokens: the early bound never exceeds the true count', () => {
    for (const text of [...CORPUS, SPECIAL_TEXT, ' '.repeat(500), '='.repeat(300), '🦙'.repeat(100)]) {
      const n = tok.encode(text, { addSpecialTokens: true }).length;
      expect(tok.encode(text, { addSpecialTokens: true, maxTokens: n })).toHaveLength(n);
      if (n > 0) expect(() => tok.encode(text, { addSpecialTokens: true, maxTokens: n - 1 })).toThrow(TokenLimitError);
    }
  });

  it('decode(encode(text)) is the text exactly (NFC-normalized where the tokenizer normalizes)', () => {
    const file = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')) as { normalizer: unknown; added_tokens: { id: number; content: string }[] };
    const nfc = JSON.stringify(file.normalizer)?.includes('"NFC"') ?? false;
    // BOS and the EOS ids render as nothing: their text drops out of the round trip.
    const silent = file.added_tokens.filter((t) => t.id === tok.bosId || tok.eosIds.includes(t.id)).map((t) => t.content);
    expect(silent.length).toBeGreaterThan(0);
    for (const text of [...CORPUS, SPECIAL_TEXT]) {
      let want = nfc ? text.normalize('NFC') : text;
      for (const s of silent) want = want.split(s).join('');
      expect(tok.decode(tok.encode(text)), JSON.stringify(text)).toBe(want);
      expect(tok.decode(tok.encode(text, { addSpecialTokens: true })), JSON.stringify(text)).toBe(want);
    }
  });

  it('streams any continuation of any prefix as the reference decodes the whole (TextStreamer with the prompt as context)', () => {
    for (const text of CORPUS) {
      const all = tok.encode(text, { addSpecialTokens: true });
      const refText = (ids: number[]) => (ids.length === 0 ? '' : ref.decode(ids, { skip_special_tokens: true, clean_up_tokenization_spaces: false }));
      const whole = refText(all);
      for (let k = 0; k < all.length; k++) {
        const head = refText(all.slice(0, k));
        if (!whole.startsWith(head)) continue; // the prompt ends inside a character
        const dec = tok.createStreamDecoder(all.slice(0, k));
        const parts = all.slice(k).map((id) => dec.push(id));
        parts.push(dec.flush());
        expect(parts.join(''), `${JSON.stringify(whole)} split at ${k}`).toBe(whole.slice(head.length));
        for (const p of parts.slice(0, -1)) expect(p).not.toContain('\uFFFD');
      }
    }
  });

  it.runIf(name === 'llama-2')('keeps the space of a continuation: "Hello" then " world"', () => {
    const prompt = tok.encode('Hello', { addSpecialTokens: true });
    const all = tok.encode('Hello world', { addSpecialTokens: true });
    expect(all.slice(0, prompt.length)).toEqual(prompt);
    const dec = tok.createStreamDecoder(prompt);
    expect(all.slice(prompt.length).map((id) => dec.push(id)).join('') + dec.flush()).toBe(' world');
    // Decoded alone, the piece loses its space to the decoder's Strip rule: why context matters.
    expect(ref.decode(all.slice(prompt.length))).toBe('world');
  });

  it.runIf(CHAT_FIXTURES.includes(name)).each(Object.entries(CONVERSATIONS))('chat prompt "%s" tokenizes to apply_chat_template\'s ids', (_, messages) => {
    for (const addGenerationPrompt of [true, false]) {
      const want = referenceChat(ref, messages, addGenerationPrompt);
      expect(tok.encodeChat(messages, { addGenerationPrompt })).toEqual(want);
      expect(tok.applyChatTemplate(messages, { addGenerationPrompt })).toBe(ref.apply_chat_template(messages as never, { tokenize: false, add_generation_prompt: addGenerationPrompt }));
    }
    const ids = tok.encodeChat(messages);
    expect(ids.filter((id) => id === tok.bosId).length).toBeLessThanOrEqual(1); // never a second BOS
  });
});

describe('chat template globals as transformers provides them', () => {
  // A Llama 3.1-style template header: strftime_now for the date, raise_exception for bad input,
  // tools and extra variables from the caller.
  const template = [
    '{{- bos_token }}{%- set date_string = strftime_now("%d %b %Y") %}',
    '{%- if messages[0].role not in ["system", "user"] %}{{ raise_exception("the first turn must be system or user") }}{% endif %}',
    '<|start_header_id|>system<|end_header_id|>\n\nToday Date: {{ date_string }}{% if tools %} tools: {{ tools | map(attribute="name") | join(",") }}{% endif %}{% if custom_flag %} flag{% endif %}<|eot_id|>',
    '{%- for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n{{ m.content | trim }}<|eot_id|>{% endfor %}',
    '{%- if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}',
  ].join('');
  const src = hfTokenizerDir('llama-3.1');
  const dir = mkdtempSync(join(tmpdir(), 'hydra-tpl-'));
  symlinkSync(join(src, 'tokenizer.json'), join(dir, 'tokenizer.json'));
  const config = JSON.parse(readFileSync(join(src, 'tokenizer_config.json'), 'utf8'));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ ...config, chat_template: template }));

  it('renders strftime_now, tools and extra variables, and ids, as apply_chat_template', async () => {
    const tok = ours(dir);
    const ref = await reference(dir);
    const messages = [{ role: 'user', content: 'What time is it?' }];
    const tools = [{ name: 'clock', description: 'the time' }, { name: 'calendar' }];
    const day = new Date().toDateString();
    const text = tok.applyChatTemplate(messages, { tools, variables: { custom_flag: true } });
    if (new Date().toDateString() !== day) return; // midnight passed between the two renders
    expect(text).toBe(ref.apply_chat_template(messages as never, { tokenize: false, add_generation_prompt: true, tools, custom_flag: true } as never));
    expect(text).toContain(' tools: clock,calendar flag');
    expect(text).toMatch(/Today Date: \d\d \w{3} \d{4}/);
    const refIds = ref.apply_chat_template(messages as never, { tokenize: true, add_generation_prompt: true, return_dict: false, tools, custom_flag: true } as never) as unknown as { data: ArrayLike<bigint> };
    expect(tok.encodeChat(messages, { tools, variables: { custom_flag: true } })).toEqual(Array.from(refIds.data, Number));
    expect(() => tok.applyChatTemplate([{ role: 'assistant', content: 'x' }])).toThrow(/applyChatTemplate: .*the first turn must be system or user/);
  }, 120_000);
});
