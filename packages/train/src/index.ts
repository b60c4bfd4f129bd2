// Public API of @hydra-ts/train.
export { Var, Tape, AutogradError, type VarOptions, type CrossEntropyOptions, type AttentionGradOpts, type RopeGradOptions } from './autograd';
export { AdamW, SGD, learningRateAt, type AdamWOptions, type ScheduleOptions } from './optim';
export { gpuGradients, numericGradient, checkGradients, type GradCheckInput, type GradCheckResult, type GradientTolerance } from './gradcheck';
