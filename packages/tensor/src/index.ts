// Public API of @hydra-ts/tensor.
export { HydraError, DeviceError, ShapeError, DTypeError, DisposedError, IndexError, OptionError } from './errors';
export { Device, getDevice, type DeviceOptions, type DeviceStats, type AdapterDescription, type Binding } from './device';
export { formatProfile, type ProfileReport, type KernelTime } from './profiler';
export { Tensor, scope, liveTensorCount, shapeSize, formatShape, dtypeBytes, type DType, type TypedArrayFor } from './tensor';
export { kernel, params, grid, type Kernel, type Access } from './kernel';
export { f32ToF16, f16ToF32, f32ToF16Bits, f16BitsToF32 } from './half';
export { sizeClass } from './pool';
export { HostUploads } from './uploads';
export { measureDispatchFloor, type DispatchFloor } from './floor';

// GPU ops
export { add, mul, sub, binary, type BinaryOp } from './ops/elementwise';
export { scale, silu, gelu, softcap, swiglu } from './ops/unary';
export { ERF_WGSL } from './ops/erf';

// CPU twins (references for tests and for code that must not touch the GPU)
export * as cpu from './cpu/index';

export { seededRandom, randomArray } from './random';
export { rmsnorm } from './ops/rmsnorm';
export { rope, type RopeOptions, type RopeLayout } from './ops/rope';
export { ropeCache, type RopeCacheOptions } from './ops/rope-cache';
export { attention, type AttentionOptions } from './ops/attention';
export { selectAttention, type AttentionChoice, type AttentionKernel, type AttentionShape } from './ops/attention/select';
export { softmax, logSoftmax, type SoftmaxOptions } from './ops/softmax';
export { writeRows, compactRows, gatherRows } from './ops/rows';
export { embedding } from './ops/embedding';
export { appendEmbeddings } from './ops/append-embeddings';
export { concat } from './ops/concat';
export { slice } from './ops/slice';
export { argmax } from './ops/argmax';
export { incrementTimes } from './ops/increment';
export { topk, TOPK_MAX_K, type TopK, type TopkOptions } from './ops/topk';
export { selectTopk, type TopkChoice, type TopkKernel, type TopkShape } from './ops/topk/select';
export { frontier, FRONTIER_MAX_CANDIDATES, FRONTIER_MAX_WIDTH } from './ops/frontier';
export { levelMask } from './ops/level-mask';
export { rerankTree, RERANK_MAX_CANDIDATES, RERANK_MAX_NODES, type RerankedTree, type RerankOptions } from './ops/rerank-tree';
export { mlpTopK, MlpStack, MLP_TOPK_MAX_K, MLP_TOPK_MAX_DIM, MLP_TOPK_MAX_IN, type MlpStackMember, type MlpTopKOptions } from './ops/mlp-topk';
export { linear, linearNaive, columnConfig, sharesRows, SHARE_LANES, type LinearOptions, type ColumnConfig } from './ops/linear';
export { QuantizedMatrix, Q8_GROUP } from './ops/linear/quantized-matrix';
export { Q8Matrix } from './ops/linear/q8-matrix';
export { Q4Matrix } from './ops/linear/q4-matrix';
export { selectLinear, type LinearChoice, type LinearKernel, type LinearWeights } from './ops/linear/select';
export { flags, type TensorFlags } from './flags';
export { matmul, DEFAULT_TILE, type MatmulOptions, type TileConfig } from './ops/matmul';
