// The KV cache: per layer, preallocated key and value rows on the GPU. Rows [0, length) are
// committed tokens; the rows a forward pass appends are `pending` until commit() keeps them (all,
// or the accepted path of a candidate tree, compacted right after the committed rows).
import { compactRows, HydraError, type Device, type Tensor } from '@hydra-ts/tensor';

/** Misuse of a KV cache: capacity exceeded, uncommitted rows, bad row indices. */
export class CacheError extends HydraError {}

/** One layer's share of a KVCache, as a DecoderLayer sees it. */
export interface LayerCache {
  readonly k: Tensor; // [capacity, nKvHeads·headDim]
  readonly v: Tensor; // [capacity, nKvHeads·headDim]
  /** Committed rows; new rows attend to all of them. */
  readonly length: number;
  /** Rows already appended and not yet committed; a layer writes its new rows after them. */
  readonly pending: number;
  readonly capacity: number;
}

export interface KVCacheShape {
  nLayers: number;
  /** nKvHeads · headDim */
  kvDim: number;
  capacity: number;
}

export class KVCache {
  readonly capacity: number;
  readonly kvDim: number;
  /** One entry per layer; their length/pending follow this cache. */
  readonly layers: readonly LayerCache[];
  private committed = 0;
  private appended = 0;
  private disposed = false;
  private readonly tensors: Tensor[] = [];

  constructor(device: Device, shape: KVCacheShape) {
    const { nLayers, kvDim, capacity } = shape;
    for (const [name, v] of [['nLayers', nLayers], ['kvDim', kvDim], ['capacity', capacity]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new CacheError(`KVCache: ${name} = ${v}, expected a positive integer`);
    }
    this.capacity = capacity;
    this.kvDim = kvDim;
    const layers: LayerCache[] = [];
    for (let l = 0; l < nLayers; l++) {
      const k = device.zeros([capacity, kvDim]); // [capacity, kvDim]
      const v = device.zeros([capacity, kvDim]); // [capacity, kvDim]
      k.label = `kcache[${l}]`;
      v.label = `vcache[${l}]`;
      this.tensors.push(k, v);
      const cache = this; // eslint-disable-line @typescript-eslint/no-this-alias
      layers.push({
        k,
        v,
        capacity,
        get length() {
          return cache.length;
        },
        get pending() {
          return cache.pending;
        },
      });
    }
    this.layers = layers;
  }

  /** Committed rows. */
  get length(): number {
    return this.committed;
  }

  /** Rows appended by the last forward pass and not yet committed. */
  get pending(): number {
    return this.appended;
  }

  /** Throws unless `rows` more rows fit after the committed and pending ones. */
  checkRoom(rows: number, who: string): void {
    this.checkLive(who);
    if (this.committed + this.appended + rows > this.capacity) {
      throw new CacheError(
        `${who}: ${rows} new rows after ${this.committed} committed + ${this.appended} pending exceed the cache capacity ${this.capacity}`,
      );
    }
  }

  /**
   * Records that the layers have written `rows` new rows after the pending ones. LlamaModel.forward
   * calls it; a caller driving DecoderLayers by hand (a PrefixMLP) calls it after its layer(s).
   */
  append(rows: number): void {
    this.checkRoom(rows, 'KVCache.append');
    this.appended += rows;
  }

  /**
   * Keeps the pending rows listed in `rows` (indices among the pending rows, in order; default all)
   * right after the committed ones, in every layer, and drops the rest. No CPU round trip.
   */
  commit(rows?: readonly number[]): void {
    this.checkLive('KVCache.commit');
    if (rows === undefined) {
      this.committed += this.appended;
      this.appended = 0;
      return;
    }
    rows.forEach((r, i) => {
      if (!Number.isInteger(r) || r < 0 || r >= this.appended) {
        throw new CacheError(`KVCache.commit: rows[${i}] = ${r}, expected an index among the ${this.appended} pending rows`);
      }
      if (rows.indexOf(r) !== i) throw new CacheError(`KVCache.commit: pending row ${r} is listed twice`);
    });
    // Rows already in place (a leading run 0, 1, 2, ...: always the root, and every row of a
    // one-row step or a chain) need no copy.
    let inPlace = 0;
    while (inPlace < rows.length && rows[inPlace] === inPlace) inPlace++;
    if (inPlace < rows.length) {
      const from = rows.slice(inPlace).map((r) => this.committed + r);
      for (const layer of this.layers) {
        compactRows(layer.k, from, this.committed + inPlace);
        compactRows(layer.v, from, this.committed + inPlace);
      }
    }
    this.committed += rows.length;
    this.appended = 0;
  }

  /** Forgets everything after the first `length` committed rows (and every pending row). */
  rollback(length: number): void {
    this.checkLive('KVCache.rollback');
    if (!Number.isInteger(length) || length < 0 || length > this.committed) {
      throw new CacheError(`KVCache.rollback: length ${length}, expected an integer in [0, ${this.committed}] (the committed length)`);
    }
    this.committed = length;
    this.appended = 0;
  }

  reset(): void {
    this.rollback(0);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of this.tensors) t.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  private checkLive(who: string): void {
    if (this.disposed) throw new CacheError(`${who}: the cache was disposed`);
  }
}
