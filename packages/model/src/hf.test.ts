import { describe, expect, it } from 'vitest';
import { convertLlama2cToHf, hfConfigJson } from './convert';
import { ConfigError, FileSourceError, SafetensorsError, WeightError } from './errors';
import { loadHfCheckpoint, parseHfConfig } from './hf';
import { loadModelFiles } from './load';
import { parseSafetensors, serializeSafetensors } from './safetensors';
import { memoryFileSource } from './source';
import { randomCheckpoint } from './testdata';

const model = randomCheckpoint({ architecture: 'qwen2' }, 11);
const files = convertLlama2cToHf(model.config, model.weights);
const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
const tensors = parseSafetensors(files.get('model.safetensors')!).tensors;

/** The converted directory with its tensors edited. */
function withTensors(edit: (t: Map<string, { shape: number[]; data: Float32Array }>) => void): Map<string, Uint8Array> {
  const t = new Map([...tensors].map(([k, v]) => [k, { shape: v.shape, data: v.data }]));
  edit(t);
  return new Map([...files, ['model.safetensors', serializeSafetensors(t)]]);
}

describe('parseHfConfig', () => {
  const base = hfConfigJson(model.config);
  it('maps config.json fields, with HF defaults for omitted ones', () => {
    const c = parseHfConfig({ architectures: ['LlamaForCausalLM'], hidden_size: 64, intermediate_size: 172, num_hidden_layers: 5, num_attention_heads: 8, vocab_size: 512, max_position_embeddings: 512, eos_token_id: [7, 9] });
    expect(c).toEqual({ architecture: 'llama', dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 8, headDim: 8, vocabSize: 512, maxSeqLen: 512, ropeTheta: 10000, ropeLayout: 'half', normEps: 1e-6, tiedEmbeddings: false, qkvBias: false, bosId: 1, eosId: 7, eosIds: [7, 9] });
    expect(parseHfConfig({ ...base, architectures: ['Qwen2ForCausalLM'] }).qkvBias).toBe(true);
    expect(() => parseHfConfig(null as never, 'x/config.json')).toThrow(/x\/config\.json: expected a JSON object/);
    expect(parseHfConfig({ ...base, architectures: ['MistralForCausalLM'], attention_bias: false }).architecture).toBe('mistral');
  });
  it.each<[string, Record<string, unknown>, RegExp]>([
    ['an unknown architecture', { architectures: ['GPT2LMHeadModel'] }, /architectures = \["GPT2LMHeadModel"\], expected one of LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM/],
    ['no architectures', { architectures: undefined }, /architectures = undefined/],
    ['heads not dividing dim', { num_attention_heads: 4, head_dim: undefined, hidden_size: 18 }, /headDim = 4\.5/],
    ['kv heads not dividing heads', { num_attention_heads: 3, num_key_value_heads: 2 }, /nHeads = 3 is not a multiple of nKvHeads = 2/],
    ['zero layers', { num_hidden_layers: 0 }, /nLayers = 0, expected an integer in \[1, 1024\]/],
    ['a missing size', { hidden_size: undefined }, /hidden_size = undefined, expected a number/],
    ['an unknown rope scaling', { rope_scaling: { rope_type: 'yarn', factor: 8 } }, /rope_scaling\.rope_type = "yarn" is not supported/],
    ['another activation', { hidden_act: 'gelu' }, /hidden_act = "gelu", expected "silu"/],
  ])('rejects %s with ConfigError', (_, over, message) => {
    expect(() => parseHfConfig({ ...base, ...over }, 'x/config.json')).toThrow(ConfigError);
    expect(() => parseHfConfig({ ...base, ...over }, 'x/config.json')).toThrow(message);
  });
});

describe('loadHfCheckpoint', () => {
  it('loads sharded weights through model.safetensors.index.json', async () => {
    const names = [...tensors.keys()];
    const half = Math.floor(names.length / 2);
    const shard = (ns: string[]) => serializeSafetensors(new Map(ns.map((n) => [n, { shape: tensors.get(n)!.shape, data: tensors.get(n)!.data }])));
    const weightMap = Object.fromEntries(names.map((n, i) => [n, i < half ? 'model-00001-of-00002.safetensors' : 'model-00002-of-00002.safetensors']));
    const sharded = memoryFileSource({
      'config.json': files.get('config.json')!,
      'model.safetensors.index.json': enc({ metadata: {}, weight_map: weightMap }),
      'model-00001-of-00002.safetensors': shard(names.slice(0, half)),
      'model-00002-of-00002.safetensors': shard(names.slice(half)),
    });
    const a = await loadHfCheckpoint(sharded);
    const b = await loadHfCheckpoint(memoryFileSource(files));
    expect(a).toEqual(b);
    expect(a.weights.layers[1].bk).toEqual(tensors.get('model.layers.1.self_attn.k_proj.bias')!.data);
  });

  it('names a missing tensor and its expected shape', async () => {
    const f = withTensors((t) => t.delete('model.layers.1.mlp.up_proj.weight'));
    await expect(loadHfCheckpoint(memoryFileSource(f, 'd'))).rejects.toThrow(WeightError);
    await expect(loadHfCheckpoint(memoryFileSource(f, 'd'))).rejects.toThrow(/tensor model\.layers\.1\.mlp\.up_proj\.weight is missing, expected shape \[23, 17\]/);
    const noBias = withTensors((t) => t.delete('model.layers.0.self_attn.q_proj.bias'));
    await expect(loadHfCheckpoint(memoryFileSource(noBias))).rejects.toThrow(/q_proj\.bias is missing, expected shape \[18\]/);
  });

  it('names a mis-shaped tensor', async () => {
    const f = withTensors((t) => t.set('model.norm.weight', { shape: [1, 17], data: new Float32Array(17) }));
    await expect(loadHfCheckpoint(memoryFileSource(f))).rejects.toThrow(/tensor model\.norm\.weight has shape \[1, 17\], expected \[17\]/);
    const untied = new Map([...files, ['config.json', enc({ ...hfConfigJson(model.config), tie_word_embeddings: false })]]);
    const noHead = withTensors((t) => t.delete('lm_head.weight'));
    expect(tensors.has('lm_head.weight')).toBe(true);
    await expect(loadHfCheckpoint(memoryFileSource(new Map([...noHead, ['config.json', untied.get('config.json')!]])))).rejects.toThrow(/lm_head\.weight is missing, expected shape \[31, 17\]/);
  });

  it('reports missing files, bad JSON and unsafe shard names', async () => {
    await expect(loadHfCheckpoint(memoryFileSource({}, 'empty'))).rejects.toThrow(FileSourceError);
    await expect(loadModelFiles(memoryFileSource({}, 'empty'))).rejects.toThrow(/empty:config\.json: not found/);
    await expect(loadHfCheckpoint(memoryFileSource({ 'config.json': enc('x').subarray(1, 3) }))).rejects.toThrow(ConfigError);
    await expect(loadHfCheckpoint(memoryFileSource({ 'config.json': files.get('config.json')! }, 'd'))).rejects.toThrow(/d:model\.safetensors: not found, and no model\.safetensors\.index\.json/);
    const evil = memoryFileSource({ 'config.json': files.get('config.json')!, 'model.safetensors.index.json': enc({ weight_map: { a: '../../etc/passwd' } }) });
    await expect(loadHfCheckpoint(evil)).rejects.toThrow(SafetensorsError);
    await expect(loadModelFiles(memoryFileSource(files))).rejects.toThrow(/tokenizer\.json: not found, nor tokenizer\.bin/);
  });
});
