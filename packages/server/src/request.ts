// OpenAI request bodies → EngineRequest, checked field by field: a wrong field is a 400 naming it.
import type { ChatMessage, EngineInput, EngineRequest } from './engine';
import { RequestError } from './errors';

export interface ApiRequest {
  model: string | undefined;
  stream: boolean;
  /** stream_options.include_usage: a last chunk with the usage. */
  includeUsage: boolean;
  engine: EngineRequest;
}

type Body = Record<string, unknown>;

const ROLES = ['system', 'user', 'assistant', 'developer'] as const;
/** OpenAI's default max_tokens for /v1/completions. */
export const COMPLETION_DEFAULT_MAX_TOKENS = 16;

function isObject(v: unknown): v is Body {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optional<T>(body: Body, name: string, check: (v: unknown) => T): T | undefined {
  const v = body[name];
  return v === undefined || v === null ? undefined : check(v);
}

function numberIn(name: string, min: number, max: number, integer = false) {
  return (v: unknown): number => {
    if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
      throw new RequestError(`'${name}' must be ${integer ? 'an integer' : 'a number'}, got ${JSON.stringify(v)}`, name, 'invalid_type');
    }
    if (v < min || v > max) throw new RequestError(`'${name}' is ${v}; expected ${integer ? 'an integer' : 'a number'} in [${min}, ${max}]`, name);
    return v;
  };
}

function boolean(name: string) {
  return (v: unknown): boolean => {
    if (typeof v !== 'boolean') throw new RequestError(`'${name}' must be a boolean, got ${JSON.stringify(v)}`, name, 'invalid_type');
    return v;
  };
}

function stopList(v: unknown): string[] {
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || list.some((s) => typeof s !== 'string' || s === '') || list.length > 4) {
    throw new RequestError(`'stop' must be a non-empty string or a list of at most 4 of them, got ${JSON.stringify(v)}`, 'stop', 'invalid_type');
  }
  return list as string[];
}

/** Fields every client sends that change nothing here, unless set to what this server cannot do. */
function checkUnsupported(body: Body): void {
  const n = optional(body, 'n', numberIn('n', 1, 128, true));
  if (n !== undefined && n !== 1) throw new RequestError(`'n' is ${n}; this server returns one choice per request (n = 1)`, 'n', 'unsupported_value');
  for (const name of ['presence_penalty', 'frequency_penalty']) {
    const v = optional(body, name, numberIn(name, -2, 2));
    if (v !== undefined && v !== 0) throw new RequestError(`'${name}' is not supported (only 0)`, name, 'unsupported_value');
  }
  for (const name of ['logprobs', 'top_logprobs', 'echo', 'best_of', 'logit_bias', 'suffix', 'tools', 'functions', 'response_format']) {
    const v = body[name];
    if (v !== undefined && v !== null && v !== false && !(name === 'best_of' && v === 1)) {
      throw new RequestError(`'${name}' is not supported by this server`, name, 'unsupported_parameter');
    }
  }
}

function common(body: Body, maxTokensName: string): Omit<ApiRequest, 'engine'> & { engine: Omit<EngineRequest, 'input'> } {
  if (!isObject(body)) throw new RequestError('the request body must be a JSON object', null, 'invalid_body');
  checkUnsupported(body);
  const model = optional(body, 'model', (v) => {
    if (typeof v !== 'string') throw new RequestError(`'model' must be a string, got ${JSON.stringify(v)}`, 'model', 'invalid_type');
    return v;
  });
  const streamOptions = optional(body, 'stream_options', (v) => {
    if (!isObject(v)) throw new RequestError(`'stream_options' must be an object`, 'stream_options', 'invalid_type');
    return v;
  });
  return {
    model,
    stream: optional(body, 'stream', boolean('stream')) ?? false,
    includeUsage: streamOptions ? (optional(streamOptions, 'include_usage', boolean('stream_options.include_usage')) ?? false) : false,
    engine: {
      maxTokens: optional(body, maxTokensName, numberIn(maxTokensName, 0, Number.MAX_SAFE_INTEGER, true)),
      temperature: optional(body, 'temperature', numberIn('temperature', 0, 2)),
      topP: optional(body, 'top_p', numberIn('top_p', 0, 1)),
      topK: optional(body, 'top_k', numberIn('top_k', 1, Number.MAX_SAFE_INTEGER, true)),
      seed: optional(body, 'seed', numberIn('seed', 0, 2 ** 32 - 1, true)),
      stop: optional(body, 'stop', stopList) ?? [],
    },
  };
}

/** POST /v1/completions */
export function parseCompletionRequest(body: unknown): ApiRequest {
  const base = common(body as Body, 'max_tokens');
  let prompt = (body as Body).prompt;
  // A list of one prompt is the same request; several would need several choices.
  if (Array.isArray(prompt) && prompt.length === 1 && typeof prompt[0] === 'string') prompt = prompt[0];
  if (typeof prompt !== 'string') {
    throw new RequestError(`'prompt' must be a string (or a list of one string), got ${JSON.stringify(prompt) ?? 'nothing'}`, 'prompt', prompt === undefined ? 'missing_required_parameter' : 'invalid_type');
  }
  const input: EngineInput = { kind: 'text', prompt };
  return { ...base, engine: { ...base.engine, maxTokens: base.engine.maxTokens ?? COMPLETION_DEFAULT_MAX_TOKENS, input } };
}

/** POST /v1/chat/completions */
export function parseChatRequest(body: unknown): ApiRequest {
  const b = body as Body;
  const maxName = isObject(b) && b.max_completion_tokens !== undefined && b.max_completion_tokens !== null ? 'max_completion_tokens' : 'max_tokens';
  const base = common(b, maxName);
  const messages = b.messages;
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new RequestError(`'messages' must be a non-empty list of { role, content }`, 'messages', messages === undefined ? 'missing_required_parameter' : 'invalid_type');
  }
  const parsed: ChatMessage[] = messages.map((m, i) => {
    const param = `messages[${i}]`;
    if (!isObject(m)) throw new RequestError(`'${param}' must be an object with role and content`, param, 'invalid_type');
    if (!(ROLES as readonly unknown[]).includes(m.role)) throw new RequestError(`'${param}.role' is ${JSON.stringify(m.role)}; expected one of ${ROLES.join(', ')}`, `${param}.role`);
    let content = m.content;
    // Content parts: only text ones.
    if (Array.isArray(content)) {
      if (!content.every((p) => isObject(p) && p.type === 'text' && typeof p.text === 'string')) {
        throw new RequestError(`'${param}.content' has a part that is not text; this server reads text only`, `${param}.content`, 'unsupported_value');
      }
      content = content.map((p) => (p as { text: string }).text).join('');
    }
    if (typeof content !== 'string') throw new RequestError(`'${param}.content' must be a string, got ${JSON.stringify(content)}`, `${param}.content`, 'invalid_type');
    return { role: m.role === 'developer' ? 'system' : (m.role as ChatMessage['role']), content };
  });
  return { ...base, engine: { ...base.engine, input: { kind: 'chat', messages: parsed } } };
}
