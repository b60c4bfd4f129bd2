// Heads in serving engines' layouts. The expected names, shapes and config fields below are
// written out from each engine's loader (file and function cited), not from engine-formats.ts;
// round trips must give the same proposals, and foreign files are checked like our own.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LlamaModel, parseSafetensors, serializeSafetensors, type SafetensorsInput } from '@hydra-ts/model';
import { getDevice, randomArray, type Tensor } from '@hydra-ts/tensor';
import { CandidateTree, chain, trees } from '@hydra-ts/tree';
import { assertClose } from '@hydra-ts/tensor/testing';
import { buildHeads, loadHead } from './checkpoint';
import { headConfigFor } from './config';
import { eagle3LogitsCpu, eagleLogitsCpu, medusaProposeCpu } from './cpu-reference';
import type { EagleHead } from './eagle';
import type { Eagle3Head } from './eagle3';
import type { TopKHeads } from './draft-head';
import { exportHead, type EngineFormat } from './engine-formats';
import { HeadCheckpointError, HeadExportError, HeadMismatchError } from './errors';
import { argmaxCpu, baseConfig, eagleConfig, fakeBase, headConfig, headsFile, randomValues, speculatorConfig, type FakeBase } from './testdata';

const device = await getDevice();
const small = CandidateTree.fromPaths([[0], [1], [2], [0, 0], [0, 1], [1, 0], [0, 0, 0], [1, 0, 0]], { name: 'small' });
const decoder = new TextDecoder();

function observed(head: TopKHeads, seed: number): Float32Array {
  const data = randomArray(2 * head.config.dim, seed, -2, 2);
  const hidden: Tensor = device.tensor(data, [2, head.config.dim]);
  head.observe(hidden, 0);
  hidden.dispose();
  return data.slice(head.config.dim);
}

/** What an engine sees: the config.json object and each tensor's dtype and shape. */
function contents(files: Map<string, Uint8Array>, weights: string) {
  const config = JSON.parse(decoder.decode(files.get('config.json')!));
  const parsed = parseSafetensors(files.get(weights)!);
  const shapes = new Map([...parsed.tensors].map(([n, t]) => [n, t.shape]));
  const dtypes = new Set([...parsed.tensors.values()].map((t) => t.dtype));
  return { config, shapes, dtypes, tensors: parsed.tensors };
}

/** Proposals of two heads on the same h_t over a few trees. */
async function sameProposals(a: TopKHeads, b: TopKHeads) {
  const data = randomArray(3 * a.config.dim, 77, -2, 2);
  for (const h of [a, b]) {
    const hidden = device.tensor(data, [3, a.config.dim]);
    h.observe(hidden, 0);
    hidden.dispose();
  }
  for (const tree of [small, trees['medusa-63'], chain(a.depth)].filter((t) => t.depth <= a.depth)) {
    for (const root of [0, 5, 30]) {
      const pa = await a.propose({ tree, root, context: [] });
      const pb = await b.propose({ tree, root, context: [] });
      expect([...pb.tokens], `${tree.name}, root ${root}`).toEqual([...pa.tokens]);
    }
  }
}

/** Rows of an interleaved-RoPE projection as rotate-half RoPE wants them: pair (2i, 2i+1) of each head -> rows (i, i + headDim/2). */
function rotateHalfRows(w: Float32Array, heads: number, headDim: number, dim: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let h = 0; h < heads; h++) {
    for (let r = 0; r < headDim; r++) {
      const src = h * headDim + (r < headDim / 2 ? 2 * r : 2 * (r - headDim / 2) + 1);
      out.set(w.subarray(src * dim, (src + 1) * dim), (h * headDim + r) * dim);
    }
  }
  return out;
}

async function withBase<T>(fn: (base: FakeBase) => Promise<T>, over = {}): Promise<T> {
  const base = fakeBase(device, baseConfig(over), 3);
  try {
    return await fn(base);
  } finally {
    base.dispose();
  }
}

