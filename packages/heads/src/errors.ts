// Typed errors of the heads package. Each names the option, file or tensor at fault and what was
// expected.
import { HydraError } from '@hydra-ts/tensor';

/** createHead options that make no head (unknown kind, numHeads < 1, layers < 1), or a bad head setting. */
export class HeadOptionError extends HydraError {}

/** A head built for another base model: its dim or vocabulary differs from the model's. */
export class HeadMismatchError extends HydraError {}

/** A head file that is not a hydra-ts heads safetensors file, or lacks / misshapes a tensor. */
export class HeadCheckpointError extends HydraError {}

/** A call the head's state cannot serve: propose before observe, a tree deeper than the heads. */
export class HeadStateError extends HydraError {}

/** A head asked for in a serving engine's format that cannot hold its kind (the message says why). */
export class HeadExportError extends HydraError {}
