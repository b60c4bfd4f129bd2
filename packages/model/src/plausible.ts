// Checks that a loaded model is one worth running: every weight finite, and a context length
// whose KV cache is in proportion to the weights. A corrupt or hostile file fails here, naming
// the tensor or field, instead of decoding NaNs or sizing a cache of gigabytes.
import type { LlamaConfig, LlamaWeights } from './config';
import { ConfigError, WeightError } from './errors';

/** The KV cache may take this much whatever the weights (a small model with a long context)... */
const KV_FLOOR_BYTES = 64 * 2 ** 20;
/** ...or this many times the float32 weights: real models with long contexts stay below it. */
const KV_PER_WEIGHT_BYTE = 2;

function weightArrays(w: LlamaWeights): Array<[string, Float32Array]> {
  const out: Array<[string, Float32Array]> = [['tokenEmbedding', w.tokenEmbedding]];
  w.layers.forEach((l, i) => {
    for (const [k, a] of Object.entries(l)) if (a instanceof Float32Array) out.push([`layers[${i}].${k}`, a]);
  });
  out.push(['finalNorm', w.finalNorm]);
  if (w.output !== w.tokenEmbedding) out.push(['output', w.output]);
  return out;
}

/** Throws WeightError naming the first tensor holding a NaN or an infinity, and where in it. */
export function checkFiniteWeights(w: LlamaWeights, where: string): void {
  for (const [name, a] of weightArrays(w)) {
    for (let i = 0; i < a.length; i++) {
      const x = a[i];
      // x - x is 0 for every finite x, NaN for NaN and ±Infinity.
      if (x - x !== 0) {
        throw new WeightError(`${where}: weight ${name}[${i}] = ${x}, expected finite values (pass allowNonfinite / --allow-nonfinite to load it anyway)`);
      }
    }
  }
}

function formatBytes(n: number): string {
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : `${(n / 2 ** 20).toFixed(1)} MiB`;
}

/**
 * The config with maxSeqLen capped at `maxContext` when given; without it, a context whose
 * float32 KV cache would exceed max(64 MiB, 2 × the weights) is a ConfigError naming `field`
 * (config.json's max_position_embeddings, llama2.c's seq_len).
 */
export function checkContextLength(c: LlamaConfig, w: LlamaWeights, where: string, field: string, maxContext?: number): LlamaConfig {
  if (maxContext !== undefined) {
    if (!Number.isInteger(maxContext) || maxContext < 1) throw new ConfigError(`maxContext = ${maxContext}, expected a positive integer`);
    return maxContext < c.maxSeqLen ? { ...c, maxSeqLen: maxContext } : c;
  }
  const kvBytes = 2 * c.nLayers * c.maxSeqLen * c.nKvHeads * c.headDim * 4;
  const weightBytes = weightArrays(w).reduce((s, [, a]) => s + a.byteLength, 0);
  const limit = Math.max(KV_FLOOR_BYTES, KV_PER_WEIGHT_BYTE * weightBytes);
  if (kvBytes > limit) {
    const fits = Math.max(1, Math.floor(limit / (2 * c.nLayers * c.nKvHeads * c.headDim * 4)));
    throw new ConfigError(
      `${where}: ${field} = ${c.maxSeqLen} would size a ${formatBytes(kvBytes)} KV cache for ${formatBytes(weightBytes)} of weights; ` +
        `expected at most ${fits} positions (${formatBytes(limit)}); pass maxContext (hydra: --max-context <n>) to cap the context`,
    );
  }
  return c;
}
