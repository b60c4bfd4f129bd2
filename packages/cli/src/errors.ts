import { HydraError } from '@hydra-ts/tensor';

/** A command-line option that is missing, malformed or out of range. */
export class UsageError extends HydraError {}
