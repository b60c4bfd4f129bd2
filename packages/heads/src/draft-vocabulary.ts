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
    const rows = weight.device.tensor(this.ids, [this.ids.length], 'i32');
    try {
      return gatherRows(weight, rows);
    } finally {
      rows.dispose();
    }
  }

  dispose(): void {
    if (!this.column.disposed) this.column.dispose();
  }
}
