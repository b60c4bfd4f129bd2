// PrefixMLP (Hydra++): one Llama decoder layer over the base model's hidden states, with its own
// KV cache, so the heads see a summary of the prefix made for drafting rather than for the base
// model's own next-token prediction. Its final-normed output at the last committed token is h_t.
import { KVCache, type DecoderLayer, type LayerConfig } from '@hydra-ts/model';
import { HostUploads, rmsnorm, type Device, type Tensor } from '@hydra-ts/tensor';
import type { PrefixConfig } from './config';
import type { HeadBase } from './draft-head';
import { draftLayerFromValues, draftLayerTensors, readDraftLayer } from './draft-layer';
import { HeadStateError } from './errors';

export class PrefixMLP {
  readonly config: LayerConfig;
  readonly device: Device;
  readonly layer: DecoderLayer;
  readonly norm: Tensor; // [dim]
  readonly cache: KVCache;
  /** observe()'s positions, in buffers that stay the same from step to step. */
  private readonly uploads: HostUploads;

  /** `values`: the prefix.* parameters of the heads file layout, as CPU arrays. */
  constructor(base: HeadBase, prefix: PrefixConfig, values: Map<string, Float32Array>) {
    const dim = base.config.dim;
    this.config = { dim, ...prefix, qkvBias: false };
    this.device = base.device;
    const norm = values.get('prefix.norm');
    if (!norm) throw new HeadStateError('PrefixMLP: parameter prefix.norm is missing');
    this.layer = draftLayerFromValues(base.device, this.config, values, 'prefix', 'PrefixMLP');
    this.norm = base.device.tensor(norm, [dim]);
    this.uploads = new HostUploads(base.device);
    this.cache = new KVCache(base.device, { nLayers: 1, kvDim: prefix.nKvHeads * prefix.headDim, capacity: base.config.maxSeqLen });
  }

  /** Committed positions in the prefix cache. */
  get length(): number {
    return this.cache.length;
  }

  /**
   * Runs the layer over hidden [n, dim] (base hidden states at positions start..start+n-1, which
   * must continue the cache) and commits them. Returns the final-normed output [n, dim], owned by
   * the caller.
   */
  observe(hidden: Tensor, start: number): Tensor {
    if (start !== this.cache.length) {
      throw new HeadStateError(`PrefixMLP.observe: rows start at position ${start}, the prefix cache holds ${this.cache.length} positions; rollback(${start}) first to replace them`);
    }
    if (this.cache.pending > 0) this.cache.commit([]); // drop rows of an interrupted pass
    const n = hidden.shape[0];
    const positions = new Int32Array(n);
    for (let i = 0; i < n; i++) positions[i] = start + i;
    this.cache.checkRoom(n, 'PrefixMLP.observe');
    const x = this.layer.forward(hidden, this.cache.layers[0], this.uploads.get('positions', positions, [n], 'i32')); // [n, dim], causal
    this.cache.append(n);
    this.cache.commit();
    const out = rmsnorm(x, this.norm, this.config.normEps); // [n, dim]
    x.dispose();
    return out;
  }

  rollback(length: number): void {
    if (length < this.cache.length) this.cache.rollback(length);
  }

  reset(): void {
    this.cache.reset();
  }

  /**
   * The layer's tensors, owned by it. The projections are the decoder layer's fused ones:
   * prefix.wqkv = [wq; wk; wv] and prefix.w13 = [w1; w3] (rows stacked); the file splits them.
   */
  parameters(): Map<string, Tensor> {
    return new Map([...draftLayerTensors(this.layer, 'prefix', 'PrefixMLP'), ['prefix.norm', this.norm]]);
  }

  /** Current values under the heads file's names (prefix.wq, prefix.wk, ... as separate tensors). */
  async read(): Promise<Map<string, Float32Array>> {
    const out = await readDraftLayer(this.layer, 'prefix');
    out.set('prefix.norm', (await this.norm.read()) as Float32Array);
    return out;
  }

  dispose(): void {
    this.layer.dispose();
    this.norm.dispose();
    this.cache.dispose();
    this.uploads.dispose();
  }
}
