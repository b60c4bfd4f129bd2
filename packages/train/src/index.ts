// Public API of @hydra-ts/train.
export { Var, Tape, AutogradError, type VarOptions, type CrossEntropyOptions, type AttentionGradOpts, type RopeGradOptions } from './autograd';
export { AdamW, SGD, learningRateAt, type AdamWOptions, type AdamWState, type ScheduleOptions } from './optim';
export { gpuGradients, numericGradient, checkGradients, type GradCheckInput, type GradCheckResult, type GradientTolerance } from './gradcheck';
export { DataError, encodeTokenFile, decodeTokenFile, isTokenFile, parseCorpus, parseJsonlCorpus, parseTextCorpus, windows, TOKEN_FILE_MAGIC, TOKEN_FILE_VERSION, type TokenCorpus } from './data';
export { distillCorpus, type DistillOptions } from './distill';
export { draftVocabulary, draftCoverage } from './draft-vocab';
export { writeFileAtomic } from './files';
export { TrainableHeads, shiftedTokens, type DraftOutput, type HeadBatch, type HeadForwardOptions, type SequenceRows } from './trainable-heads';
export { TeacherCache, teacherMode, FULL_TEACHER_MAX_BYTES, DEFAULT_TEACHER_TOP_K, type TeacherMode, type TeacherTopK, type TeacherBuildOptions } from './teacher';
export type { SparseTeacher } from './grad/topk-cross-entropy';
export { draftLoss, draftTargets, headTargets, type DraftLossOptions } from './loss';
export { HeadTrainer, trainConfig, splitWindows, batchAt, DEFAULT_TRAIN_CONFIG, type TrainConfig, type StepStats, type HeadAccuracy } from './trainer';
export { saveCheckpoint, writeCheckpointSet, readCheckpoint, parseTrainRecord, restoreOptimizer, checkResumable, checkpointPaths, TRAIN_FORMAT, TRAIN_VERSION, type TrainRecord, type CheckpointFs, type CheckpointSet, type LoadedCheckpoint } from './checkpoint';
export { curvesHtml } from './chart';
export { measureAcceptance, type AcceptanceResult } from './acceptance';
export { TrainOptionError, TrainCheckpointError } from './errors';
