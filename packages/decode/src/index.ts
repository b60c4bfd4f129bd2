// Public API of @hydra-ts/decode.
export { SpeculativeDecoder, type GenerateOptions, type GenerateResult, type StepEvent, type StopReason } from './decoder';
export { DecodeStats } from './stats';
export { OracleHead, RandomHead } from './testing';
