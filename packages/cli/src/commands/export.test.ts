// hydra export end to end, as a user runs it: the bundled Medusa heads out to vLLM's and TGI's
// layouts, an EAGLE head out to vLLM's and SGLang's draft-model layout, straight back into hydra
// generate (lossless), an EAGLE-3 head out to their EAGLE-3 layout and back, and heads no engine
// holds -> status 2.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { createHead, saveHead } from '@hydra-ts/heads';
import { LlamaModel, parseSafetensors, serializeSafetensors, type SafetensorsInput } from '@hydra-ts/model';

const BIN = fileURLToPath(new URL('../bin.ts', import.meta.url));
const HEADS = fileURLToPath(new URL('../../../../models/stories260K/heads/', import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), 'hydra-export-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function hydra(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--conditions=source', '--import', 'tsx', BIN, ...args], { maxBuffer: 1 << 26 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

describe('hydra export', () => {
  it('writes the trained Medusa heads for vLLM and TGI; generate reads the directories back and stays lossless', async () => {
    const prompt = ['--prompt', 'Once upon a time, a little dog', '--max-new-tokens', '32', '--json'];
    const ar = JSON.parse((await hydra('generate', ...prompt)).stdout);
    const native = JSON.parse((await hydra('generate', ...prompt, '--decoder', 'medusa', '--tree', 'cpu-8')).stdout);
    for (const [format, weights] of [['vllm-medusa', 'model.safetensors'], ['tgi-medusa', 'medusa_lm_head.safetensors']]) {
      const out = path.join(dir, format);
      const r = await hydra('export', '--heads', path.join(HEADS, 'medusa.safetensors'), '--format', format, '--out', out, '--base-model', 'stories260K');
      expect(r.code, r.stderr).toBe(0);
      expect(readdirSync(out).sort()).toEqual(['config.json', weights].sort());
      const config = JSON.parse(readFileSync(path.join(out, 'config.json'), 'utf8'));
      expect(format === 'vllm-medusa' ? config.num_heads : config.medusa_num_heads).toBe(4);
      const g = JSON.parse((await hydra('generate', ...prompt, '--decoder', 'medusa', '--heads', out, '--tree', 'cpu-8')).stdout);
      expect(g.tokenIds, format).toEqual(ar.tokenIds);
      expect(g.acceptedPerStep).toEqual(native.acceptedPerStep); // the same heads: the same steps
    }
  }, 180_000);

  /**
   * The bundled EAGLE head as EAGLE's own layer: its weights without the input norm (config
   * eagle.inputNorm false), fc bias kept. A heads file as hydra train writes one, edited at the
   * file level.
   */
  function engineEagleFile(name: string): string {
    const parsed = parseSafetensors(readFileSync(path.join(HEADS, 'eagle.safetensors')));
    const config = JSON.parse(parsed.metadata.config!);
    config.eagle.inputNorm = false;
    const tensors = new Map<string, SafetensorsInput>();
    for (const [n, t] of parsed.tensors) if (n !== 'eagle.attn_norm') tensors.set(n, { shape: [...t.shape], data: Float32Array.from(t.data) });
    const file = path.join(dir, name);
    writeFileSync(file, serializeSafetensors(tensors, { ...parsed.metadata, config: JSON.stringify(config) }));
    return file;
  }

  it('writes an EAGLE head as the draft model vLLM (fc without bias) and SGLang (with) load; generate reads the directories back and stays lossless', async () => {
    const prompt = ['--prompt', 'Once upon a time, a little dog', '--max-new-tokens', '32', '--json', '--decoder', 'eagle', '--tree', 'cpu-8'];
    const ar = JSON.parse((await hydra('generate', ...prompt.slice(0, 5))).stdout);
    for (const engine of ['vllm', 'sglang']) {
      // vLLM: the bundled head trained with --eagle-engine vllm; SGLang: the bundled EAGLE head's weights without its input norm, fc bias kept
      const heads = engine === 'vllm' ? path.join(HEADS, 'eagle-vllm.safetensors') : engineEagleFile('eagle-sglang.safetensors');
      const native = JSON.parse((await hydra('generate', ...prompt, '--heads', heads)).stdout);
      const out = path.join(dir, `eagle-${engine}`);
      const r = await hydra('export', '--heads', heads, '--format', 'eagle', '--engine', engine, '--out', out);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(new RegExp(`an EAGLE draft model for ${engine}`));
      expect(readdirSync(out).sort()).toEqual(['config.json', 'model.safetensors']);
      const config = JSON.parse(readFileSync(path.join(out, 'config.json'), 'utf8'));
      // vLLM's EAGLEConfig makes LlamaForCausalLM EagleLlamaForCausalLM; SGLang's class is LlamaForCausalLMEagle (llama_eagle.py)
      expect(config).toMatchObject({ architectures: [engine === 'vllm' ? 'LlamaForCausalLM' : 'LlamaForCausalLMEagle'], model_type: 'llama', num_hidden_layers: 1, hidden_size: 64, bias: engine === 'sglang' });
      const names = [...parseSafetensors(readFileSync(path.join(out, 'model.safetensors'))).tensors.keys()];
      expect(names.includes('fc.bias')).toBe(engine === 'sglang');
      expect(names.some((n) => n.includes('input_layernorm'))).toBe(false);
      const g = JSON.parse((await hydra('generate', ...prompt, '--heads', out)).stdout);
      expect(g.tokenIds, engine).toEqual(ar.tokenIds);
      expect(g.acceptedPerStep, engine).toEqual(native.acceptedPerStep); // the same head: the same steps
    }
  }, 240_000);

  it('hydra train --head eagle --eagle-engine vllm trains a head that exports for vLLM and generates losslessly from the directory', async () => {
    const data = path.join(dir, 'distilled.bin');
    expect((await hydra('distill', '--out', data, '--sequences', '3', '--length', '24', '--quiet')).code).toBe(0);
    const heads = path.join(dir, 'eagle-trained.safetensors');
    const t = await hydra('train', '--head', 'eagle', '--eagle-engine', 'vllm', '--data', data, '--out', heads, '--steps', '2', '--batch', '2', '--length', '16',
      '--heads', '3', '--warmup', '0', '--eval-every', '0', '--checkpoint-every', '0', '--holdout', '0', '--quiet');
    expect(t.code, t.stderr).toBe(0);
    const config = JSON.parse(parseSafetensors(readFileSync(heads)).metadata.config!);
    expect(config.eagle).toMatchObject({ inputNorm: false, fcBias: false });
    const out = path.join(dir, 'eagle-trained-vllm');
    const r = await hydra('export', '--heads', heads, '--format', 'eagle', '--out', out); // --engine vllm is the default
    expect(r.code, r.stderr).toBe(0);
    const prompt = ['--prompt', 'Tom had a red ball', '--max-new-tokens', '24', '--json'];
    const ar = JSON.parse((await hydra('generate', ...prompt)).stdout);
    const g = JSON.parse((await hydra('generate', ...prompt, '--decoder', 'eagle', '--heads', out, '--tree', 'chain-3')).stdout);
    expect(g.tokenIds).toEqual(ar.tokenIds);
    for (const [args, message] of [
      [['--head', 'medusa', '--eagle-engine', 'vllm'], /--eagle-engine is an option of --head eagle, not of --head medusa/],
      [['--head', 'eagle', '--eagle-engine', 'tgi'], /--eagle-engine tgi: expected vllm or sglang/],
    ] as const) {
      const bad = await hydra('train', ...args, '--data', data, '--out', path.join(dir, 'never.safetensors'), '--steps', '1');
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(message);
    }
  }, 240_000);

  it('writes an EAGLE-3 head as the draft model vLLM and SGLang load (LlamaForCausalLMEagle3, d2t offsets); exporting that directory again gives the same bytes', async () => {
    const model = await LlamaModel.load(path.join(HEADS, '..', 'stories260K.bin'), { tokenizer: 'tok512.bin' });
    const head = await createHead(model, { kind: 'eagle3', numHeads: 4, featureLayers: [1, 2, 4], draftVocabSize: 300, seed: 3 });
    const heads = path.join(dir, 'eagle3.safetensors');
    writeFileSync(heads, await saveHead(head));
    head.dispose();
    model.dispose();
    const out = path.join(dir, 'eagle3');
    const r = await hydra('export', '--heads', heads, '--format', 'eagle3', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/an EAGLE-3 draft model for vLLM and SGLang: draft vocabulary 300 of 512, features of base layers 1, 2, 4/);
    expect(r.stderr).not.toMatch(/TGI needs it/);
    expect(readdirSync(out).sort()).toEqual(['config.json', 'model.safetensors']);
    const config = JSON.parse(readFileSync(path.join(out, 'config.json'), 'utf8'));
    expect(config).toMatchObject({
      architectures: ['LlamaForCausalLMEagle3'], model_type: 'llama', num_hidden_layers: 1, hidden_size: 64, target_hidden_size: 64, vocab_size: 512, draft_vocab_size: 300,
      eagle_aux_hidden_state_layer_ids: [1, 2, 4], eagle_config: { eagle_aux_hidden_state_layer_ids: [0, 1, 3] },
    });
    const tensors = parseSafetensors(readFileSync(path.join(out, 'model.safetensors'))).tensors;
    expect(tensors.get('d2t')).toMatchObject({ dtype: 'I64', shape: [300] });
    expect([...tensors.get('d2t')!.data].every((o) => o === 0)).toBe(true); // createHead's draft vocabulary: the first 300 base ids
    expect(tensors.get('t2d')).toMatchObject({ dtype: 'BOOL', shape: [512] });
    expect(tensors.get('midlayer.self_attn.q_proj.weight')!.shape).toEqual([64, 128]);
    const again = path.join(dir, 'eagle3-again');
    const r2 = await hydra('export', '--heads', out, '--format', 'eagle3', '--out', again);
    expect(r2.code, r2.stderr).toBe(0);
    for (const f of ['config.json', 'model.safetensors']) expect(readFileSync(path.join(again, f)).equals(readFileSync(path.join(out, f))), f).toBe(true);
    const bad = await hydra('export', '--heads', out, '--format', 'eagle', '--out', path.join(dir, 'never'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/HeadExportError: eagle: an eagle3 head is an EAGLE-3 draft model .*Use --format eagle3/);
    // generate runs the engine's directory as an eagle3 head: the same proposals as the file it came from, and the AR text
    const prompt = ['--prompt', 'Once upon a time, a little dog', '--max-new-tokens', '24', '--json', '--tree', 'chain-3'];
    const ar = JSON.parse((await hydra('generate', ...prompt.slice(0, 5))).stdout);
    const native = JSON.parse((await hydra('generate', ...prompt, '--heads', heads)).stdout);
    const engine = JSON.parse((await hydra('generate', ...prompt, '--decoder', 'eagle3', '--heads', out)).stdout);
    expect(native.decoder).toBe('eagle3');
    expect(native.tokenIds).toEqual(ar.tokenIds);
    expect(engine.tokenIds).toEqual(ar.tokenIds);
    expect(engine.steps).toBe(native.steps);
  }, 180_000);

  it.each([
    [['--heads', path.join(HEADS, 'medusa.safetensors'), '--format', 'eagle3'], /HeadExportError: eagle3: .*only eagle3 heads are one .*so medusa heads cannot be exported as eagle3/],
    [['--heads', path.join(HEADS, 'eagle.safetensors'), '--format', 'eagle3'], /HeadExportError: eagle3: .*eagle heads are EAGLE-1\/2 heads, not EAGLE-3: --format eagle\), so eagle heads cannot be exported as eagle3/],
    [['--heads', path.join(HEADS, 'eagle.safetensors'), '--format', 'eagle'], /HeadExportError: eagle: this head's draft layer RMS-normalises its input g before attention/],
    [['--heads', path.join(HEADS, 'eagle.safetensors'), '--format', 'eagle', '--engine', 'tgi'], /--engine tgi: expected one of vllm, sglang/],
    [['--heads', path.join(HEADS, 'medusa.safetensors'), '--format', 'vllm-medusa', '--engine', 'vllm'], /--engine is an option of --format eagle/],
    [['--heads', path.join(HEADS, 'hydra.safetensors'), '--format', 'vllm-medusa'], /HeadExportError: .*sequential input/],
    [['--heads', path.join(HEADS, 'medusa.safetensors'), '--format', 'eagle'], /HeadExportError: eagle: .*only eagle heads are one, so medusa heads cannot be exported as eagle/],
    [['--heads', path.join(HEADS, 'medusa.safetensors'), '--format', 'onnx'], /--format onnx: expected one of vllm-medusa, tgi-medusa, eagle, eagle3, mlp-speculator/],
    [['--heads', path.join(HEADS, 'medusa.safetensors'), '--format', 'tgi-medusa', '--dtype', 'f8'], /--dtype f8: expected one of f32, f16, bf16/],
    [['--format', 'tgi-medusa'], /--heads <file> is required/],
  ])('hydra export %j exits with status 2 and says why', async (args, message) => {
    const r = await hydra('export', ...(args as string[]), '--out', path.join(dir, 'never'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message as RegExp);
  }, 60_000);
});
