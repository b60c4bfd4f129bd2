// CPU twins of every GPU op: the independent references the kernels are tested against.
export { binaryCpu, scaleCpu, siluCpu, swigluCpu, geluCpu, erfCpu } from './elementwise';
export { rmsnormCpu } from './rmsnorm';
export { ropeCpu } from './rope';
export { ropeCacheCpu } from './rope-cache';
export { attentionCpu, type AttentionCpuOptions } from './attention';
export { softmaxCpu, logSoftmaxCpu } from './softmax';
export { writeRowsCpu, compactRowsCpu, gatherRowsCpu } from './rows';
export { embeddingCpu } from './embedding';
export { appendEmbeddingsCpu } from './append-embeddings';
export { concatCpu } from './concat';
export { sliceCpu } from './slice';
export { argmaxCpu } from './argmax';
export { topkCpu } from './topk';
export { frontierCpu } from './frontier';
export { mlpTopKCpu, type MlpStackCpuMember } from './mlp-topk';
export { linearCpu, matmulCpu, type MatmulCpuShape } from './linear';
export { fusedLinearCpu, linearPrologueCpu, type FusedLinearCpu } from './linear';
export { quantizeQ8Cpu, quantizeQ4Cpu, dequantizeQ8Cpu, linearQ8Cpu, q8Width, Q8_GROUP, type Q8Data } from './linear-q8';
