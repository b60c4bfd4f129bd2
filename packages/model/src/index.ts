// Public API of @hydra-ts/model.
export { CheckpointError, TokenizerError, SafetensorsError, ConfigError, WeightError, FileSourceError } from './errors';
export type { Architecture, RopeLayout, LlamaConfig, LlamaLayerWeights, LlamaWeights, LlamaCheckpoint } from './config';
export { validateConfig, validateWeights, weightShapes } from './config';
export type { FileSource } from './source';
export { nodeFileSource, httpFileSource, memoryFileSource } from './source';
export { parseLlama2cConfig, parseLlama2cCheckpoint, serializeLlama2cCheckpoint } from './llama2c';
export type { Tokenizer, EncodeOptions, StreamDecoder } from './tokenizer';
export { Llama2cTokenizer } from './llama2c-tokenizer';
export type { ChatMessage, HfTokenizerOptions } from './hf-tokenizer';
export { HfTokenizer } from './hf-tokenizer';
export type { SafetensorsDType, SafetensorsTensor, SafetensorsFile, SafetensorsInput } from './safetensors';
export { parseSafetensors, serializeSafetensors, f16ToF32, f32ToF16, bf16ToF32, f32ToBf16 } from './safetensors';
export { parseHfConfig, hfTensorsToCheckpoint, loadHfCheckpoint } from './hf';
export { convertLlama2cToHf, permuteInterleavedToHalf, hfConfigJson, llama2cTokenizerJson, llama2cTokenizerConfigJson } from './convert';
export type { LoadedModel, LoadModelOptions } from './load';
export { loadModelFiles } from './load';
export { ReferenceLlama, referenceGreedy, argmax, rmsnorm, matmul, softmax, rope } from './reference';
