// Public API of @hydra-ts/server.
export { createServer, type HydraServer, type ServerOptions } from './server';
export type { Engine, EngineInput, EngineRequest, EngineChunk, EngineResult, FinishReason, ChatMessage } from './engine';
export { DecoderEngine, type DecoderEngineOptions } from './decoder-engine';
export { RequestQueue } from './queue';
export { RequestError, QueueFullError, AbortedError } from './errors';
export { parseChatRequest, parseCompletionRequest, COMPLETION_DEFAULT_MAX_TOKENS, type ApiRequest } from './request';
