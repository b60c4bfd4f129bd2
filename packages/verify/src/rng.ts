import { OptionError } from '@hydra-ts/tensor';

/** A source of uniform numbers; verifiers take one so runs are reproducible. */
export interface Rng {
  /** Uniform in [0, 1), 53 bits. */
  next(): number;
  /** Uniform 32-bit unsigned integer. */
  nextUint32(): number;
}

const rotl = (x: number, k: number) => (x << k) | (x >>> (32 - k));

/** xoshiro128** (Blackman & Vigna): small state, fast in 32-bit integer JS arithmetic. */
export class Xoshiro128 implements Rng {
  private readonly s: Uint32Array;

  /** Raw state; must not be all zero. Use createRng(seed) for seeding. */
  constructor(state: ArrayLike<number>) {
    if (state.length !== 4) throw new OptionError(`xoshiro128 state has ${state.length} words; expected 4`);
    this.s = Uint32Array.from(state);
    if ((this.s[0] | this.s[1] | this.s[2] | this.s[3]) === 0) {
      throw new OptionError('xoshiro128 state is all zero; expected at least one non-zero word');
    }
  }

  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  next(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }
}

/** A seeded Rng; the seed (any safe integer) is spread over the state with splitmix32. */
export function createRng(seed: number): Rng {
  if (!Number.isSafeInteger(seed)) throw new OptionError(`rng seed = ${seed}; expected a safe integer`);
  let x = (seed >>> 0) ^ Math.imul(Math.floor(seed / 4294967296) >>> 0, 0x9e3779b1);
  const state = new Uint32Array(4);
  for (let k = 0; k < 4; k++) {
    x = (x + 0x9e3779b9) | 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    state[k] = (z ^ (z >>> 16)) >>> 0;
  }
  if ((state[0] | state[1] | state[2] | state[3]) === 0) state[0] = 1;
  return new Xoshiro128(state);
}
