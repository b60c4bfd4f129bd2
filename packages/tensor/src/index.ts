// Public API of @hydra-ts/tensor.
export { HydraError, DeviceError, ShapeError, DTypeError, DisposedError, IndexError, OptionError } from './errors';
