// Public API of @hydra-ts/chat.
export { ChatSession, ChatError, encodeMessages, hasChatTemplate, type ChatOptions, type ChatResult, type ChatStream, type ChatDelta, type ChatUsage, type ChatSessionOptions, type FinishReason } from './session';
export { ChatEngine, type ChatEngineOptions, type ChatCompletionRequest, type ChatCompletion, type ChatCompletionChunk, type ChatCompletionUsage, type HydraStats, type CompletionRequest, type Completion, type CompletionChunk } from './engine';
export { StopText } from './stop-text';
export { parseConversations } from './conversations';
export { SessionBusyError } from '@hydra-ts/decode';
