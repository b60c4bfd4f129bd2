import { HydraError } from '@hydra-ts/tensor';

/** A candidate tree spec (paths, JSON file, acceptance table, name) that cannot be used. */
export class TreeError extends HydraError {}
