// Public API of @hydra-ts/decode.
export { SpeculativeDecoder, type GenerateOptions, type GenerateResult, type StepEvent } from './decoder';
export type { StopReason } from '@hydra-ts/model';
export { DecodeStats } from './stats';
export { OracleHead, RandomHead } from './testing';
