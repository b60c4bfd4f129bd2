// The OpenAI-compatible HTTP API over an Engine, on fastify:
//   POST /v1/chat/completions, POST /v1/completions (JSON, or server-sent events with stream: true),
//   GET /v1/models, GET /health.
// Requests wait their turn in a bounded queue (429 + Retry-After when it is full); a client that
// goes away cancels its generation, or its place in the queue; close() lets the requests already
// accepted finish.
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { HydraError } from '@hydra-ts/tensor';
import { TokenLimitError } from '@hydra-ts/model';
import type { Engine, EngineChunk, EngineResult } from './engine';
import { AbortedError, QueueFullError, RequestError } from './errors';
import { RequestQueue } from './queue';
import { parseChatRequest, parseCompletionRequest, type ApiRequest } from './request';

export interface ServerOptions {
  /** Requests that may wait while one generates (default 16); more get 429. */
  maxQueue?: number;
  /** fastify's request log (default off). */
  logger?: boolean;
  /** Largest request body in bytes (default 1 MiB). */
  bodyLimit?: number;
}

export interface HydraServer {
  readonly app: FastifyInstance;
  readonly queue: RequestQueue;
  /** Starts listening; resolves the base URL, e.g. http://127.0.0.1:8080. Port 0 picks a free port. */
  listen(opts?: { host?: string; port?: number }): Promise<string>;
  /** Stops accepting connections and resolves once the requests already accepted are answered. */
  close(): Promise<void>;
}

type Kind = 'chat' | 'text';

function errorBody(message: string, type: string, param: string | null, code: string | null) {
  return { error: { message, type, param, code } };
}

