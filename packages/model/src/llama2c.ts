// llama2.c "v0" checkpoints: a 7 x int32 header followed by float32 weights, grouped by kind
// across layers (all attention norms, then all wq, ...), as written by llama2.c's export script.
import { validateConfig, type LlamaCheckpoint, type LlamaConfig, type LlamaLayerWeights } from './config';
import { CheckpointError, ConfigError } from './errors';

const HEADER_BYTES = 7 * 4;

/** Copies `count` little-endian float32s starting at byte `offset` into a fresh aligned array. */
function floatsAt(bytes: Uint8Array, offset: number, count: number): Float32Array {
  // Uint8Array's slice copies (Buffer's would not), giving an aligned buffer of its own.
  return new Float32Array(Uint8Array.prototype.slice.call(bytes, offset, offset + count * 4).buffer);
}

/** Header of a llama2.c checkpoint, checked against the file length before any weight is read. */
export function parseLlama2cConfig(bytes: Uint8Array, name = 'checkpoint'): { config: LlamaConfig; expectedBytes: number } {
  if (bytes.byteLength < HEADER_BYTES) {
    throw new CheckpointError(`${name}: ${bytes.byteLength} bytes, expected at least a ${HEADER_BYTES}-byte llama2.c header`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, rawVocab, seqLen] = Array.from({ length: 7 }, (_, i) => view.getInt32(i * 4, true));
  const config: LlamaConfig = {
    architecture: 'llama',
    dim,
    hiddenDim,
    nLayers,
    nHeads,
    nKvHeads,
    headDim: nHeads > 0 ? dim / nHeads : NaN,
    vocabSize: Math.abs(rawVocab),
    maxSeqLen: seqLen,
    ropeTheta: 10000,
    ropeLayout: 'interleaved',
    normEps: 1e-5,
    // llama2.c marks a separate classifier matrix with a negative vocab size.
    tiedEmbeddings: rawVocab > 0,
    qkvBias: false,
    bosId: 1,
    eosId: 2,
  };
  try {
    if (!Number.isInteger(config.headDim)) {
      throw new ConfigError(`dim = ${dim} is not a multiple of n_heads = ${nHeads}`);
    }
    // llama2.c assumes ids 1 and 2 exist; a vocabulary smaller than 3 cannot hold them.
    validateConfig({ ...config, bosId: Math.min(1, config.vocabSize - 1), eosId: Math.min(2, config.vocabSize - 1) }, name);
    if (config.vocabSize < 3) throw new ConfigError(`vocab_size = ${rawVocab}, expected at least 3 (unk, bos, eos)`);
  } catch (e) {
    if (e instanceof ConfigError) throw new CheckpointError(`${name}: impossible llama2.c header: ${e.message}`, { cause: e });
    throw e;
  }
  const expectedBytes = HEADER_BYTES + 4 * llama2cFloatCount(config);
  return { config, expectedBytes };
}

/** Number of float32 values after the header, in llama2.c's layout. */
function llama2cFloatCount(c: LlamaConfig): number {
  const qDim = c.nHeads * c.headDim;
  const kvDim = c.nKvHeads * c.headDim;
  const perLayer = 2 * c.dim + qDim * c.dim + 2 * kvDim * c.dim + c.dim * qDim + 3 * c.dim * c.hiddenDim;
  const freqCis = c.maxSeqLen * c.headDim; // legacy freq_cis_real + freq_cis_imag, each seq_len * head_size / 2
  return c.vocabSize * c.dim + c.nLayers * perLayer + c.dim + freqCis + (c.tiedEmbeddings ? 0 : c.vocabSize * c.dim);
}

/** Parses a whole llama2.c v0 checkpoint. `name` is used in error messages. */
export function parseLlama2cCheckpoint(bytes: Uint8Array, name = 'checkpoint'): LlamaCheckpoint {
  const { config: c, expectedBytes } = parseLlama2cConfig(bytes, name);
  if (bytes.byteLength !== expectedBytes) {
    throw new CheckpointError(
      `${name}: ${bytes.byteLength} bytes, expected ${expectedBytes} for the header (dim ${c.dim}, hidden ${c.hiddenDim}, ` +
        `${c.nLayers} layers, ${c.nHeads} heads, ${c.nKvHeads} kv heads, vocab ${c.vocabSize}, seq_len ${c.maxSeqLen}, ` +
        `${c.tiedEmbeddings ? 'shared' : 'separate'} classifier)`,
    );
  }
  let offset = HEADER_BYTES;
  const take = (count: number): Float32Array => {
    const a = floatsAt(bytes, offset, count);
    offset += count * 4;
    return a;
  };
  // One array per layer out of each grouped block.
  const perLayer = (count: number): Float32Array[] => Array.from({ length: c.nLayers }, () => take(count));

  const qDim = c.nHeads * c.headDim;
  const kvDim = c.nKvHeads * c.headDim;
  const tokenEmbedding = take(c.vocabSize * c.dim); // [vocab, dim]
  const attnNorm = perLayer(c.dim);
  const wq = perLayer(qDim * c.dim);
  const wk = perLayer(kvDim * c.dim);
  const wv = perLayer(kvDim * c.dim);
  const wo = perLayer(c.dim * qDim);
  const ffnNorm = perLayer(c.dim);
  const w1 = perLayer(c.hiddenDim * c.dim);
  const w2 = perLayer(c.dim * c.hiddenDim);
  const w3 = perLayer(c.hiddenDim * c.dim);
  const finalNorm = take(c.dim);
  offset += c.maxSeqLen * c.headDim * 4; // skip the unused precomputed RoPE tables
  const output = c.tiedEmbeddings ? tokenEmbedding : take(c.vocabSize * c.dim);

  const layers: LlamaLayerWeights[] = attnNorm.map((_, l) => ({
    attnNorm: attnNorm[l],
    wq: wq[l],
    wk: wk[l],
    wv: wv[l],
    wo: wo[l],
    ffnNorm: ffnNorm[l],
    w1: w1[l],
    w2: w2[l],
    w3: w3[l],
  }));
  return { config: c, weights: { tokenEmbedding, layers, finalNorm, output } };
}

/** Writes a checkpoint in llama2.c v0 layout (interleaved RoPE, no biases); inverse of parseLlama2cCheckpoint. */
export function serializeLlama2cCheckpoint({ config: c, weights: w }: LlamaCheckpoint): Uint8Array {
  if (c.ropeLayout !== 'interleaved' || c.qkvBias) {
    throw new ConfigError('llama2.c checkpoints hold only interleaved-RoPE models without q/k/v biases');
  }
  if (c.headDim * c.nHeads !== c.dim || c.ropeTheta !== 10000 || c.normEps !== 1e-5) {
    throw new ConfigError(
      `llama2.c checkpoints imply headDim = dim / nHeads, ropeTheta 10000 and normEps 1e-5; got headDim ${c.headDim}, dim ${c.dim}, nHeads ${c.nHeads}, ropeTheta ${c.ropeTheta}, normEps ${c.normEps}`,
    );
  }
  const total = llama2cFloatCount(c);
  const out = new Uint8Array(HEADER_BYTES + total * 4);
  const view = new DataView(out.buffer);
  const header = [c.dim, c.hiddenDim, c.nLayers, c.nHeads, c.nKvHeads, c.tiedEmbeddings ? c.vocabSize : -c.vocabSize, c.maxSeqLen];
  header.forEach((v, i) => view.setInt32(i * 4, v, true));
  const floats = new Float32Array(out.buffer, HEADER_BYTES);
  let o = 0;
  const put = (a: Float32Array) => {
    floats.set(a, o);
    o += a.length;
  };
  put(w.tokenEmbedding);
  for (const key of ['attnNorm', 'wq', 'wk', 'wv', 'wo', 'ffnNorm', 'w1', 'w2', 'w3'] as const) w.layers.forEach((l) => put(l[key]));
  put(w.finalNorm);
  // Regenerate the legacy RoPE tables so llama2.c readers that still look at them get real values.
  const half = c.headDim / 2;
  for (const fn of [Math.cos, Math.sin]) {
    for (let p = 0; p < c.maxSeqLen; p++) {
      for (let i = 0; i < half; i++) floats[o++] = fn(p / Math.pow(c.ropeTheta, (2 * i) / c.headDim));
    }
  }
  if (!c.tiedEmbeddings) put(w.output);
  return out;
}
