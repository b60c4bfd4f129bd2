// Public API of @hydra-ts/cli: the command implementations, for scripting.
export { runGenerate, type GenerateFlags } from './commands/generate';
export { runChat, type ChatFlags } from './commands/chat';
export { runConvert, type ConvertFlags } from './commands/convert';
export { UsageError } from './errors';
export { runDistill, type DistillFlags } from './commands/distill';
export { runTrain, type TrainFlags } from './commands/train';
export { runBench, type BenchFlags } from './commands/bench';
export { runTune, type TuneFlags } from './commands/tune';
