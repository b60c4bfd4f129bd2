// The page's side: the same chat API as ChatEngine (chat.completions.create, completions.create;
// streams as async iterables; abort through an AbortSignal or by leaving the loop), with every
// request answered by the worker. Nothing here decodes, so the page's thread stays free.
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, Completion, CompletionChunk, CompletionRequest } from '@hydra-ts/chat';
import type { DispatchFloor, EngineConfig, EngineInfo, EngineProgress, FromWorker, MessageEndpoint, ToWorker, WireError, WorkerRequestExtras } from './protocol';

/** An error raised in the worker (its class name in `name`), or a misuse of the engine. */
export class WorkerEngineError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

export interface LoadCallbacks {
  /** Called as files arrive, trees are tuned and kernels compile. */
  onProgress?: (p: EngineProgress) => void;
}

export type WorkerChatRequest = ChatCompletionRequest & WorkerRequestExtras;
export type WorkerCompletionRequest = CompletionRequest & WorkerRequestExtras;

/** What the page is waiting for on one request id. */
interface Pending {
  onMessage(m: FromWorker): void;
}

export class WorkerEngine {
  /** Set once load() has resolved. */
  info: EngineInfo | null = null;
  readonly chat: { completions: { create: WorkerEngine['createChat'] } };
  readonly completions: { create: WorkerEngine['createCompletion'] };
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  private readonly listener = (event: { data: unknown }) => {
    const m = event.data as FromWorker;
    if (typeof m === 'object' && m !== null && typeof m.id === 'number') this.pending.get(m.id)?.onMessage(m);
  };

  /** `endpoint`: a Worker running serveEngine (or a MessagePort to one). */
  constructor(private readonly endpoint: MessageEndpoint & { terminate?(): void }) {
    endpoint.addEventListener('message', this.listener);
    endpoint.start?.();
    this.chat = { completions: { create: this.createChat.bind(this) as WorkerEngine['createChat'] } };
    this.completions = { create: this.createCompletion.bind(this) as WorkerEngine['createCompletion'] };
  }

  /** Loads the model and heads in the worker (replacing what it held); resolves when requests can be sent. */
  load(config: EngineConfig, callbacks: LoadCallbacks = {}): Promise<EngineInfo> {
    return new Promise((resolve, reject) => {
      const id = this.send({ type: 'load', id: this.nextId, config }, (m) => {
        if (m.type === 'progress') return callbacks.onProgress?.(m.progress);
        this.pending.delete(id);
        if (m.type === 'loaded') {
          this.info = m.info;
          resolve(m.info);
        } else if (m.type === 'error') {
          reject(remoteError(m.error));
        }
      });
      if (id < 0) reject(this.closedError());
    });
  }

  createChat(req: WorkerChatRequest & { stream: true }): Promise<AsyncIterable<ChatCompletionChunk>>;
  createChat(req: WorkerChatRequest & { stream?: false | null }): Promise<ChatCompletion>;
  createChat(req: WorkerChatRequest): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>>;
  createChat(req: WorkerChatRequest): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>> {
    return this.request<ChatCompletion, ChatCompletionChunk>('chat', req);
  }

  createCompletion(req: WorkerCompletionRequest & { stream: true }): Promise<AsyncIterable<CompletionChunk>>;
  createCompletion(req: WorkerCompletionRequest & { stream?: false | null }): Promise<Completion>;
  createCompletion(req: WorkerCompletionRequest): Promise<Completion | AsyncIterable<CompletionChunk>>;
  createCompletion(req: WorkerCompletionRequest): Promise<Completion | AsyncIterable<CompletionChunk>> {
    return this.request<Completion, CompletionChunk>('complete', req);
  }

  /**
   * The device's floor in the worker: the time of a step of n trivial dispatches and one
   * read-back, for each n in `counts` (e.g. a decoder's dispatchesPerStep, from its statistics).
   * A decoder's step over the floor for its count says how far it is from what the device allows.
   */
  measureFloor(counts: number[], opts: { reps?: number } = {}): Promise<DispatchFloor[]> {
    return new Promise((resolve, reject) => {
      const id = this.send({ type: 'floor', id: this.nextId, counts, reps: opts.reps }, (m) => {
        this.pending.delete(id);
        if (m.type === 'floor') resolve(m.floor);
        else if (m.type === 'error') reject(remoteError(m.error));
      });
      if (id < 0) reject(this.closedError());
    });
  }

