// One Llama decoder layer inside a draft head (the PrefixMLP of Hydra++, the EAGLE layer), its
// weights under `<prefix>.*` in the heads file: attn_norm, wq, wk, wv, wo, ffn_norm, w1, w2, w3
// (linear weights [out, in]); a layer without inputNorm (EAGLE's own draft layer) has no attn_norm. The model's DecoderLayer runs it; it stores wq/wk/wv and w1/w3
// fused, so the file's tensors are split and joined here, and nowhere else.
import { DecoderLayer, type LayerConfig } from '@hydra-ts/model';
import { DTypeError, QuantizedMatrix, type Device, type Tensor } from '@hydra-ts/tensor';
import { HeadStateError } from './errors';

/** The file names of one draft layer's weights, in file order, with their shapes. */
export function draftLayerShapes(prefix: string, c: LayerConfig): Map<string, number[]> {
  const qDim = c.nHeads * c.headDim;
  const kvDim = c.nKvHeads * c.headDim;
  const shapes = new Map([
    [`${prefix}.attn_norm`, [c.dim]],
    [`${prefix}.wq`, [qDim, c.dim]],
    [`${prefix}.wk`, [kvDim, c.dim]],
    [`${prefix}.wv`, [kvDim, c.dim]],
    [`${prefix}.wo`, [c.dim, qDim]],
    [`${prefix}.ffn_norm`, [c.dim]],
    [`${prefix}.w1`, [c.hiddenDim, c.dim]],
    [`${prefix}.w2`, [c.dim, c.hiddenDim]],
    [`${prefix}.w3`, [c.hiddenDim, c.dim]],
  ]);
  if (c.inputNorm === false) shapes.delete(`${prefix}.attn_norm`);
  return shapes;
}

/** Uploads the layer from the `<prefix>.*` values (f32, never quantized: the head trains them). */
export function draftLayerFromValues(device: Device, c: LayerConfig, values: Map<string, Float32Array>, prefix: string, who: string): DecoderLayer {
  const get = (name: string) => {
    const v = values.get(`${prefix}.${name}`);
    if (!v) throw new HeadStateError(`${who}: parameter ${prefix}.${name} is missing`);
    return v;
  };
  return DecoderLayer.fromWeights(device, c, {
    // without inputNorm the layer never reads its attnNorm: unit gains stand in
    attnNorm: c.inputNorm === false ? new Float32Array(c.dim).fill(1) : get('attn_norm'), wq: get('wq'), wk: get('wk'), wv: get('wv'), wo: get('wo'),
    ffnNorm: get('ffn_norm'), w1: get('w1'), w2: get('w2'), w3: get('w3'),
  });
}

/**
 * The layer's tensors, owned by it, under `<prefix>.wqkv` = [wq; wk; wv] and `<prefix>.w13` =
 * [w1; w3] (rows stacked, as the layer holds them); the file splits them.
 */
export function draftLayerTensors(layer: DecoderLayer, prefix: string, who: string): Map<string, Tensor> {
  const t = (w: Tensor | QuantizedMatrix): Tensor => {
    if (w instanceof QuantizedMatrix) throw new DTypeError(`${who}: ${w.describe()} is quantized; its parameters are f32 tensors`);
    return w;
  };
  const tensors = new Map([
    [`${prefix}.attn_norm`, layer.attnNorm],
    [`${prefix}.wqkv`, t(layer.wqkv)],
    [`${prefix}.wo`, t(layer.wo)],
    [`${prefix}.ffn_norm`, layer.ffnNorm],
    [`${prefix}.w13`, t(layer.w13)],
    [`${prefix}.w2`, t(layer.w2)],
  ]);
  if (layer.config.inputNorm === false) tensors.delete(`${prefix}.attn_norm`);
  return tensors;
}

/** Current values under the file's names (wq, wk, wv, w1, w3 as separate tensors). */
export async function readDraftLayer(layer: DecoderLayer, prefix: string): Promise<Map<string, Float32Array>> {
  const c = layer.config;
  const q = c.nHeads * c.headDim * c.dim;
  const kv = c.nKvHeads * c.headDim * c.dim;
  const h = c.hiddenDim * c.dim;
  const wqkv = (await layer.wqkv.read()) as Float32Array;
  const w13 = (await layer.w13.read()) as Float32Array;
  const values = new Map([
    [`${prefix}.attn_norm`, (await layer.attnNorm.read()) as Float32Array],
    [`${prefix}.wq`, wqkv.slice(0, q)],
    [`${prefix}.wk`, wqkv.slice(q, q + kv)],
    [`${prefix}.wv`, wqkv.slice(q + kv)],
    [`${prefix}.wo`, (await layer.wo.read()) as Float32Array],
    [`${prefix}.ffn_norm`, (await layer.ffnNorm.read()) as Float32Array],
    [`${prefix}.w1`, w13.slice(0, h)],
    [`${prefix}.w2`, (await layer.w2.read()) as Float32Array],
    [`${prefix}.w3`, w13.slice(h)],
  ]);
  if (c.inputNorm === false) values.delete(`${prefix}.attn_norm`);
  return values;
}
