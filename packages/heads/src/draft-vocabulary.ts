// A reduced draft vocabulary (FR-Spec; EAGLE-3's d2t): heads score only `size` base tokens, draft
// id j standing for base id ids[j]. Everything a head hands out leaves in base ids.
import { gatherRows, type Device, type Tensor } from '@hydra-ts/tensor';

export class DraftVocabulary {
  /** [size] the base id of each draft id, strictly increasing. */
  readonly ids: Int32Array;
  /** The same as an i32 column [size, 1], for gathers on the GPU. */
  private readonly column: Tensor;

  constructor(device: Device, ids: ArrayLike<number>) {
    this.ids = Int32Array.from(ids);
    this.column = device.tensor(this.ids, [this.ids.length, 1], 'i32');
    this.column.label = 'd2t';
  }

  get size(): number {
    return this.ids.length;
  }

  /** Draft ids [rows, k] i32 (borrowed) as base ids [rows, k]: d2t[id], on the GPU. Owned by the caller. */
  toBase(ids: Tensor): Tensor {
    const [rows, k] = ids.shape;
    const flat = ids.reshape([rows * k]);
    try {
      const picked = gatherRows(this.column, flat); // [rows·k, 1]
      const out = picked.reshape([rows, k]);
      picked.dispose();
      return out;
    } finally {
      flat.dispose();
    }
  }

  /** Draft ids on the host as base ids, in place; returns `ids`. */
  toBaseHost(ids: Int32Array): Int32Array {
    for (let i = 0; i < ids.length; i++) ids[i] = this.ids[ids[i]];
    return ids;
  }

  /** The rows of `weight` [vocab, dim] (borrowed, e.g. the base output layer) at the draft vocabulary's ids: [size, dim], owned by the caller. */
  rowsOf(weight: Tensor): Tensor {
    return gatherRows(weight, this.ids);
  }

  dispose(): void {
    if (!this.column.disposed) this.column.dispose();
  }
}

/** Rows `ids` of a [rows, width] matrix on the host, in order (e.g. the base output rows of a draft vocabulary). */
export function hostRows(m: Float32Array, width: number, ids: ArrayLike<number>): Float32Array {
  const out = new Float32Array(ids.length * width);
  for (let i = 0; i < ids.length; i++) out.set(m.subarray(ids[i] * width, (ids[i] + 1) * width), i * width);
  return out;
}

/**
 * Throws `make(message)` unless `ids` are a draft vocabulary of a `vocab`-token base model: integer
 * base ids in [0, vocab), strictly increasing. The message names the entry as `${what}[i]`.
 */
export function checkDraftIds(ids: ArrayLike<number>, vocab: number, what: string, make: (message: string) => Error): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id >= vocab) throw make(`${what}[${i}] = ${id}, expected a base token id in [0, ${vocab})`);
    if (i > 0 && !(id > ids[i - 1])) throw make(`${what}[${i}] = ${id} after ${ids[i - 1]}, expected strictly increasing base ids`);
  }
}
