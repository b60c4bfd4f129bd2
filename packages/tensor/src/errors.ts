// Typed errors. Every failure the library reports is a HydraError subclass whose message names
// the thing at fault (op, tensor, file, option) and what was expected.

export class HydraError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** No usable WebGPU adapter or device. */
export class DeviceError extends HydraError {}

/** Operands whose shapes do not fit the op. */
export class ShapeError extends HydraError {}

/** Operands of a dtype the op does not take. */
export class DTypeError extends HydraError {}

/** A tensor used or read after it was disposed. */
export class DisposedError extends HydraError {}

/** Index out of range: token ids, row ids, positions. */
export class IndexError extends HydraError {}

/** An option outside what is supported. */
export class OptionError extends HydraError {}
