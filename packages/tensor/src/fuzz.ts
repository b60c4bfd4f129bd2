// Seeded mutation of file bytes and JSON text, and the rules every fuzz case is held to: it ends
// in a typed error (a HydraError) naming the file, or in a result; it allocates no more than a
// bound set by its input's size; it does not hang. Used by each package's fuzz.test.ts; exported
// as @hydra-ts/tensor/fuzz so the main entry stays free of it.
import { HydraError } from './errors';

/** xorshift32: a failing case is reproduced from its printed seed. */
export function fuzzRng(seed: number): (n: number) => number {
  let s = (seed >>> 0) || 0x9e3779b9;
  return (n: number) => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) % n;
  };
}

/** Values that break length and count fields: zero, one, negative, powers of two, the int32 extremes. */
export const INTERESTING_INTS = [0, 1, -1, 2, 3, 7, 8, 64, 255, 256, 4096, 65535, 1 << 20, 2 ** 31 - 1, -(2 ** 31), 1 << 30];

/**
 * One mutation of `bytes`: bit flips, a truncation, trailing bytes, int32 overwrites within the
 * first `hot` bytes (where headers and length fields live), or a huge u64 at the start.
 */
export function mutateBytes(bytes: Uint8Array, r: (n: number) => number, hot = bytes.length): Uint8Array {
  switch (r(6)) {
    case 0: {
      const b = bytes.slice();
      for (let k = 1 + r(4); k > 0; k--) b[r(b.length)] ^= 1 << r(8);
      return b;
    }
    case 1:
      return bytes.slice(0, r(bytes.length));
    case 2: {
      const b = new Uint8Array(bytes.length + 1 + r(64));
      b.set(bytes);
      for (let i = bytes.length; i < b.length; i++) b[i] = r(256);
      return b;
    }
    case 3: {
      // A length prefix claiming far more than the file holds.
      const b = bytes.slice();
      if (b.length >= 8) new DataView(b.buffer).setBigUint64(0, BigInt(2 ** 32 + r(2 ** 30)) * BigInt(1 + r(1 << 20)), true);
      return b;
    }
    default: {
      const b = bytes.slice();
      const view = new DataView(b.buffer);
      for (let k = 1 + r(2); k > 0; k--) {
        const at = Math.min(r(Math.max(1, hot)), b.length - 4) & ~3;
        if (at >= 0) view.setInt32(at, INTERESTING_INTS[r(INTERESTING_INTS.length)], true);
      }
      return b;
    }
  }
}

const JSON_NUMBERS = ['0', '-1', '1e308', '-1e308', '1.5', '4194304', '1048576', '2147483648', '9007199254740993', 'null', 'true', '""', '[]', '{}'];

/**
 * One mutation of a JSON text: a character edit, a truncation, trailing garbage, a BOM, deep
 * nesting, or a number replaced by an extreme or a value of another type.
 */
export function mutateJsonText(text: string, r: (n: number) => number): string {
  switch (r(7)) {
    case 0: {
      const chars = [...text];
      for (let k = 1 + r(3); k > 0; k--) chars[r(chars.length)] = '0123456789",[]{}:-e '[r(20)];
      return chars.join('');
    }
    case 1:
      return text.slice(0, r(text.length));
    case 2:
      return text + [' x', '}', ']]', '\u0000', '{"a":1}'][r(5)];
    case 3:
      return '\ufeff' + text;
    case 4: {
      const depth = 1000 + r(100_000);
      return `${'['.repeat(depth)}${']'.repeat(depth)}`;
    }
    case 5:
      return ['', ' ', 'null', '[]', '"x"', '0'][r(6)];
    default: {
      // Replace the k-th number in the text.
      const numbers = [...text.matchAll(/-?\d+(\.\d+)?([eE][-+]?\d+)?/g)];
      if (numbers.length === 0) return text + '0';
      const m = numbers[r(numbers.length)];
      return text.slice(0, m.index) + JSON_NUMBERS[r(JSON_NUMBERS.length)] + text.slice(m.index! + m[0].length);
    }
  }
}

/** Thrown when a fuzz case allocates past its bound: a header was trusted over the file's size. */
export class AllocationLimitError extends Error {}

const GUARDED = ['ArrayBuffer', 'Uint8Array', 'Int8Array', 'Uint16Array', 'Int16Array', 'Uint32Array', 'Int32Array', 'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array'] as const;

