// Typed errors of draft-head training; each names the option or file at fault and what was expected.
import { HydraError } from '@hydra-ts/tensor';

/** A training option out of range or inconsistent with the model or data. */
export class TrainOptionError extends HydraError {}

/** A training checkpoint that cannot be resumed: missing sidecar, other config, files from different steps. */
export class TrainCheckpointError extends HydraError {}