describe('exported files are what the engines load', () => {
  it('vllm-medusa: MedusaConfig fields; blocks.{i}.layers.{j}.weight/.bias, lm_heads.{i}.weight', () =>
    withBase(async (base) => {
      const c = headConfig(base.config, 'medusa', 3, 2);
      const head = await loadHead(base, headsFile(c, randomValues(c, 1)));
      const { files } = await exportHead(head, 'vllm-medusa');
      expect([...files.keys()].sort()).toEqual(['config.json', 'model.safetensors']);
      const { config, shapes, dtypes } = contents(files, 'model.safetensors');
      // vllm/transformers_utils/configs/medusa.py MedusaConfig.__init__ / from_pretrained
      expect(config).toMatchObject({ model_type: 'medusa', architectures: ['MedusaModel'], hidden_size: 24, vocab_size: 37, num_heads: 3, num_hidden_layers: 2, truncated_vocab_size: 37 });
      // vllm/model_executor/models/medusa.py ResidualBlock.__init__: bias only with medusa_fc_bias
      expect(config.medusa_fc_bias).toBe(true);
      expect(config.original_lm_head).toBe(false);
      // Medusa.__init__ (self.blocks[i].layers[j], self.lm_heads[i]) as Medusa.load_weights matches names
      const want = new Map<string, number[]>();
      for (let i = 0; i < 3; i++) {
        for (let j = 0; j < 2; j++) {
          want.set(`blocks.${i}.layers.${j}.weight`, [24, 24]);
          want.set(`blocks.${i}.layers.${j}.bias`, [24]);
        }
        want.set(`lm_heads.${i}.weight`, [37, 24]);
      }
      expect(new Map([...shapes].sort())).toEqual(new Map([...want].sort()));
      expect(dtypes).toEqual(new Set(['F32']));
      head.dispose();
    }));

  it('vllm-medusa with the base output layer: original_lm_head and one lm_heads.0.weight (Medusa.load_weights)', () =>
    withBase(async (base) => {
      const c = headConfig(base.config, 'medusa', 2, 1, true);
      const head = await loadHead(base, headsFile(c, randomValues(c, 1)));
      const { config, shapes, tensors } = contents((await exportHead(head, 'vllm-medusa')).files, 'model.safetensors');
      expect(config.original_lm_head).toBe(true);
      expect([...shapes.keys()].filter((n) => n.startsWith('lm_heads'))).toEqual(['lm_heads.0.weight']);
      expect(tensors.get('lm_heads.0.weight')!.data).toEqual(base.output);
      head.dispose();
    }));

  it('vllm-medusa over a draft vocabulary: truncated_vocab_size, token_map (int64 base ids), lm_heads of its rows (Medusa.__init__ / load_weights / compute_logits); TGI has no token map', () =>
    withBase(async (base) => {
      for (const shared of [false, true]) {
        const c = headConfig(base.config, 'medusa', 2, 1, shared, 9);
        const values = randomValues(c, 4);
        const head = await loadHead(base, headsFile(c, values));
        const { config, shapes, tensors } = contents((await exportHead(head, 'vllm-medusa')).files, 'model.safetensors');
        // MedusaConfig.truncated_vocab_size < vocab_size: lm_heads are ParallelLMHead(truncated_vocab_size, hidden) and token_map is loaded
        expect(config).toMatchObject({ vocab_size: 37, truncated_vocab_size: 9, original_lm_head: shared });
        const d2t = [...values.get('heads.d2t')!];
        expect(tensors.get('token_map')!.dtype).toBe('I64');
        expect(shapes.get('token_map')).toEqual([9]);
        expect([...tensors.get('token_map')!.data]).toEqual(d2t); // compute_logits: logits[..., token_map] = the head's logits
        const lm = tensors.get('lm_heads.0.weight')!;
        expect(lm.shape).toEqual([9, 24]);
        if (shared) d2t.forEach((id, j) => expect([...lm.data.subarray(j * 24, (j + 1) * 24)]).toEqual([...base.output.subarray(id * 24, (id + 1) * 24)]));
        else expect(lm.data).toEqual(values.get('heads.0.lm_head.weight'));
        await expect(exportHead(head, 'tgi-medusa')).rejects.toThrow(/tgi-medusa: these Medusa heads score a draft vocabulary of 9 of 37 tokens.*Use --format vllm-medusa/);
        head.dispose();
      }
    }));

  it('tgi-medusa: medusa_lm_head.safetensors, {i}.{j}.linear.*, {i}.{L}.weight; medusa_num_heads/layers; no architectures', () =>
    withBase(async (base) => {
      const c = headConfig(base.config, 'medusa', 2, 2);
      const head = await loadHead(base, headsFile(c, randomValues(c, 2)));
      const { files } = await exportHead(head, 'tgi-medusa', { baseModel: 'stories260K', dtype: 'F16' });
      expect([...files.keys()].sort()).toEqual(['config.json', 'medusa_lm_head.safetensors']);
      const { config, shapes, dtypes } = contents(files, 'medusa_lm_head.safetensors');
      // text_generation_server/models/__init__.py get_model: medusa_num_heads, base_model_name_or_path
      expect(config).toMatchObject({ medusa_num_heads: 2, medusa_num_layers: 2, base_model_name_or_path: 'stories260K', torch_dtype: 'float16' });
      // layers/speculative.py SpeculativeHead.load: a config with architectures is not Medusa
      expect(config.architectures).toBeUndefined();
      // layers/medusa.py MedusaHead.__init__ (ResBlock prefix {i}.{j}.linear, bias=True; out {i}.{L}, bias=False)
      const want = new Map<string, number[]>();
      for (let i = 0; i < 2; i++) {
        for (let j = 0; j < 2; j++) {
          want.set(`${i}.${j}.linear.weight`, [24, 24]);
          want.set(`${i}.${j}.linear.bias`, [24]);
        }
        want.set(`${i}.2.weight`, [37, 24]);
      }
      expect(new Map([...shapes].sort())).toEqual(new Map([...want].sort()));
      expect(dtypes).toEqual(new Set(['F16']));
      head.dispose();
    }));

  it('tgi-medusa with the base output layer: V1 with the base layer copied as {i}.{L}.weight (TensorRT-LLM reads only V1)', () =>
    withBase(async (base) => {
      for (const layers of [1, 2]) {
        const c = headConfig(base.config, 'medusa', 2, layers, true);
        const head = await loadHead(base, headsFile(c, randomValues(c, 3)));
        const { tensors } = contents((await exportHead(head, 'tgi-medusa')).files, 'medusa_lm_head.safetensors');
        // tensorrt_llm/models/medusa/weight.py load_medusa_hf: state_dict[f"{h}.{num_medusa_layers}.weight"] for every head
        for (let i = 0; i < 2; i++) expect(tensors.get(`${i}.${layers}.weight`)!.data).toEqual(base.output);
        head.dispose();
      }
    }));

  it('a TGI MedusaHeadV2 file (no {i}.1.weight) loads as heads on the base output layer', () =>
    withBase(async (base) => {
      const { dim } = base.config;
      const values = new Map<string, Float32Array>();
      const tensors = new Map<string, SafetensorsInput>();
      for (let i = 0; i < 3; i++) {
        const w = randomArray(dim * dim, 40 + i, -0.3, 0.3);
        const b = randomArray(dim, 50 + i, -0.3, 0.3);
        // layers/medusa.py MedusaHeadV2.__init__: load_multi of {i}.0.linear (weight, bias); the model's own lm_head
        tensors.set(`${i}.0.linear.weight`, { shape: [dim, dim], data: w });
        tensors.set(`${i}.0.linear.bias`, { shape: [dim], data: b });
        values.set(`heads.${i}.blocks.0.weight`, w);
        values.set(`heads.${i}.blocks.0.bias`, b);
      }
      const head = await loadHead(base, serializeSafetensors(tensors), { engineConfig: { medusa_num_heads: 3, medusa_num_layers: 1 } });
      const c = headConfig(base.config, 'medusa', 3, 1, true);
      expect(head.config).toEqual(c);
      const hT = observed(head, 8);
      const { tokens } = await head.propose({ tree: small, root: 2, context: [] });
      expect([...tokens]).toEqual([...medusaProposeCpu(c, values, base.output, hT, small, 2)]);
      head.dispose();
    }));

  it('mlp-speculator: MLPSpeculatorConfig fields; speculator.{emb,proj,head,ln}.{i}', () =>
    withBase(async (base) => {
      const c = speculatorConfig(base.config, 3, 16, true);
      const head = await loadHead(base, headsFile(c, randomValues(c, 4)));
      const { files } = await exportHead(head, 'mlp-speculator', { baseModel: '/models/stories260K', dtype: 'BF16' });
      expect([...files.keys()].sort()).toEqual(['config.json', 'model.safetensors']);
      const { config, shapes, dtypes } = contents(files, 'model.safetensors');
      // fms_extras/models/hf/modeling_mlp_speculator.py MLPSpeculatorConfig.__init__ (len(top_k_tokens_per_head) == n_predict);
      // TGI layers/speculative.py SpeculativeHead.load: architectures[0] == "MLPSpeculatorPreTrainedModel"
      expect(config).toMatchObject({
        model_type: 'mlp_speculator', architectures: ['MLPSpeculatorPreTrainedModel'], vocab_size: 37, emb_dim: 24, inner_dim: 16, n_predict: 3,
        top_k_tokens_per_head: [1, 1, 1], tie_weights: false, scale_input: true, base_model_name_or_path: '/models/stories260K', torch_dtype: 'bfloat16',
      });
      // vllm/model_executor/models/mlp_speculator.py MLPSpeculator.__init__ (emb, proj: emb_dim first then inner, head, ln with
      // weight and bias) and load_weights (strips "speculator."); TGI layers/mlp.py MLPSpeculatorModel.__init__ (prefix "speculator")
      const want = new Map<string, number[]>();
      for (let i = 0; i < 3; i++) {
        want.set(`speculator.emb.${i}.weight`, [37, 16]);
        want.set(`speculator.proj.${i}.weight`, [16, i === 0 ? 24 : 16]);
        want.set(`speculator.head.${i}.weight`, [37, 16]);
        want.set(`speculator.ln.${i}.weight`, [16]);
        want.set(`speculator.ln.${i}.bias`, [16]);
      }
      expect(new Map([...shapes].sort())).toEqual(new Map([...want].sort()));
      expect(dtypes).toEqual(new Set(['BF16']));
      head.dispose();
    }));
});

describe('heads that no engine format holds are typed errors saying why', () => {
  it('Hydra, Hydra++, EAGLE, and kinds in the other kind\'s format', () =>
    withBase(async (base) => {
      const cases: Array<[ReturnType<typeof headConfig>, EngineFormat, RegExp]> = [
        [headConfig(base.config, 'hydra', 2, 1), 'vllm-medusa', /hydra heads: .*sequential input/],
        [headConfig(base.config, 'hydra', 2, 1), 'mlp-speculator', /no serving engine/],
        [headConfig(base.config, 'hydra++', 2, 1), 'tgi-medusa', /PrefixMLP/],
        [headConfig(base.config, 'medusa', 2, 1), 'eagle', /eagle: .*head kinds \(medusa, hydra, hydra\+\+, mlp-speculator, eagle, eagle3\) only eagle heads are one, so medusa heads cannot be exported as eagle/],
        [speculatorConfig(base.config, 2), 'eagle3', /eagle3: .*d2t.*only eagle3 heads are one .*not EAGLE-3: --format eagle\), so mlp-speculator heads cannot be exported as eagle3/],
        [eagleConfig(base.config, 2), 'eagle', /eagle: this head's draft layer RMS-normalises its input g before attention .*no input norm/],
        [eagleConfig(base.config, 2, { inputNorm: false }), 'eagle3', /eagle3: .*eagle heads are EAGLE-1\/2 heads, not EAGLE-3: --format eagle\), so eagle heads cannot be exported as eagle3/],
        [headConfig(base.config, 'medusa', 2, 1), 'mlp-speculator', /Medusa heads have no token input/],
        [speculatorConfig(base.config, 2), 'vllm-medusa', /use --format mlp-speculator/],
        [headConfig(base.config, 'medusa', 2, 1), 'onnx' as EngineFormat, /format = "onnx", expected one of vllm-medusa, tgi-medusa, eagle, eagle3, mlp-speculator/],
      ];
      for (const [c, format, message] of cases) {
        const head = await loadHead(base, headsFile(c, randomValues(c, 1)));
        await expect(exportHead(head, format)).rejects.toThrow(HeadExportError);
        await expect(exportHead(head, format)).rejects.toThrow(message);
        head.dispose();
      }
    }));
});

