// What the server asks of a model: a small contract, so the HTTP layer is tested against the real
// decoder and any other implementation (another process, a mock in a client's tests) plugs in.

import type { ChatMessage } from '@hydra-ts/model';

export type { ChatMessage };

/** A text prompt (continued as it is) or a conversation (rendered by the engine's chat template). */
export type EngineInput = { kind: 'text'; prompt: string } | { kind: 'chat'; messages: ChatMessage[] };

export interface EngineRequest {
  input: EngineInput;
  /** New tokens at most; undefined: up to the end of the context. */
  maxTokens: number | undefined;
  /** 0 = greedy; undefined: the model's generation_config.json, else 1 (OpenAI's default). */
  temperature?: number;
  topP?: number;
  topK?: number;
  seed?: number;
  /** Text that ends generation; it is not part of the output. */
  stop: string[];
}

/** Text decided since the last chunk. */
export interface EngineChunk {
  text: string;
}

/** Why generation ended, in OpenAI's words: a stop (EOS or a stop string) or a length limit. */
export type FinishReason = 'stop' | 'length';

export interface EngineResult {
  text: string;
  finishReason: FinishReason;
  promptTokens: number;
  completionTokens: number;
  /** Prompt tokens whose KV rows were already held from an earlier request (not prefilled again). */
  cachedPromptTokens?: number;
  /** τ: tokens per base-model step. */
  meanAcceptedLength: number;
  tokensPerSecond: number;
  steps: number;
  elapsedMs: number;
}

export interface Engine {
  /** The model's name in the API (`model` in requests, /v1/models). */
  readonly id: string;
  /** Tokens the context holds, prompt included. */
  readonly contextLength: number;
  /** How it decodes, reported by /health and in responses (e.g. decoder, tree). */
  readonly info: Record<string, string | number | null>;
  /**
   * Tokens `input` takes as a prompt; throws a HydraError for input it cannot encode (a
   * TokenLimitError, from @hydra-ts/model, for one longer than the context).
   */
  countPromptTokens(input: EngineInput): number;
  /**
   * Generates, yielding text as it is decided; returns the result. An aborted `signal` ends it at
   * the next step (the result then holds what was generated).
   */
  generate(request: EngineRequest, signal: AbortSignal): AsyncGenerator<EngineChunk, EngineResult, void>;
}
