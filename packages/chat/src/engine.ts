// OpenAI-shaped chat completions over one model (and optionally one draft head):
// `engine.chat.completions.create({ messages, stream })` returns a ChatCompletion, or with
// stream: true an async iterable of ChatCompletionChunk, field for field as the OpenAI API names
// them, so a server can pass them through. Requests run one at a time in the engine's session,
// whose KV cache carries over: a request that continues the previous conversation prefills only
// the new turn.
import { OptionError } from '@hydra-ts/tensor';
import type { ChatMessage, LlamaModel } from '@hydra-ts/model';
import { ChatSession, type ChatOptions, type ChatResult, type ChatSessionOptions, type ChatStream, type FinishReason } from './session';

export interface ChatCompletionRequest {
  messages: ChatMessage[];
  /** Accepted for compatibility; the engine's model answers whatever is named. */
  model?: string;
  stream?: boolean;
  stream_options?: { include_usage?: boolean } | null;
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  stop?: string | string[] | null;
  temperature?: number | null;
  top_p?: number | null;
  /** Not in the OpenAI API (vLLM and others accept it). */
  top_k?: number | null;
  seed?: number | null;
  /** Only 1. */
  n?: number | null;
  /** Extra template variables (e.g. enable_thinking), as vLLM's chat_template_kwargs. */
  chat_template_kwargs?: Record<string, unknown> | null;
  /** Ends the generation (finish_reason 'abort'). */
  signal?: AbortSignal;
}

export interface ChatCompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
}

/** Decoding statistics beyond the OpenAI fields. */
export interface HydraStats {
  promptTokenIds: number[];
  tokenIds: number[];
  /** τ: mean tokens per decoding step. */
  meanAcceptedLength: number;
  tokensPerSecond: number;
  steps: number;
  elapsedMs: number;
  prefillMs: number;
  decoder: string;
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: Array<{ index: 0; message: { role: 'assistant'; content: string }; finish_reason: FinishReason; logprobs: null }>;
  usage: ChatCompletionUsage;
  hydra: HydraStats;
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  /** Empty in the usage chunk that ends a stream with stream_options.include_usage. */
  choices: Array<{ index: 0; delta: { role?: 'assistant'; content?: string }; finish_reason: FinishReason | null; logprobs: null }>;
  /** On the last chunk only, when stream_options.include_usage. */
  usage?: ChatCompletionUsage | null;
  /** On the chunk with the finish_reason. */
  hydra?: HydraStats;
}

export interface ChatEngineOptions extends ChatSessionOptions {
  /** Reported as `model` in completions; default 'hydra'. */
  name?: string;
}

export class ChatEngine {
  readonly model: LlamaModel;
  readonly name: string;
  /** The session requests run in, one at a time. */
  readonly session: ChatSession;
  readonly chat: { completions: { create: ChatEngine['create'] } };
  private readonly decoderName: string;
  private queue: Promise<void> = Promise.resolve();
  private counter = 0;

  constructor(model: LlamaModel, opts: ChatEngineOptions = {}) {
    this.model = model;
    this.name = opts.name ?? 'hydra';
    this.session = new ChatSession(model, opts);
    this.decoderName = opts.head ? opts.head.name : 'ar';
    this.chat = { completions: { create: this.create.bind(this) as ChatEngine['create'] } };
  }

  create(req: ChatCompletionRequest & { stream: true }): Promise<AsyncIterable<ChatCompletionChunk>>;
  create(req: ChatCompletionRequest & { stream?: false | null }): Promise<ChatCompletion>;
  create(req: ChatCompletionRequest): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>>;
  async create(req: ChatCompletionRequest): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>> {
    const opts = chatOptions(req);
    const id = `chatcmpl-${++this.counter}`;
    const created = Math.floor(Date.now() / 1000);
    const release = await this.turn();
    let reply: ChatStream;
    try {
      reply = this.session.send(req.messages, opts);
    } catch (e) {
      release();
      throw e;
    }
    if (!req.stream) {
      try {
        const r = await reply.result();
        return {
          id,
          object: 'chat.completion',
          created,
          model: this.name,
          choices: [{ index: 0, message: { role: 'assistant', content: r.text }, finish_reason: r.finishReason, logprobs: null }],
          usage: usage(r),
          hydra: this.stats(r),
        };
      } finally {
        release();
      }
    }
    const includeUsage = req.stream_options?.include_usage ?? false;
    const chunk = (delta: ChatCompletionChunk['choices'][0]['delta'], finish: FinishReason | null): ChatCompletionChunk => ({
      id,
      object: 'chat.completion.chunk',
      created,
      model: this.name,
      choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
    });
    const self = this;
    let released = false;
    const free = () => {
      if (!released) release();
      released = true;
    };
    async function* chunks(): AsyncGenerator<ChatCompletionChunk> {
      try {
        yield chunk({ role: 'assistant', content: '' }, null);
        for await (const d of reply) yield chunk({ content: d.text }, null);
        const r = await reply.result();
        yield { ...chunk({}, r.finishReason), hydra: self.stats(r) };
        if (includeUsage) yield { id, object: 'chat.completion.chunk', created, model: self.name, choices: [], usage: usage(r) };
      } finally {
        free();
      }
    }
    const gen = chunks();
    // Ending a stream that was never iterated (a client gone before the first chunk) frees the engine too.
    return {
      [Symbol.asyncIterator]: () => ({
        next: () => gen.next(),
        return: async (value?: unknown) => {
          free();
          return gen.return(value as never);
        },
      }),
    };
  }

  dispose(): void {
    this.session.dispose();
  }

  /** Waits for the requests before this one; resolves to the function that lets the next one run. */
  private async turn(): Promise<() => void> {
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const before = this.queue;
    this.queue = before.then(() => mine);
    await before;
    return release;
  }

  private stats(r: ChatResult): HydraStats {
    return {
      promptTokenIds: r.promptTokenIds,
      tokenIds: r.tokenIds,
      meanAcceptedLength: r.meanAcceptedLength,
      tokensPerSecond: r.tokensPerSecond,
      steps: r.steps,
      elapsedMs: r.elapsedMs,
      prefillMs: r.prefillMs,
      decoder: this.decoderName,
    };
  }
}

function usage(r: ChatResult): ChatCompletionUsage {
  const u = r.usage;
  return { prompt_tokens: u.promptTokens, completion_tokens: u.completionTokens, total_tokens: u.totalTokens, prompt_tokens_details: { cached_tokens: u.cachedPromptTokens } };
}

/** The request's fields as ChatOptions; null means unset, as in the OpenAI API. */
function chatOptions(req: ChatCompletionRequest): ChatOptions {
  if (typeof req !== 'object' || req === null) throw new OptionError('chat.completions.create: expected a request object { messages, ... }');
  const v = <T>(x: T | null | undefined): T | undefined => (x === null ? undefined : x);
  if (req.n !== undefined && req.n !== null && req.n !== 1) throw new OptionError(`n = ${JSON.stringify(req.n)}; only one choice per request (n = 1) is supported`);
  if (req.stream !== undefined && req.stream !== null && typeof req.stream !== 'boolean') throw new OptionError(`stream = ${JSON.stringify(req.stream)}; expected true or false`);
  const maxTokens = v(req.max_completion_tokens) ?? v(req.max_tokens);
  return {
    maxTokens,
    stop: v(req.stop),
    temperature: v(req.temperature),
    topP: v(req.top_p),
    topK: v(req.top_k),
    seed: v(req.seed),
    signal: req.signal,
    templateVariables: v(req.chat_template_kwargs),
  };
}
