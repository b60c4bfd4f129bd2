// Prompt files of chat benchmarks and distillation as conversations: the formats of the bundled
// ShareGPT and MT-Bench samples (as their files write them), and bad files as typed errors.
import { describe, expect, it } from 'vitest';
import { parseConversations } from './conversations';
import { ChatError } from './session';

describe('parseConversations', () => {
  it('reads ShareGPT (a JSON array, or JSONL) up to the first human turn, mapping from/value to role/content', () => {
    const rec = (conversations: unknown[]) => ({ id: 'x', conversations });
    const file = JSON.stringify([
      rec([{ from: 'human', value: 'How to stop automatic updates?' }, { from: 'gpt', value: 'Like so.' }, { from: 'human', value: 'Thanks' }]),
      rec([{ from: 'system', value: 'Be brief.' }, { from: 'human', value: 'Hi' }]),
      rec([{ from: 'gpt', value: 'a reply with no question' }]),
    ]);
    expect(parseConversations(file, 'sharegpt.json')).toEqual([
      [{ role: 'user', content: 'How to stop automatic updates?' }],
      [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }],
    ]);
    const jsonl = [rec([{ from: 'human', value: 'one' }]), rec([{ from: 'human', value: 'two' }])].map((r) => JSON.stringify(r)).join('\n');
    expect(parseConversations(jsonl + '\n', 'sharegpt.jsonl')).toEqual([[{ role: 'user', content: 'one' }], [{ role: 'user', content: 'two' }]]);
  });

  it('reads MT-Bench (the first of its turns) and OpenAI-style messages', () => {
    const mt = [
      { question_id: 81, category: 'writing', turns: ['Compose a travel blog post.', 'Rewrite it.'] },
      { question_id: 82, category: 'writing', turns: ['Draft an email.'] },
    ].map((r) => JSON.stringify(r)).join('\n');
    expect(parseConversations(mt, 'question.jsonl')).toEqual([[{ role: 'user', content: 'Compose a travel blog post.' }], [{ role: 'user', content: 'Draft an email.' }]]);
    const messages = JSON.stringify({ messages: [{ role: 'system', content: 's' }, { role: 'user', content: 'u' }, { role: 'assistant', content: 'a' }] });
    expect(parseConversations(messages, 'm.jsonl')).toEqual([[{ role: 'system', content: 's' }, { role: 'user', content: 'u' }]]);
  });

  it.each([
    ['', /x: empty; expected conversations/],
    ['[{"conversations": 3}', /x: not valid JSON/],
    ['{"turns": ["a"]}\nnot json', /x: line 2 is not JSON/],
    ['[42]', /x: record 1: 42; expected an object with conversations, turns or messages/],
    ['[{"conversations": [{"from": "robot", "value": "hi"}]}]', /x: record 1: conversations\[0\] = .*expected \{ from: human \| gpt \| system, value: string \}/],
    ['{"turns": [7]}', /x: record 1: turns\[0\] = 7; expected a string/],
    ['{"messages": [{"role": "user"}]}', /x: record 1: messages\[0\] = .*expected \{ role, content \} strings/],
    ['{"prompt": "a"}', /x: record 1: no conversations, turns or messages array/],
    ['[{"conversations": [{"from": "gpt", "value": "only a reply"}]}]', /x: no conversation with a user turn among 1 records/],
  ])('%j is a ChatError naming the file and what was expected', (text, message) => {
    expect(() => parseConversations(text, 'x')).toThrow(ChatError);
    expect(() => parseConversations(text, 'x')).toThrow(message);
  });
});