describe('export -> loadHead gives the same proposals', () => {
  const cases: Array<[string, EngineFormat, (b: FakeBase) => ReturnType<typeof headConfig>]> = [
    ['medusa, own lm_heads', 'vllm-medusa', (b) => headConfig(b.config, 'medusa', 3, 2)],
    ['medusa, shared output', 'vllm-medusa', (b) => headConfig(b.config, 'medusa', 3, 1, true)],
    ['medusa over a draft vocabulary of 20, own lm_heads', 'vllm-medusa', (b) => headConfig(b.config, 'medusa', 3, 2, false, 20)],
    ['medusa over a draft vocabulary of 20, shared output', 'vllm-medusa', (b) => headConfig(b.config, 'medusa', 2, 1, true, 20)],
    ['medusa, own lm_heads', 'tgi-medusa', (b) => headConfig(b.config, 'medusa', 3, 2)],
    ['medusa, shared output, 1 block', 'tgi-medusa', (b) => headConfig(b.config, 'medusa', 4, 1, true)],
    ['medusa, shared output, 2 blocks', 'tgi-medusa', (b) => headConfig(b.config, 'medusa', 2, 2, true)],
    ['mlp-speculator', 'mlp-speculator', (b) => speculatorConfig(b.config, 3, 20, false)],
    ['mlp-speculator, scale_input', 'mlp-speculator', (b) => speculatorConfig(b.config, 4, 24, true)],
  ];
  for (const [what, format, make] of cases) {
    it(`${format}: ${what}, from a directory on disk and from bytes`, () =>
      withBase(async (base) => {
        const c = make(base);
        const values = randomValues(c, 9);
        const head = await loadHead(base, headsFile(c, values));
        const { files } = await exportHead(head, format, { baseModel: 'stories260K' });
        const dir = mkdtempSync(join(tmpdir(), 'hydra-export-'));
        for (const [name, bytes] of files) writeFileSync(join(dir, name), bytes);
        const fromDir = await loadHead(base, dir);
        expect(fromDir.config).toEqual(c); // kind, counts and sharedOutput all recovered
        expect(await fromDir.readParameters()).toEqual(values);
        await sameProposals(head, fromDir);
        const weights = [...files.keys()].find((n) => n !== 'config.json')!;
        const fromBytes = await loadHead(base, files.get(weights)!, { engineConfig: decoder.decode(files.get('config.json')!) });
        expect(fromBytes.config).toEqual(c);
        await sameProposals(head, fromBytes);
        for (const h of [head, fromDir, fromBytes]) h.dispose();
      }));
  }
});