export function createServer(engine: Engine, opts: ServerOptions = {}): HydraServer {
  const queue = new RequestQueue(opts.maxQueue ?? 16);
  const created = Math.floor(Date.now() / 1000);
  const app = Fastify({ logger: opts.logger ?? false, bodyLimit: opts.bodyLimit ?? 1 << 20 });

  app.setErrorHandler((error: FastifyError | Error, _request, reply) => {
    if (error instanceof RequestError) return reply.code(error.status).send(errorBody(error.message, error.type, error.param, error.code));
    if (error instanceof QueueFullError) {
      return reply.code(429).header('retry-after', String(error.retryAfterSeconds)).send(errorBody(error.message, 'rate_limit_error', null, 'queue_full'));
    }
    const fe = error as FastifyError;
    if (fe.code?.startsWith('FST_ERR_CTP_INVALID_JSON') || fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || error instanceof SyntaxError) {
      return reply.code(400).send(errorBody(`the request body is not valid JSON: ${error.message}`, 'invalid_request_error', null, 'invalid_json'));
    }
    if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
      return reply.code(fe.statusCode).send(errorBody(error.message, 'invalid_request_error', null, fe.code ?? null));
    }
    // The engine's own checks (a prompt it cannot encode, options out of range) are the client's to fix.
    if (error instanceof HydraError) return reply.code(400).send(errorBody(error.message, 'invalid_request_error', null, error.name));
    return reply.code(500).send(errorBody(`internal error: ${error.message}`, 'server_error', null, null));
  });
  // Once closing, every answer ends its connection, so close() need not wait out keep-alive.
  let closing = false;
  app.addHook('onSend', async (_request, reply, payload) => {
    if (closing) reply.header('connection', 'close');
    return payload;
  });
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send(errorBody(`no route ${request.method} ${request.url}`, 'invalid_request_error', null, 'not_found'));
  });

  app.get('/health', async () => ({ status: 'ok', model: engine.id, ...engine.info, queue: { running: queue.running, waiting: queue.waiting, max: queue.maxWaiting } }));
  app.get('/v1/models', async () => ({ object: 'list', data: [modelCard()] }));
  app.get('/v1/models/:id', async (request: FastifyRequest<{ Params: { id: string } }>) => {
    checkModel(request.params.id, 'id');
    return modelCard();
  });
  app.post('/v1/completions', (request, reply) => serve('text', parseCompletionRequest(request.body), reply));
  app.post('/v1/chat/completions', (request, reply) => serve('chat', parseChatRequest(request.body), reply));

  function modelCard() {
    return { id: engine.id, object: 'model', created, owned_by: 'hydra-ts', context_length: engine.contextLength };
  }

  function checkModel(model: string | undefined, param = 'model'): void {
    if (model !== undefined && model !== engine.id) {
      throw new RequestError(`The model '${model}' does not exist; this server serves '${engine.id}'`, param, 'model_not_found', 404);
    }
  }

  /** Refuses, before it waits, a request whose prompt and max_tokens do not fit the context. */
  function checkContext(kind: Kind, api: ApiRequest): void {
    const param = kind === 'chat' ? 'messages' : 'prompt';
    let promptTokens: number;
    try {
      promptTokens = engine.countPromptTokens(api.engine.input);
    } catch (e) {
      // A tokenizer that stopped encoding at the context's size: too long, whatever the count.
      if (!(e instanceof TokenLimitError)) throw e;
      throw new RequestError(`the prompt has at least ${e.atLeast} tokens; the model's context holds ${engine.contextLength}`, param, 'context_length_exceeded');
    }
    if (promptTokens >= engine.contextLength) {
      throw new RequestError(`the prompt has ${promptTokens} tokens; the model's context holds ${engine.contextLength}, leaving no room to generate`, param, 'context_length_exceeded');
    }
    const max = api.engine.maxTokens;
    if (max !== undefined && promptTokens + max > engine.contextLength) {
      throw new RequestError(
        `the prompt has ${promptTokens} tokens and max_tokens is ${max}: ${promptTokens + max} is more than the ${engine.contextLength} tokens of the model's context`,
        'max_tokens',
        'context_length_exceeded',
      );
    }
  }

  async function serve(kind: Kind, api: ApiRequest, reply: FastifyReply): Promise<unknown> {
    checkModel(api.model);
    checkContext(kind, api);
    // A client that goes away (the response closes before it is finished) cancels its request.
    const gone = new AbortController();
    reply.raw.on('close', () => {
      if (!reply.raw.writableFinished) gone.abort();
    });
    const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID().replace(/-/g, '')}`;
    const head = { id, object: kind === 'chat' ? 'chat.completion' : 'text_completion', created: Math.floor(Date.now() / 1000), model: engine.id };
    try {
      return await queue.run(async () => {
        const run = engine.generate(api.engine, gone.signal);
        if (!api.stream) {
          const result = await drain(run);
          return { ...head, choices: [choice(kind, result.text, result.finishReason)], usage: usage(result), hydra: extras(result) };
        }
        await stream(kind, api, head, run, reply);
        return reply;
      }, gone.signal);
    } catch (e) {
      if (e instanceof AbortedError) return reply; // nobody is listening
      throw e;
    }
  }

  async function stream(kind: Kind, api: ApiRequest, head: Record<string, unknown>, run: AsyncGenerator<EngineChunk, EngineResult, void>, reply: FastifyReply): Promise<void> {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: closing ? 'close' : 'keep-alive', 'x-accel-buffering': 'no' });
    const object = kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';
    const send = (data: unknown) => {
      if (!res.destroyed) res.write(`data: ${JSON.stringify(data)}\n\n`);
    };
    const delta = (text: string, finish: string | null, first = false) =>
      kind === 'chat'
        ? { index: 0, delta: first ? { role: 'assistant', content: text } : finish ? {} : { content: text }, logprobs: null, finish_reason: finish }
        : { index: 0, text, logprobs: null, finish_reason: finish };
    try {
      if (kind === 'chat') send({ ...head, object, choices: [delta('', null, true)] });
      let result: EngineResult;
      for (;;) {
        const next = await run.next();
        if (next.done) {
          result = next.value;
          break;
        }
        send({ ...head, object, choices: [delta(next.value.text, null)] });
      }
      send({ ...head, object, choices: [delta('', result.finishReason)], hydra: extras(result) });
      if (api.includeUsage) send({ ...head, object, choices: [], usage: usage(result) });
      if (!res.destroyed) res.write('data: [DONE]\n\n');
    } catch (e) {
      // Headers are gone: the error travels as an event, as OpenAI's API does mid-stream.
      const message = e instanceof Error ? e.message : String(e);
      send(errorBody(message, e instanceof HydraError ? 'invalid_request_error' : 'server_error', null, null));
    } finally {
      res.end(() => {
        if (closing) res.socket?.end();
      });
    }
  }

  return {
    app,
    queue,
    async listen({ host = '127.0.0.1', port = 8080 } = {}) {
      await app.listen({ host, port });
      const address = app.server.address();
      const actual = typeof address === 'object' && address ? address.port : port;
      return `http://${host.includes(':') ? `[${host}]` : host}:${actual}`;
    },
    async close() {
      closing = true;
      const closed = app.close();
      await queue.idle();
      app.server.closeIdleConnections();
      await closed;
    },
  };
}

async function drain(run: AsyncGenerator<EngineChunk, EngineResult, void>): Promise<EngineResult> {
  for (;;) {
    const next = await run.next();
    if (next.done) return next.value;
  }
}

function choice(kind: Kind, text: string, finishReason: string) {
  return kind === 'chat'
    ? { index: 0, message: { role: 'assistant', content: text }, logprobs: null, finish_reason: finishReason }
    : { index: 0, text, logprobs: null, finish_reason: finishReason };
}

function usage(result: EngineResult) {
  const counts = { prompt_tokens: result.promptTokens, completion_tokens: result.completionTokens, total_tokens: result.promptTokens + result.completionTokens };
  return result.cachedPromptTokens === undefined ? counts : { ...counts, prompt_tokens_details: { cached_tokens: result.cachedPromptTokens } };
}

/** τ and speed: fields of this server's own, beside OpenAI's. */
function extras(result: EngineResult) {
  return { tau: result.meanAcceptedLength, tokens_per_second: result.tokensPerSecond, steps: result.steps, elapsed_ms: result.elapsedMs };
}
