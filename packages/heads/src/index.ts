// Public API of @hydra-ts/heads.
export type { DraftHead, ProposeRequest, DeviceProposeRequest, Proposal, HeadBase, LevelDraftRequest, LevelDrafting, DeviceLevels } from './draft-head';
export { TopKHeads } from './draft-head';
export { MedusaHeads } from './medusa';
export { medusaHead, hydraHead, speculatorStage, gpuHeadOps, type HeadOps, type StageOps } from './blocks';
export { HydraHeads } from './hydra';
export { MLPSpeculatorHeads, SPECULATOR_NORM_EPS, speculatorEmbeddingScale } from './mlp-speculator';
export { PrefixMLP } from './prefix';
export { EagleHead } from './eagle';
export { Eagle3Head } from './eagle3';
export { createHead, createEagleHead, loadHead, parseHeadFile, saveHead, serializeHead, type Heads, type LoadHeadOptions, type CreateEagleHeadOptions } from './checkpoint';
export { exportHead, checkExportable, readEngineHead, detectLayout, eagleShapes, eagle3EngineShapes, ENGINE_FORMATS, EAGLE_ENGINES, type EagleEngine, type EngineFormat, type EngineLayout, type EngineHead, type ExportOptions, type ExportedHead } from './engine-formats';
export type { Eagle3Config, HeadKind, HeadConfig, PrefixConfig, EagleLayerConfig, SpeculatorConfig, CreateHeadOptions } from './config';
export { HEAD_KINDS, HEADS_FORMAT, HEADS_VERSION, EAGLE_DEFAULT_DEPTH, headParameterShapes, defaultFeatureLayers, eagle3Shapes, draftVocabularyOf, tokenMapName, isTokenMap } from './config';
export { DraftVocabulary } from './draft-vocabulary';
export { HeadOptionError, HeadMismatchError, HeadCheckpointError, HeadStateError, HeadExportError } from './errors';
