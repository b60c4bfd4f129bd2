// Conversations from the prompt files chat models are distilled and benchmarked on: ShareGPT
// (a JSON array, or JSONL, of { conversations: [{ from, value }] }), MT-Bench ({ turns: [...] }
// per line) and OpenAI-style { messages: [{ role, content }] }. Each becomes the messages up to and
// including its first user turn (the prompt the model answers).
import type { ChatMessage } from '@hydra-ts/model';
import { ChatError } from './session';

const SHAREGPT_ROLES: Record<string, string> = { human: 'user', user: 'user', gpt: 'assistant', chatgpt: 'assistant', bing: 'assistant', bard: 'assistant', assistant: 'assistant', system: 'system' };

/** The conversations of a ShareGPT, MT-Bench or messages file (JSON array or JSONL); throws ChatError naming the file, record and field. */
export function parseConversations(text: string, file: string): ChatMessage[][] {
  const trimmed = text.trim();
  if (trimmed === '') throw new ChatError(`${file}: empty; expected conversations (ShareGPT JSON, MT-Bench or messages JSONL)`);
  let records: unknown[];
  if (trimmed.startsWith('[')) {
    try {
      records = JSON.parse(trimmed) as unknown[];
    } catch (e) {
      throw new ChatError(`${file}: not valid JSON (${(e as Error).message}); expected an array of conversations`, { cause: e });
    }
  } else {
    records = trimmed.split('\n').flatMap((line, i) => {
      if (line.trim() === '') return [];
      try {
        return [JSON.parse(line) as unknown];
      } catch (e) {
        throw new ChatError(`${file}: line ${i + 1} is not JSON (${(e as Error).message}); expected one conversation a line`, { cause: e });
      }
    });
  }
  const out: ChatMessage[][] = [];
  records.forEach((r, i) => {
    const messages = conversationOf(r, `${file}: record ${i + 1}`);
    if (messages) out.push(messages);
  });
  if (out.length === 0) throw new ChatError(`${file}: no conversation with a user turn among ${records.length} records`);
  return out;
}

/** The messages up to the first user turn, or null for a record without one. */
function conversationOf(r: unknown, where: string): ChatMessage[] | null {
  if (typeof r !== 'object' || r === null || Array.isArray(r)) throw new ChatError(`${where}: ${JSON.stringify(r)?.slice(0, 60)}; expected an object with conversations, turns or messages`);
  const o = r as Record<string, unknown>;
  let messages: ChatMessage[];
  if (Array.isArray(o.conversations)) {
    messages = o.conversations.map((m, j) => {
      const t = m as { from?: unknown; value?: unknown };
      const role = typeof t?.from === 'string' ? SHAREGPT_ROLES[t.from] : undefined;
      if (!role || typeof t.value !== 'string') throw new ChatError(`${where}: conversations[${j}] = ${JSON.stringify(m)?.slice(0, 60)}; expected { from: human | gpt | system, value: string }`);
      return { role, content: t.value };
    });
  } else if (Array.isArray(o.turns)) {
    if (typeof o.turns[0] !== 'string') throw new ChatError(`${where}: turns[0] = ${JSON.stringify(o.turns[0])?.slice(0, 60)}; expected a string`);
    messages = [{ role: 'user', content: o.turns[0] }];
  } else if (Array.isArray(o.messages)) {
    messages = o.messages.map((m, j) => {
      const t = m as { role?: unknown; content?: unknown };
      if (typeof t?.role !== 'string' || typeof t.content !== 'string') throw new ChatError(`${where}: messages[${j}] = ${JSON.stringify(m)?.slice(0, 60)}; expected { role, content } strings`);
      return { role: t.role, content: t.content };
    });
  } else throw new ChatError(`${where}: no conversations, turns or messages array`);
  const first = messages.findIndex((m) => m.role === 'user');
  return first < 0 ? null : messages.slice(0, first + 1);
}
