// Public API of @hydra-ts/decode.
export { SpeculativeDecoder, type GenerateOptions, type GenerateResult, type StepEvent } from './decoder';
export { generate, GenerationError, type GenerationOptions, type Generation, type GenerationPiece, type GenerationResult } from './generate';
export { DecodeSession, SessionBusyError, type DecodeRequest, type SessionOptions } from './session';
export type { StopReason } from '@hydra-ts/model';
export { DecodeStats } from './stats';
export { OracleHead, RandomHead } from './testing';
