// Hostile files and misused options, run as a user runs them: a child process under a timeout
// and a memory limit (ulimit -v and --max-old-space-size). Each must end in one line naming the
// file or option and what was expected, with status 2 and no stack trace, before any work (no
// teacher cache, no model load where the options alone are wrong); or in correct output.
// The library-level fuzz suites (model, heads, tree, train) cover the mutated files in bulk.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { convertLlama2cToHf, Llama2cTokenizer, parseLlama2cCheckpoint } from '@hydra-ts/model';
import { encodeTokenFile, writeCheckpointSet } from '@hydra-ts/train';
import { serializeSafetensors } from '@hydra-ts/model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('./bin.ts', import.meta.url));
const MODELS = fileURLToPath(new URL('../../../models/stories260K/', import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), 'hydra-hostile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const at = (...p: string[]) => path.join(dir, ...p);

interface Run { code: number; stdout: string; stderr: string }

/**
 * hydra with its arguments, under `timeout` and a cap on virtual memory. V8 reserves 10 GiB of
 * address space per WebAssembly memory for its trap handler; without it 12 GB suffices for a run
 * on the software GPU, and reading /dev/zero whole would still fail within it.
 */
function hydra(...args: string[]): Promise<Run> {
  const script = 'ulimit -v 12000000; exec timeout 120 "$0" --disable-wasm-trap-handler --max-old-space-size=512 --conditions=source --import tsx "$@"';
  return new Promise((resolve) => {
    execFile('bash', ['-c', script, process.execPath, BIN, ...args], { maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Exit status 2 and one line, `hydra: <Name>Error: <message>`, matching `message`; no stack trace. */
function expectTypedFailure(r: Run, name: RegExp, message: RegExp): void {
  // A pyenv on the machine's PATH may print its shim-rehash complaints when several processes start at once: not ours.
  const lines = r.stderr.split('\n').filter((l) => l !== '' && !/^Warning: /.test(l) && !/^pyenv: |^rm: cannot remove '.*\/\.pyenv\/shims\//.test(l));
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^hydra: ${name.source}: `));
  expect(lines[0]).toMatch(message);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.code, r.stderr).toBe(2);
}

const tree = (paths: number[][], name = 'hostile') => JSON.stringify({ name, paths });

beforeAll(() => {
  writeFileSync(at('empty.json'), '');
  writeFileSync(at('bom.json'), '\ufeff' + tree([[0], [1], [0, 0]], 'bom'));
  writeFileSync(at('truncated.json'), tree([[0], [1], [0, 0]]).slice(0, 20));
  writeFileSync(at('garbage.json'), tree([[0]]) + ' trailing');
  writeFileSync(at('deep.json'), `{"paths": [${'['.repeat(100_000)}${']'.repeat(100_000)}]}`);
  writeFileSync(at('wide.json'), tree([[0], [1], [600]], 'wide'));
  writeFileSync(at('long.json'), tree([...Array.from({ length: 300 }, (_, i) => [i]), ...Array.from({ length: 300 }, (_, j) => [0, j])], 'long'));
  mkdirSync(at('adir.json'));
  mkdirSync(at('corpus-dir'));
  mkdirSync(at('prompts.txt'));
  writeFileSync(at('existing-file'), 'x');
  writeFileSync(at('empty-corpus.bin'), encodeTokenFile({ vocabSize: 512, sequences: [] }));
  writeFileSync(at('short-corpus.bin'), encodeTokenFile({ vocabSize: 512, sequences: [Int32Array.of(1, 2)] }));

  // stories260K as a Hugging Face directory, and copies with config.json edited.
  const bytes = new Uint8Array(readFileSync(path.join(MODELS, 'stories260K.bin')));
  const { config, weights } = parseLlama2cCheckpoint(bytes);
  const tok = Llama2cTokenizer.fromBytes(new Uint8Array(readFileSync(path.join(MODELS, 'tok512.bin'))), 'tok512.bin', 512);
  const files = convertLlama2cToHf(config, weights, tok);
  const hfDir = (name: string, edit: Record<string, unknown> = {}) => {
    mkdirSync(at(name));
    for (const [f, b] of files) writeFileSync(at(name, f), b);
    const json = JSON.parse(new TextDecoder().decode(files.get('config.json')!));
    writeFileSync(at(name, 'config.json'), JSON.stringify({ ...json, ...edit }));
  };
  hfDir('hf');
  hfDir('hf-4-layers', { num_hidden_layers: 4 });
  hfDir('hf-long', { max_position_embeddings: 1048576 });
  // llama2.c weights all NaN (the header and the tokenizer intact).
  mkdirSync(at('nan'));
  const nan = bytes.slice();
  new Float32Array(nan.buffer, 28).fill(NaN);
  writeFileSync(at('nan', 'model.bin'), nan);
  writeFileSync(at('nan', 'tokenizer.bin'), readFileSync(path.join(MODELS, 'tok512.bin')));
  // A checkpoint set whose record has "config": null.
  writeCheckpointSet(at('null-config.safetensors'), 3, {
    heads: serializeSafetensors({ w: { shape: [1], data: new Float32Array(1) } }, { 'train.step': '3' }),
    optim: serializeSafetensors({}, { step: '3', t: '3' }),
    record: JSON.stringify({ format: 'hydra-ts-train', version: 1, step: 3, config: null, history: [], evals: [], trainMs: 0 }),
  });
});

const HEADS = path.join(MODELS, 'heads');
const gen = ['generate', '--max-new-tokens', '8', '--quiet'];
const train = (...more: string[]) => ['train', '--head', 'medusa', '--steps', '1', '--batch', '1', '--length', '16', '--heads', '2', '--eval-every', '0', '--quiet', ...more];

describe.concurrent('hostile files and options (processes)', () => {
  it.each<[string, () => string[], RegExp, RegExp]>([
    ['an empty tree file', () => [...gen, '--decoder', 'hydra', '--tree', at('empty.json')], /TreeError/, /tree file .*empty\.json is not valid JSON .*expected an object like/],
    ['a truncated tree file', () => [...gen, '--decoder', 'hydra', '--tree', at('truncated.json')], /TreeError/, /truncated\.json is not valid JSON/],
    ['a tree file with trailing garbage', () => [...gen, '--decoder', 'hydra', '--tree', at('garbage.json')], /TreeError/, /garbage\.json is not valid JSON/],
    ['a deeply nested tree file', () => [...gen, '--decoder', 'hydra', '--tree', at('deep.json')], /TreeError/, /deep\.json: path .*nested too deeply/],
    ['a directory as --tree', () => [...gen, '--tree', at('adir.json')], /FileSourceError/, /--tree .*adir\.json: is a directory, expected a tree JSON file/],
    ['a tree wider than the vocabulary', () => [...gen, '--decoder', 'hydra', '--tree', at('wide.json')], /TreeError/, /--tree .*wide\.json: path \[600\] asks for rank 600, but the vocabulary has 512 tokens/],
    ['a tree larger than the context', () => [...gen, '--decoder', 'hydra', '--tree', at('long.json')], /TreeError/, /--tree .*long\.json: 601 rows .* exceed the model's context of 512/],
    ['/dev/zero as --heads', () => [...gen, '--heads', '/dev/zero'], /FileSourceError/, /\/dev\/zero: is a character device, expected a heads file/],
    ['a directory without heads as --heads', () => [...gen, '--heads', at('corpus-dir')], /HeadCheckpointError/, /corpus-dir: a heads directory needs medusa_lm_head\.safetensors or model\.safetensors \(or exactly one \.safetensors file\); it holds nothing/],
    ['medusa heads run as --decoder hydra++', () => [...gen, '--decoder', 'hydra++', '--heads', path.join(HEADS, 'medusa.safetensors')], /UsageError/, /--heads .*medusa\.safetensors holds medusa heads, but --decoder is hydra\+\+/],
    ['a greedy verifier with a temperature', () => [...gen, '--temperature', '1', '--verifier', 'greedy'], /UsageError/, /--verifier greedy with --temperature 1: .*use --verifier sample, or drop --temperature/],
    ['config.json counting 4 of 5 layers', () => [...gen, '--model', at('hf-4-layers')], /WeightError/, /hf-4-layers.*model\.layers\.4\.\S+ belongs to layer 4, but config\.json has num_hidden_layers = 4/],
    ['max_position_embeddings 1048576 in a 1 MB model', () => [...gen, '--model', at('hf-long')], /ConfigError/, /hf-long\/config\.json: max_position_embeddings = 1048576 would size a .* KV cache .*--max-context/],
    ['a llama2.c checkpoint of NaN weights', () => [...gen, '--model', at('nan')], /WeightError/, /nan\/model\.bin: weight tokenEmbedding\[0\] = NaN, expected finite values/],
    ['/dev/zero as --model', () => [...gen, '--model', '/dev/zero'], /FileSourceError/, /\/dev\/zero\/config\.json: not found/],
    ['/dev/zero as --data', () => train('--data', '/dev/zero', '--out', at('t1.safetensors')), /FileSourceError/, /--data \/dev\/zero: is a character device, expected a corpus file/],
    ['a directory as --data', () => train('--data', at('corpus-dir'), '--out', at('t2.safetensors')), /FileSourceError/, /--data .*corpus-dir: is a directory, expected a corpus file/],
    ['a directory as --eval-prompts', () => train('--data', at('short-corpus.bin'), '--eval-prompts', at('corpus-dir'), '--out', at('t3.safetensors')), /FileSourceError/, /--eval-prompts .*corpus-dir: is a directory/],
    ['train --out into a missing directory', () => train('--data', path.join(HEADS, 'corpus.bin'), '--out', at('no-such-dir', 'h.safetensors')), /UsageError/, /--out .*no-such-dir\/h\.safetensors: directory .*no-such-dir does not exist/],
    ['an empty token corpus', () => train('--data', at('empty-corpus.bin'), '--out', at('t4.safetensors')), /DataError/, /--data .*empty-corpus\.bin: no sequence of at least 3 tokens/],
    ['a corpus of sequences too short to train on', () => train('--data', at('short-corpus.bin'), '--out', at('t5.safetensors')), /DataError/, /short-corpus\.bin: no sequence of at least 3 tokens to train on \(1 sequences\)/],
    ['a checkpoint record with "config": null', () => train('--data', path.join(HEADS, 'corpus.bin'), '--out', at('null-config.safetensors'), '--resume'), /TrainCheckpointError/, /train\.json: config = null, expected the training config object/],
    ['a directory as distill --prompts', () => ['distill', '--out', at('d.bin'), '--prompts', at('corpus-dir'), '--quiet'], /FileSourceError/, /--prompts .*corpus-dir: is a directory/],
    ['distill --out into a missing directory', () => ['distill', '--out', at('nope', 'd.bin'), '--quiet'], /UsageError/, /--out .*nope\/d\.bin: directory .* does not exist/],
    ['convert --out onto an existing file', () => ['convert', '--model', path.join(MODELS, 'stories260K.bin'), '--out', at('existing-file')], /UsageError/, /--out .*existing-file: is an existing file, expected a directory/],
    ['convert --out onto a model directory', () => ['convert', '--model', path.join(MODELS, 'stories260K.bin'), '--out', at('hf')], /UsageError/, /--out .*hf: already holds config\.json, model\.safetensors, tokenizer\.json, tokenizer_config\.json; pass --force/],
    ['bench --json into a missing directory', () => ['bench', '--json', at('nope', 'b.json'), '--no-progress'], /UsageError/, /--json .*nope\/b\.json: directory .* does not exist/],
    ['bench --html onto a directory', () => ['bench', '--html', dir, '--no-progress'], /UsageError/, /--html .*: is a directory, expected a file path to write/],
    ['a directory as bench --prompts', () => ['bench', '--prompts', at('prompts.txt'), '--no-progress'], /FileSourceError/, /prompts\.txt: is a directory, expected a prompt file/],
    ['tune --out into a missing directory', () => ['tune', '--out', at('nope', 'tree.json')], /UsageError/, /--out .*nope\/tree\.json: directory .* does not exist/],
  ])('%s: a typed error naming it, status 2, no stack trace', async (_, args, name, message) => {
    const r = await hydra(...args());
    expectTypedFailure(r, name, message);
    // Nothing was started: no teacher cache, no training output.
    expect(r.stderr).not.toMatch(/teacher:/);
  }, 130_000);

  it('a tree file with a BOM runs, and its name is what is reported', async () => {
    const r = await hydra('generate', '--max-new-tokens', '8', '--decoder', 'hydra', '--tree', at('bom.json'), '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ decoder: 'hydra', tree: 'bom' });
  }, 130_000);

  it('heads given without --decoder decode as the kind their file records, and that is reported', async () => {
    const r = await hydra('generate', '--max-new-tokens', '8', '--heads', path.join(HEADS, 'medusa.safetensors'), '--tree', 'cpu-8', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ decoder: 'medusa', tree: 'cpu-8' });
  }, 130_000);

  it('--max-context caps a context out of proportion to the weights, and the model runs', async () => {
    const r = await hydra('generate', '--model', at('hf-long'), '--max-context', '512', '--max-new-tokens', '8', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).tokenIds).toHaveLength(8);
  }, 130_000);

  it('convert --force overwrites a model directory', async () => {
    const r = await hydra('convert', '--model', path.join(MODELS, 'stories260K.bin'), '--out', at('hf'), '--force');
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(at('hf', 'model.safetensors'))).toBe(true);
  }, 130_000);
});
