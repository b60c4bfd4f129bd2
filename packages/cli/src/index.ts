// Public API of @hydra-ts/cli: the command implementations, for scripting.
export { runGenerate, type GenerateFlags } from './commands/generate';
export { runConvert, type ConvertFlags } from './commands/convert';
export { UsageError } from './errors';