  /** Frees the model and heads in the worker (the worker keeps running). */
  unload(): Promise<void> {
    return new Promise((resolve, reject) => {
      const id = this.send({ type: 'unload', id: this.nextId }, (m) => {
        this.pending.delete(id);
        this.info = null;
        if (m.type === 'error') reject(remoteError(m.error));
        else resolve();
      });
      if (id < 0) reject(this.closedError());
    });
  }

  /** Stops the worker (when the endpoint is a Worker); pending requests fail. */
  terminate(): void {
    if (this.closed) return;
    this.closed = true;
    this.endpoint.removeEventListener?.('message', this.listener);
    this.endpoint.terminate?.();
    const gone = { name: 'WorkerEngineError', message: 'the engine was terminated' };
    for (const [id, p] of [...this.pending]) p.onMessage({ type: 'error', id, error: gone });
    this.pending.clear();
  }

  /** Posts `msg` and routes its answers to `onMessage`; -1 once terminated. */
  private send(msg: ToWorker, onMessage: (m: FromWorker) => void): number {
    if (this.closed) return -1;
    const id = this.nextId++;
    this.pending.set(id, { onMessage });
    this.endpoint.postMessage({ ...msg, id });
    return id;
  }

  private closedError(): WorkerEngineError {
    return new WorkerEngineError('WorkerEngineError', 'the engine was terminated; create a new WorkerEngine');
  }

  /**
   * Sends a request. Without `stream` it resolves to the worker's result. With it, it resolves once
   * the first chunk arrives (so a bad request rejects here, as with the OpenAI client) to an async
   * iterable of the chunks; leaving the loop early or aborting `signal` stops the generation.
   */
  private request<Whole, Chunk>(type: 'chat' | 'complete', req: { signal?: AbortSignal; stream?: boolean | null } & object): Promise<Whole | AsyncIterable<Chunk>> {
    if (typeof req !== 'object' || req === null) return Promise.reject(new WorkerEngineError('OptionError', 'expected a request object'));
    const { signal, ...wire } = req;
    return new Promise((resolve, reject) => {
      const chunks: Chunk[] = [];
      let ended = false;
      let failure: Error | null = null;
      let wake: (() => void) | null = null;
      let started = false;
      let discard = false; // the consumer left the loop: later chunks are dropped
      const abort = () => {
        if (!ended) this.endpoint.postMessage({ type: 'abort', id } satisfies ToWorker);
      };
      const finish = () => {
        ended = true;
        this.pending.delete(id);
        signal?.removeEventListener('abort', abort);
        wake?.();
      };
      const stream: AsyncIterable<Chunk> = {
        [Symbol.asyncIterator]: () => ({
          next: async (): Promise<IteratorResult<Chunk>> => {
            for (;;) {
              if (chunks.length > 0) return { value: chunks.shift()!, done: false };
              if (failure) throw failure;
              if (ended) return { value: undefined, done: true };
              await new Promise<void>((r) => (wake = r));
              wake = null;
            }
          },
          return: async (): Promise<IteratorResult<Chunk>> => {
            abort();
            discard = true;
            chunks.length = 0;
            return { value: undefined, done: true };
          },
        }),
      };
      const id = this.send({ type, id: this.nextId, request: wire } as ToWorker, (m) => {
        if (m.type === 'result') {
          finish();
          resolve(m.result as Whole);
        } else if (m.type === 'chunk') {
          if (!discard) chunks.push(m.chunk as Chunk);
          if (!started) {
            started = true;
            resolve(stream);
          }
          wake?.();
        } else if (m.type === 'end') {
          finish();
          if (!started) resolve(stream); // aborted before it began: an empty stream
        } else if (m.type === 'error') {
          const e = remoteError(m.error);
          finish();
          if (started) failure = e;
          else reject(e);
          wake?.();
        }
      });
      if (id < 0) return reject(this.closedError());
      if (signal?.aborted) abort();
      else signal?.addEventListener('abort', abort, { once: true });
    });
  }
}

function remoteError(e: WireError): WorkerEngineError {
  return new WorkerEngineError(e.name, e.message);
}

/** Starts a WorkerEngine on `worker` and loads `config` into it. */
export async function createWorkerEngine(worker: MessageEndpoint & { terminate?(): void }, config: EngineConfig, callbacks: LoadCallbacks = {}): Promise<WorkerEngine> {
  const engine = new WorkerEngine(worker);
  try {
    await engine.load(config, callbacks);
  } catch (e) {
    engine.terminate();
    throw e;
  }
  return engine;
}
