// Public API of @hydra-ts/verify.
export { VerifyError } from './errors';
export { createRng, Xoshiro128 } from './rng';
export type { Rng } from './rng';
export { warpLogits, sampleFromLogits, sampleCategorical, argmaxOf, checkSamplingOptions } from './warp';
export type { SamplingOptions } from './warp';
export type { Verifier, VerifyInput, VerifyResult } from './verifier';
export { greedyVerifier } from './greedy';
export { typicalVerifier } from './typical';
export type { TypicalOptions } from './typical';
export { samplingVerifier } from './sampling';
