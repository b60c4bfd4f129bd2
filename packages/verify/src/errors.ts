import { HydraError } from '@hydra-ts/tensor';

/** Verify-pass data that does not fit the tree or vocabulary (shapes, token ids, missing arrays). */
export class VerifyError extends HydraError {}