/**
 * Runs `fn` with the typed-array and ArrayBuffer constructors counting the bytes they allocate,
 * throwing AllocationLimitError before an allocation that would take the total past `limitBytes`.
 * Allocations made by `new X(n)` and `X.from(...)` are counted (where loaders size arrays from a
 * header); slices of existing arrays are bounded by their input and not counted.
 */
export async function withAllocationLimit<T>(limitBytes: number, fn: () => T | Promise<T>): Promise<{ value: T; allocated: number }> {
  const g = globalThis as unknown as Record<string, unknown>;
  const saved = GUARDED.map((name) => g[name]);
  let allocated = 0;
  const charge = (bytes: number) => {
    if (!(bytes >= 0)) return;
    if (allocated + bytes > limitBytes) throw new AllocationLimitError(`allocation of ${bytes} bytes would take the total to ${allocated + bytes}, past the limit of ${limitBytes}`);
    allocated += bytes;
  };
  GUARDED.forEach((name, i) => {
    const Ctor = saved[i] as { BYTES_PER_ELEMENT?: number; new (...a: unknown[]): ArrayBufferView | ArrayBuffer };
    g[name] = new Proxy(Ctor, {
      construct(target, args, newTarget) {
        const size = Ctor.BYTES_PER_ELEMENT ?? 1;
        const a = args[0];
        if (typeof a === 'number') charge(a * size);
        else if (a && typeof a === 'object' && !(a instanceof (saved[0] as typeof ArrayBuffer)) && typeof (a as ArrayLike<unknown>).length === 'number') charge((a as ArrayLike<unknown>).length * size);
        return Reflect.construct(target, args, newTarget === g[name] ? target : newTarget);
      },
    });
  });
  try {
    return { value: await fn(), allocated };
  } finally {
    GUARDED.forEach((name, i) => {
      g[name] = saved[i];
    });
  }
}

export type FuzzOutcome = 'ok' | 'typed';

export interface FuzzCaseOptions {
  /** Size of the mutated input: the allocation bound is `allocationFactor` times it, plus 1 MiB. */
  inputBytes: number;
  allocationFactor?: number;
  /** A case running longer is reported as a hang (default 10 s; cases take milliseconds). */
  maxMs?: number;
  /** A typed error must name this file (or one of these files: the case's input and what it is checked against). */
  file: string | readonly string[];
}

/** Counts outcomes of fuzz cases and holds each to the rules above. */
export class FuzzTally {
  readonly counts: Record<FuzzOutcome, number> = { ok: 0, typed: 0 };
  readonly byError = new Map<string, number>();
  slowestMs = 0;

  constructor(readonly kind: string) {}

  get total(): number {
    return this.counts.ok + this.counts.typed;
  }

  /** Runs one case; throws (failing the test) on an untyped error, an error not naming the file, or an allocation past the bound. */
  async run(label: string, opts: FuzzCaseOptions, fn: () => unknown): Promise<FuzzOutcome> {
    const limit = (opts.allocationFactor ?? 8) * opts.inputBytes + 2 ** 20;
    const t0 = performance.now();
    let outcome: FuzzOutcome;
    try {
      await withAllocationLimit(limit, fn);
      outcome = 'ok';
    } catch (e) {
      if (!(e instanceof HydraError)) {
        throw new Error(`${this.kind} ${label}: ${e instanceof AllocationLimitError ? 'allocation past the bound' : 'untyped error'}: ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`, { cause: e });
      }
      const files = typeof opts.file === 'string' ? [opts.file] : opts.file;
      if (!files.some((f) => e.message.includes(f))) throw new Error(`${this.kind} ${label}: ${e.name} does not name the file ${files.join(' or ')}: ${e.message}`, { cause: e });
      this.byError.set(e.name, (this.byError.get(e.name) ?? 0) + 1);
      outcome = 'typed';
    }
    const ms = performance.now() - t0;
    this.slowestMs = Math.max(this.slowestMs, ms);
    // A hang guard, not a speed check: the bound is orders of magnitude above a case's time.
    if (ms > (opts.maxMs ?? 10_000)) throw new Error(`${this.kind} ${label}: took ${ms.toFixed(0)} ms, past the ${opts.maxMs ?? 10_000} ms allowed a case (a loop sized by a corrupt field?)`);
    this.counts[outcome]++;
    return outcome;
  }

  /** One line for the test log: cases, outcomes, typed errors by class, slowest case. */
  summary(): string {
    const errors = [...this.byError].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ');
    return `fuzz ${this.kind}: ${this.total} cases: ok ${this.counts.ok}, typed error ${this.counts.typed} (${errors || 'none'}); slowest ${this.slowestMs.toFixed(0)} ms`;
  }
}
