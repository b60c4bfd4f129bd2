// CPU twins of every GPU op: the independent references the kernels are tested against.
export { binaryCpu, scaleCpu, siluCpu, swigluCpu } from './elementwise';
