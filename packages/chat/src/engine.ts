// OpenAI-shaped chat completions over one model (and optionally one draft head):
// `engine.chat.completions.create({ messages, stream })` returns a ChatCompletion, or with
// stream: true an async iterable of ChatCompletionChunk, field for field as the OpenAI API names
// them, so a server can pass them through. Requests run one at a time in the engine's session,
// whose KV cache carries over: a request that continues the previous conversation prefills only
// the new turn.
import { OptionError } from '@hydra-ts/tensor';
import type { ChatMessage, LlamaModel } from '@hydra-ts/model';
import { ChatError, ChatSession, type ChatOptions, type ChatResult, type ChatSessionOptions, type ChatStream, type FinishReason } from './session';

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
  /** GPU dispatches per decoding step: with elapsed time over steps, the step held against the device's floor. */
  dispatchesPerStep: number;
  /** Time per phase summed over the steps: the base model's pass, the heads' drafting, verification, committing. */
  timing: { baseMs: number; headMs: number; verifyMs: number; commitMs: number };
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

export interface CompletionRequest extends Omit<ChatCompletionRequest, 'messages' | 'chat_template_kwargs'> {
  /** Text continued as it is (the tokenizer's BOS first, as the model was trained). */
  prompt: string;
}

export interface Completion {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  choices: Array<{ index: 0; text: string; finish_reason: FinishReason; logprobs: null }>;
  usage: ChatCompletionUsage;
  hydra: HydraStats;
}

export interface CompletionChunk {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  /** Empty in the usage chunk that ends a stream with stream_options.include_usage. */
  choices: Array<{ index: 0; text: string; finish_reason: FinishReason | null; logprobs: null }>;
  usage?: ChatCompletionUsage | null;
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
  /** Text completions (no chat template), as OpenAI's completions API. */
  readonly completions: { create: ChatEngine['complete'] };
  private readonly decoderName: string;
  private queue: Promise<void> = Promise.resolve();
  private counter = 0;

  constructor(model: LlamaModel, opts: ChatEngineOptions = {}) {
    this.model = model;
    this.name = opts.name ?? 'hydra';
    this.session = new ChatSession(model, opts);
    this.decoderName = opts.head ? opts.head.name : 'ar';
    this.chat = { completions: { create: this.create.bind(this) as ChatEngine['create'] } };
    this.completions = { create: this.complete.bind(this) as ChatEngine['complete'] };
  }

