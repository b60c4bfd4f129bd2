// Public API of @hydra-ts/worker (the page's side). The worker's side is @hydra-ts/worker/host.
export { WorkerEngine, WorkerEngineError, createWorkerEngine, type LoadCallbacks, type WorkerChatRequest, type WorkerCompletionRequest } from './client';
export type { DispatchFloor, EngineConfig, EngineInfo, EngineModelInfo, EngineProgress, MessageEndpoint, WorkerRequestExtras } from './protocol';
export type { ChatCompletion, ChatCompletionChunk, Completion, CompletionChunk } from '@hydra-ts/chat';
