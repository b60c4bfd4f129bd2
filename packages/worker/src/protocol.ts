// The messages between a page (WorkerEngine) and the worker that decodes (serveEngine). Every
// message is structured-clone data; requests carry an id their answers repeat.
import type { DispatchFloor } from '@hydra-ts/tensor';
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, Completion, CompletionChunk, CompletionRequest } from '@hydra-ts/chat';

/** What the worker loads: a model laid out like a Hugging Face repository, and its draft heads. */
export interface EngineConfig {
  /**
   * Base URL of the model's files: config.json, model.safetensors (or model.safetensors.index.json
   * and its shards), tokenizer.json, tokenizer_config.json, generation_config.json if any. For a
   * llama2.c checkpoint, the URL of its directory with `checkpoint` and `tokenizer` naming the files.
   */
  model: string;
  checkpoint?: string;
  tokenizer?: string;
  /**
   * Draft heads by the id requests name in `model`: the URL of each heads .safetensors file.
   * 'ar' (decoding without a head) is always there.
   */
  heads?: Record<string, string>;
  /**
   * The candidate tree of each head id: a built-in tree name (see @hydra-ts/tree). Default: the
   * tree tuned for this device, model and head (tuned once, in a few seconds, and kept in Cache
   * Storage), or plain AR where no tree pays.
   */
  trees?: Record<string, string>;
  /** The id a request without `model` gets: default the first head, else 'ar'. */
  defaultModel?: string;
  /** Weight storage ('f32', 'f16', 'q8', 'q4'); default 'f32'. */
  dtype?: 'f32' | 'f16' | 'q8' | 'q4';
  /** Cap on the context (KV cache rows). */
  maxContext?: number;
  /** Cache Storage cache the files are kept in ('<cache>-trees' holds tuned trees); null: none. Default 'hydra-ts-models'. */
  cache?: string | null;
  /** How a cached file is checked before use: 'headers' (a HEAD request; default) or 'never' (no request). */
  revalidate?: 'headers' | 'never';
  /** Run every engine once before load() resolves, so shaders compile before the first request. Default true. */
  warmup?: boolean;
}

/** Progress of load(), in the spirit of web-llm's init progress report. */
export interface EngineProgress {
  phase: 'fetch' | 'tune' | 'compile';
  /** 0…1 within the phase (fetch: bytes of the files known so far). */
  progress: number;
  text: string;
  /** fetch: the file the event is about. */
  file?: string;
  filesDone?: number;
  filesSeen?: number;
  loadedBytes?: number;
  totalBytes?: number;
  /** Bytes read from Cache Storage rather than downloaded. */
  cachedBytes?: number;
}

/** One engine the worker serves (the `model` a request names). */
export interface EngineModelInfo {
  id: string;
  /** 'ar' or the head's kind (medusa, hydra, hydra++, ...). */
  decoder: string;
  /** Tree name and node count; null for AR. */
  tree: string | null;
  treeSize: number | null;
  /** Why a head decodes as AR (no tree pays on this device), if it does. */
  note?: string;
}

export interface EngineInfo {
  models: EngineModelInfo[];
  defaultModel: string;
  device: string;
  /** Base model: config figures for display. */
  config: { dim: number; nLayers: number; vocabSize: number; maxSeqLen: number };
  /** Whether the tokenizer has a chat template (chat.completions needs one). */
  chatTemplate: boolean;
  loadMs: number;
}

/** A request as it crosses to the worker (no AbortSignal: aborts are messages). */
export type WireChatRequest = Omit<ChatCompletionRequest, 'signal'> & WorkerRequestExtras;
export type WireCompletionRequest = Omit<CompletionRequest, 'signal'> & WorkerRequestExtras;

/** Fields beyond OpenAI's a worker request may carry. */
export interface WorkerRequestExtras {
  /** Decode with this built-in tree instead of the engine's (the request's `model` must name a head). */
  tree?: string;
}

export type ToWorker =
  | { type: 'load'; id: number; config: EngineConfig }
  | { type: 'chat'; id: number; request: WireChatRequest }
  | { type: 'complete'; id: number; request: WireCompletionRequest }
  | { type: 'abort'; id: number }
  | { type: 'floor'; id: number; counts: number[]; reps?: number }
  | { type: 'unload'; id: number };

/** An error as it crosses back: its class name and message (the worker's stack stays there). */
export interface WireError {
  name: string;
  message: string;
}

export type FromWorker =
  | { type: 'progress'; id: number; progress: EngineProgress }
  | { type: 'loaded'; id: number; info: EngineInfo }
  | { type: 'unloaded'; id: number }
  | { type: 'result'; id: number; result: ChatCompletion | Completion }
  | { type: 'chunk'; id: number; chunk: ChatCompletionChunk | CompletionChunk }
  | { type: 'end'; id: number }
  | { type: 'floor'; id: number; floor: DispatchFloor[] }
  | { type: 'error'; id: number; error: WireError };

export type { DispatchFloor };

/** What both ends need of a Worker, a worker's global scope or a MessagePort. */
export interface MessageEndpoint {
  postMessage(message: unknown): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  removeEventListener?(type: 'message', listener: (event: { data: unknown }) => void): void;
  /** MessagePorts deliver nothing until started. */
  start?(): void;
}
