// Public API of @hydra-ts/decode.
export { SpeculativeDecoder, type GenerateOptions, type GenerateResult, type StepEvent } from './decoder';
export { generate, GenerationError, type GenerationOptions, type Generation, type GenerationPiece, type GenerationResult } from './generate';
export { DecodeSession, SessionBusyError, type DecodeRequest, type SessionOptions } from './session';
export type { StopReason } from '@hydra-ts/model';
export { DecodeStats } from './stats';
export { ReplayHead, type ReplayHeadOptions } from './replay-head';

// Tree tuning: the cost model, its measurements, the tuner and the cached default tree.
export {
  rankTrees,
  treeThroughput,
  monotoneCost,
  forwardMsAt,
  acceptanceFromCounts,
  type ForwardCost,
  type StepCost,
  type TreeChoice,
  type TreeRanking,
} from './tune/cost-model';
export { measureForwardCost, measureHeadCost, measureAcceptance, type AcceptanceCounts, type ForwardCostOptions } from './tune/measure';
export { tuneTree, type TuneOptions, type TuneProgress, type TunePhase, type TunedTree, type TunedCandidate } from './tune/tune-tree';
export {
  defaultTreeFor,
  treeKey,
  treeKeyParts,
  deviceKeyParts,
  sha256Hex,
  TUNED_TREE_VERSION,
  type DefaultTree,
  type DefaultTreeOptions,
  type TreeKeyParts,
  type TunedTreeRecord,
} from './tune/default-tree';
export { withStepCost, dynamicTreeFor } from './tune/dynamic-tree';
export { memoryTreeStore, webStorageTreeStore, cacheStorageTreeStore, type TreeStore, type WebStorageLike, type ResponseCacheLike } from './tune/tree-store';
export { defaultTreeCacheDir, fileTreeStore, platformTreeStore } from '#tree-store';
export { resultStream, type ResultStream } from './result-stream';
