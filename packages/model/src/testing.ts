// Test helpers of @hydra-ts/model, outside its main entry: the independent plain-TS reference
// model (a port of llama2.c's run.c forward, f32 on the CPU) that the GPU model is checked against,
// and its building blocks. They are named as the equations they compute, not as the GPU ops of
// @hydra-ts/tensor, and write into caller-owned arrays as run.c does.
export {
  ReferenceLlama,
  referenceGreedy,
  argmax as argmaxReference,
  rmsnorm as rmsnormReference,
  matmul as matvecReference,
  softmax as softmaxReference,
  rope as ropeReference,
} from './reference';
