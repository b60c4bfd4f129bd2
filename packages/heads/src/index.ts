// Public API of @hydra-ts/heads.
export type { DraftHead, ProposeRequest, DeviceProposeRequest, Proposal, HeadBase } from './draft-head';
export { TopKHeads } from './draft-head';
export { MedusaHeads } from './medusa';
export { HydraHeads } from './hydra';
export { PrefixMLP } from './prefix';
export { createHead, loadHead, parseHeadFile, saveHead, type Heads, type LoadHeadOptions } from './checkpoint';
export type { HeadKind, HeadConfig, PrefixConfig, CreateHeadOptions } from './config';
export { HEAD_KINDS, HEADS_FORMAT, HEADS_VERSION, headParameterShapes } from './config';
export { HeadOptionError, HeadMismatchError, HeadCheckpointError, HeadStateError } from './errors';