  create(req: ChatCompletionRequest & { stream: true }): Promise<AsyncIterable<ChatCompletionChunk>>;
  create(req: ChatCompletionRequest & { stream?: false | null }): Promise<ChatCompletion>;
  create(req: ChatCompletionRequest): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>>;
  async create(req: ChatCompletionRequest): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>> {
    const opts = chatOptions(req);
    const id = `chatcmpl-${++this.counter}`;
    const created = Math.floor(Date.now() / 1000);
    const head = { id, created, model: this.name };
    return this.respond<ChatCompletion, ChatCompletionChunk>(req, () => this.session.send(req.messages, opts), {
      whole: (r): ChatCompletion => ({
        ...head,
        object: 'chat.completion',
        choices: [{ index: 0, message: { role: 'assistant', content: r.text }, finish_reason: r.finishReason, logprobs: null }],
        usage: usage(r),
        hydra: this.stats(r),
      }),
      first: () => ({ ...head, object: 'chat.completion.chunk', choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null, logprobs: null }] }),
      piece: (text, finish) => ({ ...head, object: 'chat.completion.chunk', choices: [{ index: 0, delta: text === null ? {} : { content: text }, finish_reason: finish, logprobs: null }] }),
      usage: (r) => ({ ...head, object: 'chat.completion.chunk', choices: [], usage: usage(r) }),
    });
  }

  /**
   * A text completion in the shape of OpenAI's (legacy) completions API: `prompt` is continued as
   * it is, with no chat template (a base model, a story opening). Same options, streaming and
   * statistics as chat.completions.create.
   */
  complete(req: CompletionRequest & { stream: true }): Promise<AsyncIterable<CompletionChunk>>;
  complete(req: CompletionRequest & { stream?: false | null }): Promise<Completion>;
  complete(req: CompletionRequest): Promise<Completion | AsyncIterable<CompletionChunk>>;
  async complete(req: CompletionRequest): Promise<Completion | AsyncIterable<CompletionChunk>> {
    const opts = chatOptions(req);
    if (typeof req.prompt !== 'string') throw new OptionError(`prompt = ${JSON.stringify(req.prompt)}; expected a string`);
    const tokenizer = this.model.tokenizer;
    if (!tokenizer) throw new ChatError('the model has no tokenizer: it cannot read a text prompt');
    // The context bounds the prompt: an over-long text is a TokenLimitError before it is fully encoded.
    const promptIds = tokenizer.encode(req.prompt, { addSpecialTokens: true, maxTokens: this.session.decode.capacity });
    const id = `cmpl-${++this.counter}`;
    const created = Math.floor(Date.now() / 1000);
    const head = { id, object: 'text_completion' as const, created, model: this.name };
    return this.respond<Completion, CompletionChunk>(req, () => this.session.complete(promptIds, opts), {
      whole: (r): Completion => ({ ...head, choices: [{ index: 0, text: r.text, finish_reason: r.finishReason, logprobs: null }], usage: usage(r), hydra: this.stats(r) }),
      first: null,
      piece: (text, finish) => ({ ...head, choices: [{ index: 0, text: text ?? '', finish_reason: finish, logprobs: null }] }),
      usage: (r) => ({ ...head, choices: [], usage: usage(r) }),
    });
  }

  /**
   * Runs one request in its turn: the whole result, or a stream of chunks (an opening chunk, one per
   * piece of text, one with the finish_reason and the statistics, and the usage chunk when asked).
   */
  private async respond<Whole, Chunk extends { hydra?: HydraStats }>(
    req: { stream?: boolean | null; stream_options?: { include_usage?: boolean } | null },
    start: () => ChatStream,
    shape: {
      whole: (r: ChatResult) => Whole;
      first: (() => Chunk) | null;
      piece: (text: string | null, finish: FinishReason | null) => Chunk;
      usage: (r: ChatResult) => Chunk;
    },
  ): Promise<Whole | AsyncIterable<Chunk>> {
    const release = await this.turn();
    let reply: ChatStream;
    try {
      reply = start();
    } catch (e) {
      release();
      throw e;
    }
    if (!req.stream) {
      try {
        return shape.whole(await reply.result());
      } finally {
        release();
      }
    }
    const includeUsage = req.stream_options?.include_usage ?? false;
    const self = this;
    let released = false;
    const free = () => {
      if (!released) release();
      released = true;
    };
    async function* chunks(): AsyncGenerator<Chunk> {
      try {
        if (shape.first) yield shape.first();
        for await (const d of reply) yield shape.piece(d.text, null);
        const r = await reply.result();
        yield { ...shape.piece(null, r.finishReason), hydra: self.stats(r) };
        if (includeUsage) yield shape.usage(r);
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
      dispatchesPerStep: r.dispatchesPerStep,
      timing: r.timing,
      decoder: this.decoderName,
    };
  }
}

function usage(r: ChatResult): ChatCompletionUsage {
  const u = r.usage;
  return { prompt_tokens: u.promptTokens, completion_tokens: u.completionTokens, total_tokens: u.totalTokens, prompt_tokens_details: { cached_tokens: u.cachedPromptTokens } };
}

/** The request's fields as ChatOptions; null means unset, as in the OpenAI API. */
function chatOptions(req: ChatCompletionRequest | CompletionRequest): ChatOptions {
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
    templateVariables: 'chat_template_kwargs' in req ? v(req.chat_template_kwargs) : undefined,
  };
}