describe('foreign files load directly, checked against the base model', () => {
  /** A FasterDecoding medusa_lm_head.safetensors: [ResBlock] * L repeats one block's tensors L times. */
  function fasterDecodingFile(base: FakeBase, numHeads: number, layers: number, keepRepeats: boolean) {
    const { dim, vocabSize } = base.config;
    const tensors = new Map<string, SafetensorsInput>();
    const values = new Map<string, Float32Array>();
    for (let i = 0; i < numHeads; i++) {
      const w = randomArray(dim * dim, 10 + i, -0.3, 0.3);
      const b = randomArray(dim, 20 + i, -0.3, 0.3);
      const out = randomArray(vocabSize * dim, 30 + i);
      for (let j = 0; j < layers; j++) {
        if (j === 0 || keepRepeats) {
          tensors.set(`${i}.${j}.linear.weight`, { shape: [dim, dim], data: w });
          tensors.set(`${i}.${j}.linear.bias`, { shape: [dim], data: b });
        }
        values.set(`heads.${i}.blocks.${j}.weight`, w);
        values.set(`heads.${i}.blocks.${j}.bias`, b);
      }
      tensors.set(`${i}.${layers}.weight`, { shape: [vocabSize, dim], data: out });
      values.set(`heads.${i}.lm_head.weight`, out);
    }
    // FasterDecoding medusa/model/medusa_model.py MedusaConfig.__init__
    const config = { medusa_num_heads: numHeads, medusa_num_layers: layers, base_model_name_or_path: 'lmsys/vicuna-7b-v1.3' };
    return { bytes: serializeSafetensors(tensors), config, values };
  }

  for (const keepRepeats of [true, false]) {
    it(`FasterDecoding Medusa with 3 shared-block layers (${keepRepeats ? 'repeated tensors' : 'block 0 only'}) loads and drafts as the reference does`, () =>
      withBase(async (base) => {
        const { bytes, config, values } = fasterDecodingFile(base, 3, 3, keepRepeats);
        const dir = mkdtempSync(join(tmpdir(), 'hydra-medusa-'));
        writeFileSync(join(dir, 'medusa_lm_head.safetensors'), bytes);
        writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
        const head = await loadHead(base, join(dir, 'medusa_lm_head.safetensors')); // config.json found beside it
        const c = headConfig(base.config, 'medusa', 3, 3);
        expect(head.config).toEqual(c);
        expect(await head.readParameters()).toEqual(values);
        const hT = observed(head, 5);
        const { tokens } = await head.propose({ tree: small, root: 3, context: [] });
        expect([...tokens]).toEqual([...medusaProposeCpu(c, values, base.output, hT, small, 3)]);
        head.dispose();
      }));
  }

  it('vLLM Medusa over a truncated vocabulary: original_lm_head over the whole vocabulary keeps the token_map rows; a missing or broken token_map is a HeadCheckpointError naming it', () =>
    withBase(async (base) => {
      const ids = [1, 4, 6, 9, 15, 20, 33];
      const int64 = (a: number[]) => ({ shape: [a.length], data: BigInt64Array.from(a, (x) => BigInt(x)), dtype: 'I64' as const });
      const block = { shape: [24, 24], data: randomArray(24 * 24, 5, -0.2, 0.2) };
      const bias = { shape: [24], data: randomArray(24, 6, -0.2, 0.2) };
      const file = (tokenMap: ReturnType<typeof int64> | null, lm = { shape: [37, 24], data: base.output }) => {
        const t = new Map<string, SafetensorsInput>([['blocks.0.layers.0.weight', block], ['blocks.0.layers.0.bias', bias], ['lm_heads.0.weight', lm]]);
        if (tokenMap) t.set('token_map', tokenMap);
        return serializeSafetensors(t, { format: 'pt' });
      };
      const cfg = { model_type: 'medusa', num_heads: 1, num_hidden_layers: 1, hidden_size: 24, vocab_size: 37, truncated_vocab_size: ids.length, medusa_fc_bias: true, original_lm_head: true };
      const head = await loadHead(base, file(int64(ids)), { engineConfig: cfg });
      expect(head.config).toMatchObject({ kind: 'medusa', sharedOutput: true, draftVocabSize: ids.length });
      const values = await head.readParameters();
      expect([...values.get('heads.d2t')!]).toEqual(ids);
      const hT = observed(head, 8);
      const { tokens } = await head.propose({ tree: chain(1), root: 3, context: [] });
      expect([...tokens]).toEqual([...medusaProposeCpu(head.config, values, base.output, hT, chain(1), 3)]);
      expect(ids).toContain(tokens[1]);
      head.dispose();
      await expect(loadHead(base, file(null), { engineConfig: cfg })).rejects.toThrow(/truncated_vocab_size 7 < vocab_size 37 but there is no token_map \[7\]/);
      await expect(loadHead(base, file(int64([1, 4, 6, 9, 9, 20, 33])), { engineConfig: cfg })).rejects.toThrow(/token_map\[4\] = 9 after 9, expected strictly increasing base ids/);
      await expect(loadHead(base, file(int64([1, 4, 6, 9, 15, 20, 37])), { engineConfig: cfg })).rejects.toThrow(/token_map\[6\] = 37, expected a base token id in \[0, 37\)/);
      await expect(loadHead(base, file(int64(ids)), { engineConfig: { ...cfg, truncated_vocab_size: 40 } })).rejects.toThrow(/truncated_vocab_size = 40, expected at most vocab_size 37/);
      await expect(loadHead(base, file(int64(ids), { shape: [8, 24], data: new Float32Array(8 * 24) }), { engineConfig: cfg })).rejects.toThrow(HeadCheckpointError);
    }));

  it('vLLM Medusa without medusa_fc_bias (no bias tensors) loads with zero biases', () =>
    withBase(async (base) => {
      const { dim, vocabSize } = base.config;
      const w = randomArray(dim * dim, 4, -0.3, 0.3);
      const out = randomArray(vocabSize * dim, 5);
      const bytes = serializeSafetensors(new Map([
        ['blocks.0.layers.0.weight', { shape: [dim, dim], data: w }],
        ['lm_heads.0.weight', { shape: [vocabSize, dim], data: out }],
      ]));
      const head = await loadHead(base, bytes, { engineConfig: { model_type: 'medusa', hidden_size: dim, vocab_size: vocabSize, num_heads: 1, num_hidden_layers: 1 } });
      const v = await head.readParameters();
      expect(v.get('heads.0.blocks.0.bias')).toEqual(new Float32Array(dim));
      expect(v.get('heads.0.blocks.0.weight')).toEqual(w);
      head.dispose();
    }));

  it('a tied MLPSpeculator (one emb/head/ln, proj.0 and proj.1) loads as untied copies', () =>
    withBase(async (base) => {
      const c = speculatorConfig(base.config, 4, 16);
      const values = randomValues(c, 6);
      const tied = new Map<string, SafetensorsInput>();
      for (const n of ['emb.0.weight', 'proj.0.weight', 'proj.1.weight', 'head.0.weight', 'ln.0.weight', 'ln.0.bias']) {
        const v = values.get(`speculator.${n}`)!;
        tied.set(`speculator.${n}`, { shape: n.startsWith('ln') ? [16] : n.startsWith('proj.0') ? [16, 24] : n.startsWith('proj') ? [16, 16] : [37, 16], data: v });
      }
      const config = { model_type: 'mlp_speculator', emb_dim: 24, inner_dim: 16, vocab_size: 37, n_predict: 4, tie_weights: true, scale_input: false };
      const head = await loadHead(base, serializeSafetensors(tied), { engineConfig: config });
      const got = await head.readParameters();
      expect(got.get('speculator.emb.3.weight')).toEqual(values.get('speculator.emb.0.weight'));
      expect(got.get('speculator.proj.3.weight')).toEqual(values.get('speculator.proj.1.weight'));
      expect(got.get('speculator.ln.2.bias')).toEqual(values.get('speculator.ln.0.bias'));
      head.dispose();
    }));

  it('another dim or vocabulary is a HeadMismatchError naming both; broken files are HeadCheckpointErrors', () =>
    withBase(async (base) => {
      const other = fakeBase(device, baseConfig({ dim: 16, vocabSize: 41, headDim: 16, nHeads: 1 }), 2);
      const medusa = await loadHead(other, headsFile(headConfig(other.config, 'medusa', 2, 1), randomValues(headConfig(other.config, 'medusa', 2, 1), 1)));
      const spec = await loadHead(other, headsFile(speculatorConfig(other.config, 2), randomValues(speculatorConfig(other.config, 2), 1)));
      for (const [head, format] of [[medusa, 'vllm-medusa'], [medusa, 'tgi-medusa'], [spec, 'mlp-speculator']] as const) {
        const { files } = await exportHead(head, format);
        const weights = [...files.keys()].find((n) => n !== 'config.json')!;
        const bytes = files.get(weights)!;
        await expect(loadHead(base, bytes, { engineConfig: decoder.decode(files.get('config.json')!) })).rejects.toThrow(HeadMismatchError);
        await expect(loadHead(base, bytes)).rejects.toThrow(/heads of dim 16, the base model has dim 24|vocabSize 41, the base model has vocabSize 37/);
      }
      // right dims, wrong vocabulary: a TGI head's output layer
      const { dim } = base.config;
      const lmOnly = serializeSafetensors(new Map([
        ['0.0.linear.weight', { shape: [dim, dim], data: new Float32Array(dim * dim) }],
        ['0.0.linear.bias', { shape: [dim], data: new Float32Array(dim) }],
        ['0.1.weight', { shape: [50, dim], data: new Float32Array(50 * dim) }],
      ]));
      await expect(loadHead(base, lmOnly, { engineConfig: { medusa_num_heads: 1, medusa_num_layers: 1 } })).rejects.toThrow(/0\.1\.weight has shape \[50, 24\]: heads of vocabSize 50, the base model has vocabSize 37/);
      await expect(loadHead(base, lmOnly, { engineConfig: { medusa_num_heads: 2, medusa_num_layers: 1 } })).rejects.toThrow(HeadCheckpointError);
      await expect(loadHead(base, lmOnly, { engineConfig: { medusa_num_heads: 2, medusa_num_layers: 1 } })).rejects.toThrow(/1\.0\.linear\.weight \[24, 24\] is missing/);
      await expect(loadHead(base, lmOnly, { engineConfig: '{nope' })).rejects.toThrow(/engineConfig: not JSON/);
      await expect(loadHead(base, lmOnly, { engineConfig: { medusa_num_heads: 1, medusa_num_layers: 1, hidden_size: 32 } })).rejects.toThrow(/config.json hidden_size = 32: heads of dim 32, the base model has dim 24/);
      const lmHeadsOnly = serializeSafetensors(new Map([['lm_heads.0.weight', { shape: [37, dim], data: new Float32Array(37 * dim) }]]));
      await expect(loadHead(base, lmHeadsOnly)).rejects.toThrow(/0 heads, expected 1 to 64 \(from config.json, or counted from the tensor names/);
      const emptyDir = mkdtempSync(join(tmpdir(), 'hydra-empty-'));
      await expect(loadHead(base, emptyDir)).rejects.toThrow(/a heads directory needs medusa_lm_head.safetensors or model.safetensors/);
      medusa.dispose();
      spec.dispose();
      other.dispose();
    }));
});

// EAGLE-1/2 draft models. What the loaders read, written out from their code:
//   vLLM vllm/model_executor/models/llama_eagle.py (EagleLlamaForCausalLM): fc = Linear(2·hidden,
//     hidden, bias=False) over cat(embeds, hidden_states); layers.{i} Llama decoder layers, layer 0's
//     input_layernorm nn.Identity (no parameter, so a file's layers.0.input_layernorm.weight fails
//     params_dict); q/k/v_proj -> qkv_proj, gate/up_proj -> gate_up_proj; embed_tokens skipped.
//     vllm/transformers_utils/configs/eagle.py: architectures LlamaForCausalLM -> EagleLlamaForCausalLM.
//   SGLang python/sglang/srt/models/llama_eagle.py (EntryClass LlamaForCausalLMEagle): fc =
//     Linear(2·hidden, hidden) with bias; layer 0's input_layernorm the identity; lm_head skipped.
//   SafeAILab/EAGLE eagle/model/cnets1.py + ea_model.py: fc bias from config.json "bias"; layer
//     index 0 has no input_layernorm; no final norm, the base lm_head scores the layer output.
// Hugging Face Llama layers turn q/k by rotate-half RoPE.
describe('EAGLE draft models for vLLM and SGLang', () => {
  /** The tensors of a one-layer Llama EAGLE draft model, by the loaders' names. */
  function loaderShapes(dim: number, qDim: number, kvDim: number, hidden: number, fcBias: boolean): Array<[string, number[]]> {
    return [
      ['fc.weight', [dim, 2 * dim]], // cat((embeds, hidden_states)) -> hidden
      ...(fcBias ? ([['fc.bias', [dim]]] as Array<[string, number[]]>) : []),
      ['layers.0.self_attn.q_proj.weight', [qDim, dim]],
      ['layers.0.self_attn.k_proj.weight', [kvDim, dim]],
      ['layers.0.self_attn.v_proj.weight', [kvDim, dim]],
      ['layers.0.self_attn.o_proj.weight', [dim, qDim]],
      ['layers.0.post_attention_layernorm.weight', [dim]],
      ['layers.0.mlp.gate_proj.weight', [hidden, dim]],
      ['layers.0.mlp.up_proj.weight', [hidden, dim]],
      ['layers.0.mlp.down_proj.weight', [dim, hidden]],
    ];
  }

  for (const engine of ['vllm', 'sglang'] as const) {
    it(`${engine}: the loader's tensor names and shapes, a Llama config.json, q/k rows in rotate-half order, and the engine's arithmetic on them drafts as the head does`, () =>
      withBase(async (base) => {
        const layer = engine === 'vllm' ? { inputNorm: false, fcBias: false } : { inputNorm: false }; // vLLM's fc has no bias
        const c = eagleConfig(base.config, 3, layer);
        const values = randomValues(c, 4);
        const head = (await loadHead(base, headsFile(c, values))) as EagleHead;
        const { files } = await exportHead(head, 'eagle', { engine });
        expect([...files.keys()].sort()).toEqual(['config.json', 'model.safetensors']);
        const { config, shapes, dtypes, tensors } = contents(files, 'model.safetensors');
        const { dim, vocabSize, nHeads, nKvHeads, headDim, hiddenDim } = base.config;
        expect([...shapes]).toEqual(loaderShapes(dim, nHeads * headDim, nKvHeads * headDim, hiddenDim, engine === 'sglang'));
        expect(dtypes).toEqual(new Set(['F32']));
        expect(config).toEqual({
          architectures: [engine === 'vllm' ? 'LlamaForCausalLM' : 'LlamaForCausalLMEagle'],
          model_type: 'llama', hidden_size: 24, intermediate_size: 40, num_hidden_layers: 1, num_attention_heads: 3, num_key_value_heads: 1, head_dim: 8,
          hidden_act: 'silu', rms_norm_eps: 1e-5, rope_theta: 10000, max_position_embeddings: 64, vocab_size: vocabSize, tie_word_embeddings: false,
          attention_bias: false, bias: engine === 'sglang', torch_dtype: 'float32',
        });
        const file = (n: string) => tensors.get(n)!.data as Float32Array;
        expect(file('fc.weight')).toEqual(values.get('eagle.fc.weight')); // [e; f] columns in EAGLE's order
        expect(file('layers.0.self_attn.q_proj.weight')).toEqual(rotateHalfRows(values.get('eagle.wq')!, nHeads, headDim, dim));
        expect(file('layers.0.self_attn.k_proj.weight')).toEqual(rotateHalfRows(values.get('eagle.wk')!, nKvHeads, headDim, dim));
        expect(file('layers.0.mlp.gate_proj.weight')).toEqual(values.get('eagle.w1'));
        expect(file('layers.0.mlp.up_proj.weight')).toEqual(values.get('eagle.w3'));
        // the engines' layer: the file's weights, rotate-half RoPE, no input norm, fc bias only where written
        const engineValues = new Map<string, Float32Array>([
          ['eagle.fc.weight', file('fc.weight')], ...(engine === 'sglang' ? ([['eagle.fc.bias', file('fc.bias')]] as Array<[string, Float32Array]>) : []),
          ['eagle.wq', file('layers.0.self_attn.q_proj.weight')], ['eagle.wk', file('layers.0.self_attn.k_proj.weight')], ['eagle.wv', file('layers.0.self_attn.v_proj.weight')],
          ['eagle.wo', file('layers.0.self_attn.o_proj.weight')], ['eagle.ffn_norm', file('layers.0.post_attention_layernorm.weight')],
          ['eagle.w1', file('layers.0.mlp.gate_proj.weight')], ['eagle.w3', file('layers.0.mlp.up_proj.weight')], ['eagle.w2', file('layers.0.mlp.down_proj.weight')],
        ]);
        const engineConfig = { ...c, eagle: { ...c.eagle!, ropeLayout: 'half' as const } };
        const features = randomArray(4 * dim, 8, -1.5, 1.5);
        const context = [3, 9, 14, 2];
        const hidden = device.tensor(features, [4, dim]);
        head.observe(hidden, 0);
        hidden.dispose();
        const path = [5, 30];
        const got = (await head.chainLogits({ context, root: 7 }, path).read()) as Float32Array;
        const want = eagleLogitsCpu(engineConfig, engineValues, base.embeddings, base.output, features, context, 7, path);
        want.forEach((row, j) => {
          const ours = got.subarray(j * vocabSize, (j + 1) * vocabSize);
          for (let v = 0; v < vocabSize; v++) expect(Math.abs(ours[v] - row[v]), `row ${j}, token ${v}`).toBeLessThan(1e-4 * (1 + Math.abs(row[v])));
        });
        // and back: the same head (the base model's interleaved layout restored), from a directory and from bytes
        const dir = mkdtempSync(join(tmpdir(), 'hydra-eagle-'));
        for (const [name, bytes] of files) writeFileSync(join(dir, name), bytes);
        const back = await loadHead(base, dir);
        expect(back.config).toEqual(eagleConfig(base.config, 6, layer));
        expect(await back.readParameters()).toEqual(values);
        const fromBytes = await loadHead(base, files.get('model.safetensors')!, { engineConfig: decoder.decode(files.get('config.json')!) });
        expect(await fromBytes.readParameters()).toEqual(values);
        for (const h of [head, back, fromBytes]) h.dispose();
      }));
  }

  it('what the engines cannot run is a HeadExportError saying why: an input norm, an fc bias for vLLM, EAGLE-3', () =>
    withBase(async (base) => {
      const normed = eagleConfig(base.config, 2);
      const withNorm = await loadHead(base, headsFile(normed, randomValues(normed, 1)));
      await expect(exportHead(withNorm, 'eagle', { engine: 'sglang' })).rejects.toThrow(/eagle\.attn_norm.*layer 0 has no input norm.*inputNorm false/);
      const c = eagleConfig(base.config, 2, { inputNorm: false });
      const biased = await loadHead(base, headsFile(c, randomValues(c, 1))); // random fc bias
      await expect(exportHead(biased, 'eagle')).rejects.toThrow(HeadExportError);
      await expect(exportHead(biased, 'eagle', { engine: 'vllm' })).rejects.toThrow(/fc has a bias .*vLLM's EagleLlamaForCausalLM builds fc without one.*engine sglang.*fcBias false/);
      // for SGLang a head without an fc bias gets a zero one (its fc always has one)
      const unbiased = eagleConfig(base.config, 2, { inputNorm: false, fcBias: false });
      const noBias = await loadHead(base, headsFile(unbiased, randomValues(unbiased, 1)));
      const sglang = contents((await exportHead(noBias, 'eagle', { engine: 'sglang' })).files, 'model.safetensors');
      expect(sglang.tensors.get('fc.bias')!.data).toEqual(new Float32Array(base.config.dim));
      noBias.dispose();
      await expect(exportHead(biased, 'eagle', { engine: 'tgi' as 'vllm' })).rejects.toThrow(/engine = "tgi", expected one of vllm, sglang/);
      await expect(exportHead(biased, 'eagle3')).rejects.toThrow(/EAGLE-1\/2 heads, not EAGLE-3/);
      const medusa = await loadHead(base, headsFile(headConfig(base.config, 'medusa', 2, 1), randomValues(headConfig(base.config, 'medusa', 2, 1), 1)));
      await expect(exportHead(medusa, 'vllm-medusa', { engine: 'vllm' })).rejects.toThrow(/engine is an option of the eagle format, not of vllm-medusa/);
      for (const h of [withNorm, biased, medusa]) h.dispose();
    }));

  it('foreign files: mismatched dims, heads or vocabulary are HeadMismatchErrors naming the field; missing, extra or EAGLE-3 tensors HeadCheckpointErrors naming them', () =>
    withBase(async (base) => {
      const c = eagleConfig(base.config, 2, { inputNorm: false });
      const head = await loadHead(base, headsFile(c, randomValues(c, 2)));
      const { files } = await exportHead(head, 'eagle', { engine: 'sglang' });
      head.dispose();
      const config = JSON.parse(decoder.decode(files.get('config.json')!)) as Record<string, unknown>;
      const tensors = parseSafetensors(files.get('model.safetensors')!).tensors;
      const load = (t: Map<string, { shape: number[]; data: Float32Array }>, cfg: Record<string, unknown> | undefined = config) =>
        loadHead(base, serializeSafetensors(new Map([...t].map(([n, x]) => [n, { shape: [...x.shape], data: x.data }]))), cfg ? { engineConfig: cfg } : {});
      const all = new Map([...tensors].map(([n, t]) => [n, { shape: [...t.shape], data: t.data as Float32Array }]));
      for (const [field, value, message] of [
        ['hidden_size', 32, /config.json hidden_size = 32: heads of dim 32, the base model has dim 24/],
        ['vocab_size', 50, /config.json vocab_size = 50: heads of vocabSize 50, the base model has vocabSize 37/],
        ['num_attention_heads', 4, /config.json num_attention_heads = 4: a draft layer of 4 attention heads, the base model has 3/],
        ['num_key_value_heads', 3, /config.json num_key_value_heads = 3: a draft layer of 3 key\/value heads, the base model has 1/],
      ] as const) {
        await expect(load(all, { ...config, [field]: value })).rejects.toThrow(HeadMismatchError);
        await expect(load(all, { ...config, [field]: value })).rejects.toThrow(message);
      }
      // no config.json: fc's rows give the draft model's dim
      const narrow = new Map(all);
      narrow.set('fc.weight', { shape: [16, 32], data: new Float32Array(16 * 32) });
      await expect(load(narrow, undefined)).rejects.toThrow(/fc\.weight has shape \[16, 32\]: heads of dim 16, the base model has dim 24/);
      const missing = new Map(all);
      missing.delete('layers.0.mlp.down_proj.weight');
      await expect(load(missing)).rejects.toThrow(HeadCheckpointError);
      await expect(load(missing)).rejects.toThrow(/tensor layers\.0\.mlp\.down_proj\.weight \[24, 40\] is missing/);
      const normed = new Map(all).set('layers.0.input_layernorm.weight', { shape: [24], data: new Float32Array(24).fill(1) });
      await expect(load(normed)).rejects.toThrow(/layers\.0\.input_layernorm\.weight: EAGLE's draft layer 0 has no input norm/);
      const hass = new Map(all).set('hidden_states_layernorm.weight', { shape: [24], data: new Float32Array(24).fill(1) });
      await expect(load(hass)).rejects.toThrow(/unexpected tensor hidden_states_layernorm\.weight/);
      // EAGLE-3's d2t makes the file an EAGLE-3 draft model, whose layer is midlayer.*, not layers.0.*
      const eagle3 = new Map(all).set('d2t', { shape: [37], data: new Float32Array(37) });
      eagle3.delete('fc.bias');
      await expect(load(eagle3, { ...config, bias: false })).rejects.toThrow(HeadCheckpointError);
      await expect(load(eagle3, { ...config, bias: false })).rejects.toThrow(/unexpected tensor layers\.0\.self_attn\.q_proj\.weight: not part of an EAGLE-3 Llama draft model/);
      await expect(load(all, { ...config, num_hidden_layers: 2 })).rejects.toThrow(/2 draft layers .*expected 1/);
      await expect(load(all, { ...config, bias: false })).rejects.toThrow(/config.json bias = false, yet the file holds fc\.bias/);
      await expect(load(all, { ...config, rope_scaling: { rope_type: 'llama3', factor: 8 } })).rejects.toThrow(/rope_scaling .* is not supported/);
      // the engines' own spelling, "model."-prefixed, with the embed_tokens / lm_head copies they skip, loads
      const prefixed = new Map([...all].map(([n, t]) => [`model.${n}`, t]));
      prefixed.set('model.embed_tokens.weight', { shape: [37, 24], data: base.embeddings });
      const ok = await load(prefixed);
      expect(await ok.readParameters()).toEqual(await (await load(all)).readParameters());
      ok.dispose();
    }));
});

// EAGLE-3 draft models. What the loaders read, written out from their code:
//   vLLM vllm/model_executor/models/llama_eagle3.py (Eagle3LlamaForCausalLM; registry.py maps
//     architectures "LlamaForCausalLMEagle3" to it): LlamaModel.fc = ReplicatedLinear(3·target_hidden_size,
//     hidden_size, bias=False); LlamaDecoderLayer 0's qkv_proj over 2·hidden_size (q/k/v_proj stacked),
//     input_layernorm on the embeddings, hidden_norm on the hidden states, cat([embeds, hidden_states]),
//     residual the un-normed hidden states (norm_before_residual false), post_attention_layernorm,
//     mlp gate/up/down_proj; LlamaModel.norm; lm_head [draft_vocab_size, hidden_size].
//     load_weights: "midlayer." -> "layers.0.", names but lm_head under "model.", d2t ->
//     draft_id_to_target_id (torch.long [draft_vocab_size]), t2d skipped; compute_logits puts draft
//     id j at base id j + d2t[j].
//   SGLang python/sglang/srt/models/llama_eagle3.py (LlamaForCausalLMEagle3): the same names
//     (model.midlayer.*, model.fc, model.norm, lm_head), hot_token_id = d2t + arange, t2d skipped.
//   Aux layers: vLLM reads eagle_aux_hidden_state_layer_ids (inputs of those layers: gpu_model_runner.py,
//     llama.py LlamaModel.forward); SGLang eagle_config.eagle_aux_hidden_state_layer_ids, capturing
//     layers id + 1 (llama.py set_eagle3_layers_to_capture), i.e. outputs of those layers.
describe('EAGLE-3 draft models for vLLM and SGLang', () => {
  const config = baseConfig({ nLayers: 8 });
  const { dim, vocabSize, nHeads, nKvHeads, headDim, hiddenDim } = config;
  const draftVocabSize = 20;
  const ids = Float32Array.from({ length: draftVocabSize }, (_, j) => Math.floor((j * 37) / draftVocabSize)); // base ids 0, 1, 3, 5, ... 35
  const F = randomArray(6 * 3 * dim, 31, -1.5, 1.5); // features of 6 committed rows [6, 3·dim]
  const context = [3, 9, 14, 2, 30, 7];

  function eagle3Head(base: FakeBase, featureLayers: [number, number, number] = [1, 3, 6], seed = 4) {
    const c = headConfigFor(base.config, { kind: 'eagle3', numHeads: 6, featureLayers, draftVocabSize });
    const values = randomValues(c, seed);
    values.set('eagle3.d2t', ids);
    return { c, values, load: async () => (await loadHead(base, headsFile(c, values))) as Eagle3Head };
  }

  function observeFeatures(head: Eagle3Head) {
    const hidden = device.zeros([6, dim]);
    const features = device.tensor(F, [6, 3 * dim]);
    head.observe(hidden, 0, features);
    hidden.dispose();
    features.dispose();
  }

  /** The loader's tensors with their shapes, in the order eagle3Layout writes them. */
  const loaderShapes: Array<[string, number[]]> = [
    ['fc.weight', [dim, 3 * dim]], // [F_low; F_mid; F_high] -> hidden_size
    ['midlayer.input_layernorm.weight', [dim]],
    ['midlayer.hidden_norm.weight', [dim]],
    ['midlayer.self_attn.q_proj.weight', [nHeads * headDim, 2 * dim]], // qkv_proj over 2·hidden_size
    ['midlayer.self_attn.k_proj.weight', [nKvHeads * headDim, 2 * dim]],
    ['midlayer.self_attn.v_proj.weight', [nKvHeads * headDim, 2 * dim]],
    ['midlayer.self_attn.o_proj.weight', [dim, nHeads * headDim]],
    ['midlayer.post_attention_layernorm.weight', [dim]],
    ['midlayer.mlp.gate_proj.weight', [hiddenDim, dim]],
    ['midlayer.mlp.up_proj.weight', [hiddenDim, dim]],
    ['midlayer.mlp.down_proj.weight', [dim, hiddenDim]],
    ['norm.weight', [dim]],
    ['lm_head.weight', [draftVocabSize, dim]],
    ['d2t', [draftVocabSize]],
    ['t2d', [vocabSize]],
  ];

  for (const ropeLayout of ['interleaved', 'half'] as const) {
    it(`${ropeLayout} RoPE base: the loaders' names and shapes, d2t as int64 offsets, t2d, a LlamaForCausalLMEagle3 config.json, and the engines' arithmetic on the file drafts as the head does`, () =>
      withBase(async (base) => {
        const { c, values, load } = eagle3Head(base);
        const head = await load();
        const { files } = await exportHead(head, 'eagle3');
        expect([...files.keys()].sort()).toEqual(['config.json', 'model.safetensors']);
        const { config: cfg, shapes, tensors } = contents(files, 'model.safetensors');
        expect([...shapes]).toEqual(loaderShapes);
        expect(new Map([...tensors].map(([n, t]) => [n, t.dtype]))).toEqual(new Map(loaderShapes.map(([n]) => [n, n === 'd2t' ? 'I64' : n === 't2d' ? 'BOOL' : 'F32'])));
        expect(cfg).toEqual({
          architectures: ['LlamaForCausalLMEagle3'], model_type: 'llama', hidden_size: 24, intermediate_size: 40, num_hidden_layers: 1,
          num_attention_heads: 3, num_key_value_heads: 1, head_dim: 8, hidden_act: 'silu', rms_norm_eps: 1e-5, rope_theta: 10000,
          max_position_embeddings: 64, vocab_size: 37, draft_vocab_size: 20, target_hidden_size: 24, tie_word_embeddings: false,
          attention_bias: false, norm_before_residual: false,
          eagle_aux_hidden_state_layer_ids: [1, 3, 6], // vLLM: inputs of layers 1, 3, 6, as featureLayers
          eagle_config: { eagle_aux_hidden_state_layer_ids: [0, 2, 5], use_aux_hidden_state: true }, // SGLang: outputs of layers 0, 2, 5
          torch_dtype: 'float32',
        });
        const file = (n: string) => tensors.get(n)!.data as Float32Array;
        // d2t: offsets base id − draft id, as int64 in the bytes themselves
        const bytes = files.get('model.safetensors')!;
        const headerLen = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
        const header = JSON.parse(decoder.decode(bytes.subarray(8, 8 + headerLen)));
        const at = 8 + headerLen + header.d2t.data_offsets[0];
        const raw = new DataView(bytes.buffer, bytes.byteOffset + at, 8 * draftVocabSize);
        expect(Array.from({ length: draftVocabSize }, (_, j) => raw.getBigInt64(8 * j, true))).toEqual(Array.from(ids, (id, j) => BigInt(id - j)));
        const drafted = new Set(ids);
        expect([...file('t2d')]).toEqual(Array.from({ length: vocabSize }, (_, v) => (drafted.has(v) ? 1 : 0)));
        expect(file('fc.weight')).toEqual(values.get('eagle3.fc.weight'));
        // q/k rows in rotate-half order: an interleaved base's rows permuted, a rotate-half base's as they are
        const half = (w: Float32Array, heads: number) => (ropeLayout === 'interleaved' ? rotateHalfRows(w, heads, headDim, 2 * dim) : w);
        expect(file('midlayer.self_attn.q_proj.weight')).toEqual(half(values.get('eagle3.wq')!, nHeads));
        expect(file('midlayer.self_attn.k_proj.weight')).toEqual(half(values.get('eagle3.wk')!, nKvHeads));
        expect(file('midlayer.self_attn.v_proj.weight')).toEqual(values.get('eagle3.wv'));
        expect(file('midlayer.input_layernorm.weight')).toEqual(values.get('eagle3.input_norm'));
        expect(file('midlayer.hidden_norm.weight')).toEqual(values.get('eagle3.hidden_norm'));
        expect(file('midlayer.post_attention_layernorm.weight')).toEqual(values.get('eagle3.ffn_norm'));
        expect(file('lm_head.weight')).toEqual(values.get('eagle3.lm_head'));
        // the engines' layer on the file's weights: rotate-half RoPE, base id j + d2t[j]
        const engineValues = new Map<string, Float32Array>([
          ['eagle3.fc.weight', file('fc.weight')], ['eagle3.input_norm', file('midlayer.input_layernorm.weight')], ['eagle3.hidden_norm', file('midlayer.hidden_norm.weight')],
          ['eagle3.wq', file('midlayer.self_attn.q_proj.weight')], ['eagle3.wk', file('midlayer.self_attn.k_proj.weight')], ['eagle3.wv', file('midlayer.self_attn.v_proj.weight')],
          ['eagle3.wo', file('midlayer.self_attn.o_proj.weight')], ['eagle3.ffn_norm', file('midlayer.post_attention_layernorm.weight')],
          ['eagle3.w1', file('midlayer.mlp.gate_proj.weight')], ['eagle3.w3', file('midlayer.mlp.up_proj.weight')], ['eagle3.w2', file('midlayer.mlp.down_proj.weight')],
          ['eagle3.norm', file('norm.weight')], ['eagle3.lm_head', file('lm_head.weight')], ['eagle3.d2t', Float32Array.from(file('d2t'), (o, j) => o + j)],
        ]);
        expect(engineValues.get('eagle3.d2t')).toEqual(ids);
        observeFeatures(head);
        const path = [5, 30, 11];
        const t = head.chainLogits({ context, root: 7 }, path);
        const got = (await t.read()) as Float32Array;
        t.dispose();
        const want = eagle3LogitsCpu(c, engineValues, base.embeddings, { theta: cfg.rope_theta, layout: 'half', eps: cfg.rms_norm_eps }, F, context, 7, path);
        want.forEach((row, j) => assertClose(got.subarray(j * draftVocabSize, (j + 1) * draftVocabSize), row, { what: `row ${j}`, atol: 1e-4, rtol: 1e-4 }));
        // and back into the base model's layout
        const back = (await loadHead(base, files.get('model.safetensors')!, { engineConfig: decoder.decode(files.get('config.json')!) })) as Eagle3Head;
        expect(await back.readParameters()).toEqual(values);
        for (const h of [head, back]) h.dispose();
      }, { nLayers: 8, ropeLayout }));
  }

  it('export -> loadHead (a directory, bytes + config.json, BF16) gives the same parameters, draft logits and proposals', () =>
    withBase(async (base) => {
      const { c, values, load } = eagle3Head(base);
      const head = await load();
      const { files } = await exportHead(head, 'eagle3');
      const dir = mkdtempSync(join(tmpdir(), 'hydra-eagle3-'));
      for (const [name, bytes] of files) writeFileSync(join(dir, name), bytes);
      const back = (await loadHead(base, dir)) as Eagle3Head;
      expect(back.config).toEqual(c);
      expect(await back.readParameters()).toEqual(values);
      const fromBytes = (await loadHead(base, files.get('model.safetensors')!, { engineConfig: decoder.decode(files.get('config.json')!) })) as Eagle3Head;
      expect(await fromBytes.readParameters()).toEqual(values);
      for (const h of [head, back, fromBytes]) observeFeatures(h);
      const logits = async (h: Eagle3Head) => {
        const t = h.chainLogits({ context, root: 13 }, [4, 22]);
        const out = (await t.read()) as Float32Array;
        t.dispose();
        return out;
      };
      expect(await logits(back)).toEqual(await logits(head));
      for (const tree of [small, trees['medusa-63'], chain(6)]) {
        for (const root of [0, 13]) {
          const want = [...(await head.propose({ tree, root, context })).tokens];
          expect([...(await back.propose({ tree, root, context })).tokens], `${tree.name}, root ${root}`).toEqual(want);
          expect([...(await fromBytes.propose({ tree, root, context })).tokens], `${tree.name}, root ${root}, from bytes`).toEqual(want);
        }
      }
      // BF16: the weights rounded, d2t and t2d as they were
      const bf16 = contents((await exportHead(head, 'eagle3', { dtype: 'BF16' })).files, 'model.safetensors');
      expect(bf16.dtypes).toEqual(new Set(['BF16', 'I64', 'BOOL']));
      expect(bf16.config.torch_dtype).toBe('bfloat16');
      expect([...bf16.tensors.get('d2t')!.data]).toEqual(Array.from(ids, (id, j) => id - j));
      for (const h of [head, back, fromBytes]) h.dispose();
    }, { nLayers: 8 }));

  it('aux layer ids: vLLM\'s as featureLayers, SGLang\'s (eagle_config) plus one, the engines\' default (2, L/2, L-3) without either; disagreeing ids are an error', () =>
    withBase(async (base) => {
      const { load } = eagle3Head(base, [0, 4, 7]);
      const head = await load();
      const { files } = await exportHead(head, 'eagle3');
      head.dispose();
      const cfg = JSON.parse(decoder.decode(files.get('config.json')!)) as Record<string, unknown>;
      expect(cfg.eagle_aux_hidden_state_layer_ids).toEqual([0, 4, 7]);
      expect(cfg.eagle_config).toEqual({ eagle_aux_hidden_state_layer_ids: [-1, 3, 6], use_aux_hidden_state: true }); // layer 0's input: SGLang's -1 + 1
      const weights = files.get('model.safetensors')!;
      const layersOf = async (engineConfig: Record<string, unknown>) => {
        const h = (await loadHead(base, weights, { engineConfig })) as Eagle3Head;
        const l = h.featureLayers;
        h.dispose();
        return l;
      };
      expect(await layersOf(cfg)).toEqual([0, 4, 7]);
      expect(await layersOf({ ...cfg, eagle_config: undefined })).toEqual([0, 4, 7]); // vLLM's alone
      expect(await layersOf({ ...cfg, eagle_aux_hidden_state_layer_ids: undefined })).toEqual([0, 4, 7]); // SGLang's alone
      expect(await layersOf({ ...cfg, eagle_aux_hidden_state_layer_ids: undefined, eagle_config: { eagle_aux_hidden_state_layer_ids: [1, 17, 32] } }).catch((e: Error) => e.message)).toMatch(/featureLayers = \[2,18,33\], expected three increasing base layers in \[0, nLayers = 8\)/);
      expect(await layersOf({ ...cfg, eagle_aux_hidden_state_layer_ids: undefined, eagle_config: undefined })).toEqual([2, 4, 5]); // L = 8
      await expect(layersOf({ ...cfg, eagle_aux_hidden_state_layer_ids: [1, 4, 7] })).rejects.toThrow(HeadCheckpointError);
      await expect(layersOf({ ...cfg, eagle_aux_hidden_state_layer_ids: [1, 4, 7] })).rejects.toThrow(/eagle_aux_hidden_state_layer_ids = \[1,4,7\] \(vLLM: inputs of these base layers\) and eagle_config\.eagle_aux_hidden_state_layer_ids = \[-1,3,6\] .*name different layers/);
      await expect(layersOf({ ...cfg, eagle_config: undefined, eagle_aux_hidden_state_layer_ids: [2, 4, 9] })).rejects.toThrow(HeadMismatchError);
      await expect(layersOf({ ...cfg, eagle_config: { use_aux_hidden_state: false } })).rejects.toThrow(/use_aux_hidden_state = false/);
    }, { nLayers: 8 }));

  it('foreign files: another hidden size or vocabulary is a HeadMismatchError naming the field; a broken d2t / t2d, extra tensors, other RoPE or residual a typed error', () =>
    withBase(async (base) => {
      const { load } = eagle3Head(base);
      const head = await load();
      const { files } = await exportHead(head, 'eagle3');
      head.dispose();
      const cfg = JSON.parse(decoder.decode(files.get('config.json')!)) as Record<string, unknown>;
      const parsed = parseSafetensors(files.get('model.safetensors')!).tensors;
      const all = new Map<string, SafetensorsInput>([...parsed].map(([n, t]) => [n, { shape: [...t.shape], data: t.data }]));
      all.set('d2t', { shape: [draftVocabSize], data: BigInt64Array.from(ids, (id, j) => BigInt(id - j)), dtype: 'I64' });
      all.set('t2d', { shape: [vocabSize], data: Uint8Array.from(parsed.get('t2d')!.data), dtype: 'BOOL' });
      const load2 = (t: Map<string, SafetensorsInput>, c: Record<string, unknown> | undefined = cfg) => loadHead(base, serializeSafetensors(t), c ? { engineConfig: c } : {});
      for (const [field, value, message] of [
        ['hidden_size', 32, /config.json hidden_size = 32: heads of dim 32, the base model has dim 24/],
        ['target_hidden_size', 4096, /config.json target_hidden_size = 4096: heads of dim 4096, the base model has dim 24/],
        ['vocab_size', 50, /config.json vocab_size = 50: heads of vocabSize 50, the base model has vocabSize 37/],
        ['draft_vocab_size', 40, /draft_vocab_size = 40: a draft vocabulary larger than the base model's vocabSize 37/],
        ['rms_norm_eps', 1e-6, /rms_norm_eps = 0.000001: a draft layer of eps 0.000001, the base model has normEps 0.00001/],
        ['rope_theta', 500000, /rope_theta = 500000: .*the base model's layer 0 turns by 10000/],
        ['rope_scaling', { rope_type: 'linear', factor: 2 }, /rope_scaling = \{"rope_type":"linear","factor":2\}, the base model's layer 0 has null/],
      ] as const) {
        await expect(load2(all, { ...cfg, [field]: value })).rejects.toThrow(HeadMismatchError);
        await expect(load2(all, { ...cfg, [field]: value })).rejects.toThrow(message);
      }
      // no config.json: fc's rows and t2d's length give the draft model's dim and vocabulary
      const narrow = new Map(all).set('fc.weight', { shape: [16, 72], data: new Float32Array(16 * 72) });
      await expect(load2(narrow, undefined)).rejects.toThrow(HeadMismatchError);
      await expect(load2(narrow, undefined)).rejects.toThrow(/fc\.weight has shape \[16, 72\]: heads of dim 16, the base model has dim 24/);
      const wide = new Map(all).set('t2d', { shape: [50], data: new Uint8Array(50), dtype: 'BOOL' });
      await expect(load2(wide, undefined)).rejects.toThrow(/t2d has shape \[50\]: heads of vocabSize 50, the base model has vocabSize 37/);
      const offsets = (f: (o: BigInt64Array) => void) => {
        const o = BigInt64Array.from(ids, (id, j) => BigInt(id - j));
        f(o);
        return new Map(all).set('d2t', { shape: [draftVocabSize], data: o, dtype: 'I64' });
      };
      await expect(load2(offsets((o) => (o[19] = 30n)))).rejects.toThrow(/d2t\[19\] = 30: draft id 19 would score base id 49, expected an integer offset to a base id in \[0, 37\)/);
      await expect(load2(offsets((o) => (o[4] = 1n)))).rejects.toThrow(/d2t\[4\] = 1: draft id 4 scores base id 5 after 5, expected strictly increasing base ids/);
      await expect(load2(offsets((o) => (o[0] = 2n ** 60n)))).rejects.toThrow(/not a safetensors file: .*tensor "d2t"\[0\] = 1152921504606846976 \(I64\): outside ±2\^53/);
      const t2d = Uint8Array.from(parsed.get('t2d')!.data);
      t2d[2] = 1; // base id 2 is not drafted
      await expect(load2(new Map(all).set('t2d', { shape: [vocabSize], data: t2d, dtype: 'BOOL' }))).rejects.toThrow(/t2d\[2\] = true, yet d2t maps no draft id to base id 2/);
      const missing = new Map(all);
      missing.delete('midlayer.hidden_norm.weight');
      await expect(load2(missing)).rejects.toThrow(HeadCheckpointError);
      await expect(load2(missing)).rejects.toThrow(/tensor midlayer\.hidden_norm\.weight \[24\] is missing/);
      const extra = new Map(all).set('midlayer.self_attn.q_proj.bias', { shape: [24], data: new Float32Array(24) });
      await expect(load2(extra)).rejects.toThrow(/q\/k\/v projections with biases/);
      const layer1 = new Map(all).set('layers.1.hidden_norm.weight', { shape: [24], data: new Float32Array(24) });
      await expect(load2(layer1)).rejects.toThrow(/unexpected tensor layers\.1\.hidden_norm\.weight: not part of an EAGLE-3 Llama draft model/);
      await expect(load2(all, { ...cfg, norm_before_residual: true })).rejects.toThrow(/norm_before_residual = true/);
      await expect(load2(all, { ...cfg, num_hidden_layers: 2 })).rejects.toThrow(/num_hidden_layers = 2, expected 1/);
      await expect(load2(all, { ...cfg, tie_word_embeddings: true })).rejects.toThrow(/tie_word_embeddings = true/);
      // the engines' own spelling, "model."-prefixed, with an embed_tokens copy they may read, loads as the same head
      const prefixed = new Map([...all].map(([n, t]) => [n === 'lm_head.weight' ? n : `model.${n}`, t]));
      prefixed.set('model.embed_tokens.weight', { shape: [37, 24], data: base.embeddings });
      const ok = await load2(prefixed);
      const plain = await load2(all);
      expect(await ok.readParameters()).toEqual(await plain.readParameters());
      for (const h of [ok, plain]) h.dispose();
    }, { nLayers: 8 }));

  it('eagle3 heads go only to eagle3; other kinds are refused with why', () =>
    withBase(async (base) => {
      const { load } = eagle3Head(base);
      const head = await load();
      await expect(exportHead(head, 'eagle')).rejects.toThrow(HeadExportError);
      await expect(exportHead(head, 'eagle')).rejects.toThrow(/eagle: an eagle3 head is an EAGLE-3 draft model .*Use --format eagle3/);
      await expect(exportHead(head, 'vllm-medusa')).rejects.toThrow(/vllm-medusa: cannot hold eagle3 heads: an EAGLE-3 head is a decoder layer over three base layers' features/);
      await expect(exportHead(head, 'eagle3', { engine: 'sglang' })).rejects.toThrow(/engine is an option of the eagle format, not of eagle3/);
      head.dispose();
    }, { nLayers: 8 }));
});

describe('EAGLE on stories260K: the trained heads, and export -> loadHead drafting the same tokens', () => {
  const STORIES = fileURLToPath(new URL('../../../models/stories260K/stories260K.bin', import.meta.url));
  const TRAINED = fileURLToPath(new URL('../../../models/stories260K/heads/eagle.safetensors', import.meta.url));
  const TRAINED_VLLM = fileURLToPath(new URL('../../../models/stories260K/heads/eagle-vllm.safetensors', import.meta.url));
  const prompt = [1, 403, 407, 261, 159, 436];

  it('the trained head (input norm on) is refused; its weights without the norm export for vLLM and SGLang and load back drafting the same trees', async () => {
    const model = await LlamaModel.load(STORIES, { tokenizer: 'tok512.bin' });
    const trained = (await loadHead(model, TRAINED)) as EagleHead;
    await expect(exportHead(trained, 'eagle')).rejects.toThrow(/RMS-normalises its input g before attention/);
    const values = await trained.readParameters();
    values.delete('eagle.attn_norm');
    const c = { ...trained.config, eagle: { ...trained.config.eagle!, inputNorm: false } };
    trained.dispose();
    const cache = model.createCache();
    const { hidden, logits } = model.forward(cache, { tokens: prompt, logits: 'last' });
    const root = argmaxCpu((await logits!.read()) as Float32Array);
    logits!.dispose();
    for (const engine of ['sglang', 'vllm'] as const) {
      const v = new Map(values);
      const ce = engine === 'vllm' ? { ...c, eagle: { ...c.eagle, fcBias: false } } : c; // vLLM's fc has no bias
      if (engine === 'vllm') v.delete('eagle.fc.bias');
      const head = buildHeads(model, ce, v) as EagleHead;
      const { files } = await exportHead(head, 'eagle', { engine });
      const dir = mkdtempSync(join(tmpdir(), `hydra-eagle-${engine}-`));
      for (const [name, bytes] of files) writeFileSync(join(dir, name), bytes);
      const back = (await loadHead(model, dir)) as EagleHead;
      expect(back.config).toEqual(ce);
      for (const h of [head, back]) h.observe(hidden, 0);
      for (const tree of [small, trees['medusa-63'], chain(6)]) {
        const a = await head.propose({ tree, root, context: prompt });
        const b = await back.propose({ tree, root, context: prompt });
        expect([...b.tokens], `${engine}, ${tree.name}`).toEqual([...a.tokens]);
      }
      for (const h of [head, back]) h.dispose();
    }
    // the bundled head trained for vLLM (hydra train --eagle-engine vllm) exports as it is
    const forVllm = (await loadHead(model, TRAINED_VLLM)) as EagleHead;
    expect(forVllm.config.eagle).toMatchObject({ inputNorm: false, fcBias: false });
    const { files } = await exportHead(forVllm, 'eagle');
    const back = (await loadHead(model, files.get('model.safetensors')!, { engineConfig: decoder.decode(files.get('config.json')!) })) as EagleHead;
    expect(await back.readParameters()).toEqual(await forVllm.readParameters());
    for (const h of [forVllm, back]) h.observe(hidden, 0);
    for (const tree of [small, trees['medusa-63']]) {
      expect([...(await back.propose({ tree, root, context: prompt })).tokens], `eagle-vllm, ${tree.name}`).toEqual([...(await forVllm.propose({ tree, root, context: prompt })).tokens]);
    }
    for (const x of [forVllm, back, hidden, cache, model]) x.dispose();
  }, 120_000);
});
