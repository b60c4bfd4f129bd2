// Typed errors of the model package. Each names the file, tensor or field at fault and what was
// expected, so a user can tell a corrupt download from a wrong path or an unsupported model.
import { HydraError } from '@hydra-ts/tensor';

/** A llama2.c checkpoint that is truncated, oversized or has impossible header values. */
export class CheckpointError extends HydraError {}

/** A tokenizer file that cannot be parsed, or a token id outside the vocabulary. */
export class TokenizerError extends HydraError {}

/** A safetensors file with a broken header, unknown dtype, or out-of-range data offsets. */
export class SafetensorsError extends HydraError {}

/** A model configuration with impossible or unsupported values (dims, architecture). */
export class ConfigError extends HydraError {}

/** A weight tensor that is missing or has the wrong shape. */
export class WeightError extends HydraError {}

/** A file that a loader needs but the file source cannot provide. */
export class FileSourceError extends HydraError {}

/**
 * A text that needs more tokens than allowed (EncodeOptions.maxTokens), e.g. a prompt longer than
 * the context. `atLeast` is a lower bound on its token count when encoding stopped early.
 */
export class TokenLimitError extends TokenizerError {
  readonly limit: number;
  readonly atLeast: number;
  constructor(limit: number, atLeast: number, what = 'the text') {
    super(`${what} needs at least ${atLeast} tokens, more than the limit of ${limit}`);
    this.limit = limit;
    this.atLeast = atLeast;
  }
}
