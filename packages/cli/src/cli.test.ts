// The hydra command end to end, run as a user runs it (a child process, from source): generate's
// JSON against llama2.c's reference output and against AR for every decoder, distill → train →
// generate with the fresh heads, and bad flags -> exit status 2 with a message naming the flag.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { Llama2cTokenizer } from '@hydra-ts/model';
import { decodeTokenFile } from '@hydra-ts/train';
import { writeStoriesChatModel } from '@hydra-ts/chat/testing';

const BIN = fileURLToPath(new URL('./bin.ts', import.meta.url));
const MODELS = fileURLToPath(new URL('../../../models/stories260K/', import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), 'hydra-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Run { code: number; stdout: string; stderr: string }

async function hydra(...args: string[]): Promise<Run> {
  return hydraRun({}, undefined, ...args);
}

/** Runs hydra with `input` piped to its stdin (undefined: an empty pipe). */
async function hydraWithInput(input: string | undefined, ...args: string[]): Promise<Run> {
  return hydraRun({}, input, ...args);
}

async function hydraWith(env: Record<string, string>, ...args: string[]): Promise<Run> {
  return hydraRun(env, undefined, ...args);
}

async function hydraRun(env: Record<string, string>, input: string | undefined, ...args: string[]): Promise<Run> {
  try {
    const child = promisify(execFile)(process.execPath, ['--conditions=source', '--import', 'tsx', BIN, ...args], { maxBuffer: 1 << 26, env: { ...process.env, ...env } });
    child.child.stdin?.end(input ?? '');
    const { stdout, stderr } = await child;
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

async function generateJson(...args: string[]): Promise<Record<string, unknown> & { text: string; tokenIds: number[] }> {
  const r = await hydra('generate', ...args, '--json');
  expect(r.stderr.replace(/^Warning: .*\n/gm, '')).not.toMatch(/Error/);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout);
}

describe('hydra generate', () => {
  it("reproduces llama2.c's greedy output and reports its figures", async () => {
    // The reference: run.c's 200 steps from BOS, one new token each (its README says how they count).
    const expected = readFileSync(path.join(MODELS, 'expected-greedy-200-steps.txt'), 'utf8');
    const r = await generateJson('--max-new-tokens', '200');
    expect(r.text.trim()).toBe(expected.trim());
    expect(r.tokenIds).toHaveLength(200);
    expect(r.promptTokens).toBe(1);
    expect(r.steps).toBe(199); // base passes after the prefill, which gave the first token
    expect(r.decoder).toBe('ar');
    expect(r.tokensPerSecond as number).toBeGreaterThan(0);
    expect(r.elapsedMs as number).toBeGreaterThan(0);
  }, 120_000);

  it.each([
    ['q8', 8],
    ['q4', 4],
  ])('with quantized weights (--dtype %s) the trained heads still give the AR tokens', async (dtype, kept) => {
    const prompt = ['--prompt', 'Once upon a time, a little dog', '--max-new-tokens', '48', '--dtype', String(dtype)];
    const ar = await generateJson(...prompt);
    const full = await generateJson('--prompt', 'Once upon a time, a little dog', '--max-new-tokens', '48');
    expect(ar.tokenIds.slice(0, Number(kept))).toEqual(full.tokenIds.slice(0, Number(kept))); // the story's start survives the rounding
    const r = await generateJson(...prompt, '--decoder', 'hydra++', '--tree', 'cpu-16');
    expect(r.tokenIds).toEqual(ar.tokenIds);
    expect(r.steps as number).toBeLessThan(ar.steps as number);
  }, 120_000);

  it('reads prompts that look like numbers as text', async () => {
    // The argument parser would make `--prompt ""` the number 0 and `--prompt 007` the number 7.
    const bos = await generateJson('--max-new-tokens', '8');
    const empty = await generateJson('--prompt', '', '--max-new-tokens', '8');
    expect(empty.tokenIds).toEqual(bos.tokenIds);
    const digits = await generateJson('--prompt', '007', '--max-new-tokens', '8');
    const seven = await generateJson('--prompt', '7', '--max-new-tokens', '8');
    expect(digits.promptTokens as number).toBeGreaterThan(seven.promptTokens as number);
  }, 120_000);

  it('gives the AR tokens with every trained draft head (greedy is lossless)', async () => {
    const prompt = ['--prompt', 'Once upon a time, a little dog', '--max-new-tokens', '48'];
    const ar = await generateJson(...prompt);
    for (const decoder of ['medusa', 'hydra', 'hydra++']) {
      const r = await generateJson(...prompt, '--decoder', decoder, '--tree', 'cpu-8');
      expect(r.tokenIds, decoder).toEqual(ar.tokenIds);
      expect(r.text).toBe(ar.text);
      expect(r.steps as number).toBeLessThan(ar.steps as number);
    }
  }, 120_000);

  it('gives the AR tokens with dynamic trees (--tree dynamic-<N>, and dynamic with the measured budget)', async () => {
    const prompt = ['--prompt', 'Once upon a time, a little dog', '--max-new-tokens', '48'];
    const ar = await generateJson(...prompt);
    for (const [decoder, tree] of [['hydra', 'dynamic-16'], ['eagle', 'dynamic-16-k4'], ['hydra++', 'dynamic']]) {
      const r = await generateJson(...prompt, '--decoder', decoder, '--tree', tree);
      expect(r.tokenIds, `${decoder} ${tree}`).toEqual(ar.tokenIds);
      expect(r.tree).toBe(tree);
      expect(r.steps as number).toBeLessThan(ar.steps as number);
    }
  }, 180_000);
});

describe('hydra distill → train → generate', () => {
  it('trains heads on pooled corpora and decodes with them losslessly', async () => {
    const a = path.join(dir, 'a.bin');
    const b = path.join(dir, 'b.bin');
    expect((await hydra('distill', '--out', a, '--sequences', '3', '--length', '24', '--temperature', '0.7', '--quiet')).code).toBe(0);
    expect((await hydra('distill', '--out', b, '--sequences', '3', '--length', '24', '--temperature', '1', '--sampled-tokens', '4', '--seed', '50', '--quiet')).code).toBe(0);
    const out = path.join(dir, 'heads.safetensors');
    const t = await hydra('train', '--head', 'hydra', '--data', a, '--data', b, '--out', out, '--steps', '2', '--batch', '2', '--length', '16',
      '--heads', '2', '--warmup', '0', '--eval-every', '0', '--checkpoint-every', '0', '--holdout', '0.2', '--teacher-top-k', '4', '--quiet');
    expect(t.stderr).toMatch(/data: 6 sequences/);
    expect(t.stderr).toMatch(/teacher mode: top-4 \(forced top-4\), [\d.]+ MiB on the GPU/);
    expect(t.code).toBe(0);
    expect(existsSync(out)).toBe(true);
    const record = JSON.parse(readFileSync(out.replace(/\.safetensors$/, '.train.json'), 'utf8'));
    expect(record.data).toEqual([a, b]);
    const prompt = ['--prompt', 'Tom had a red ball', '--max-new-tokens', '24'];
    const ar = await generateJson(...prompt);
    const r = await generateJson(...prompt, '--heads', out, '--tree', 'chain-2');
    expect(r.decoder).toBe('hydra');
    expect(r.tokenIds).toEqual(ar.tokenIds);
  }, 180_000);

  it('trains an EAGLE-3 head over a draft vocabulary of the data\'s frequent tokens; --decoder eagle3 decodes losslessly with it', async () => {
    const data = path.join(dir, 'e3.bin');
    expect((await hydra('distill', '--out', data, '--sequences', '4', '--length', '24', '--temperature', '0.8', '--quiet')).code).toBe(0);
    const out = path.join(dir, 'e3.safetensors');
    const t = await hydra('train', '--head', 'eagle3', '--data', data, '--out', out, '--steps', '2', '--batch', '2', '--length', '16',
      '--heads', '3', '--draft-vocab', '64', '--warmup', '0', '--eval-every', '0', '--checkpoint-every', '0', '--holdout', '0.25', '--quiet');
    expect(t.stderr).toMatch(/draft vocabulary: 64 of 512 tokens, covering [\d.]+ % of the data; features from base layers 1, 2, 4/);
    expect(t.code).toBe(0);
    const prompt = ['--prompt', 'Tom had a red ball', '--max-new-tokens', '24'];
    const ar = await generateJson(...prompt);
    for (const args of [['--decoder', 'eagle3'], []]) {
      const r = await generateJson(...prompt, '--heads', out, '--tree', 'chain-3', ...args); // without --decoder: the kind the file records
      expect(r.decoder).toBe('eagle3');
      expect(r.tokenIds).toEqual(ar.tokenIds);
    }
    // Hydra heads over the same kind of draft vocabulary
    const hy = path.join(dir, 'hydra-d2t.safetensors');
    const h = await hydra('train', '--head', 'hydra', '--data', data, '--out', hy, '--steps', '2', '--batch', '2', '--length', '16',
      '--heads', '2', '--draft-vocab', '48', '--warmup', '0', '--eval-every', '0', '--checkpoint-every', '0', '--holdout', '0.25', '--quiet');
    expect(h.stderr).toMatch(/draft vocabulary: 48 of 512 tokens/);
    expect(h.code).toBe(0);
    const hr = await generateJson(...prompt, '--heads', hy, '--tree', 'chain-2');
    expect(hr.decoder).toBe('hydra');
    expect(hr.tokenIds).toEqual(ar.tokenIds);
    const bad = await hydra('train', '--head', 'eagle', '--data', data, '--out', path.join(dir, 'x.safetensors'), '--draft-vocab', '64', '--steps', '1', '--quiet');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/draftVocabSize = 64: an option of eagle3, medusa, hydra and hydra\+\+ heads, not of eagle heads/);
    const big = await hydra('train', '--head', 'eagle3', '--data', data, '--out', path.join(dir, 'x.safetensors'), '--draft-vocab', '600', '--steps', '1', '--quiet');
    expect(big.code).toBe(2);
    expect(big.stderr).toMatch(/--draft-vocab 600: the model's vocabulary has 512 tokens/);
  }, 240_000);
});

describe('hydra chat', () => {
  const chatModel = writeStoriesChatModel(MODELS, path.join(dir, 'stories-chat'));
  const tok512 = Llama2cTokenizer.fromBytes(readFileSync(path.join(MODELS, 'tok512.bin')), 'tok512.bin', 512);
  const messages = [{ role: 'user', content: 'Tell me a story about a dog.' }];
  const messagesFile = path.join(dir, 'messages.json');
  writeFileSync(messagesFile, JSON.stringify(messages));
  const HYDRA_PP = path.join(MODELS, 'heads', 'hydra-pp.safetensors');

  async function chatJson(input: string | undefined, ...args: string[]): Promise<Record<string, unknown> & { text: string; tokenIds: number[]; promptTokenIds: number[] }> {
    const r = await hydraWithInput(input, 'chat', '--model', chatModel, ...args, '--json');
    expect(r.stderr.replace(/^Warning: .*\n/gm, '')).toBe('');
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout);
  }

  it('distill --chat renders ShareGPT conversations with the chat template: each sequence is the template ids and the base model\'s reply', async () => {
    const prompts = path.join(dir, 'sharegpt.json');
    const long = 'a very long question '.repeat(40);
    writeFileSync(prompts, JSON.stringify([
      { id: 'a', conversations: [{ from: 'human', value: 'Tell me about a cat.' }, { from: 'gpt', value: 'ignored' }] },
      { id: 'b', conversations: [{ from: 'human', value: long }] },
      { id: 'c', conversations: [{ from: 'human', value: 'Why is the sky blue?' }] },
    ]));
    const out = path.join(dir, 'chat-corpus.bin');
    const r = await hydra('distill', '--model', chatModel, '--chat', '--prompts', prompts, '--out', out, '--sequences', '4', '--length', '48', '--temperature', '0', '--quiet');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/chat prompts: 3 conversations from .*sharegpt\.json through the chat template; 2 leave 8\+ of --length 48 tokens for the reply/);
    const corpus = decodeTokenFile(new Uint8Array(readFileSync(out)), out);
    expect(corpus.sequences).toHaveLength(4);
    const templates = ['Tell me about a cat.', 'Why is the sky blue?'].map((q) => tok512.encode(`user:\n${q}\nassistant:\n`, { bos: true }));
    corpus.sequences.forEach((s, i) => {
      const t = templates[i % 2]; // the prompts in turn
      expect(Array.from(s.subarray(0, t.length)), `sequence ${i}`).toEqual(t);
      expect(s.length).toBe(48);
    });
    const bad = await hydra('distill', '--model', chatModel, '--chat', '--out', out);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--chat needs --prompts <file> of conversations/);
    const none = await hydra('distill', '--model', chatModel, '--chat', '--prompts', prompts, '--out', out, '--length', '12', '--quiet');
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no rendered conversation fits --length 12 with 8 reply tokens \(the shortest is \d+ tokens\); raise --length/);
  }, 180_000);

  it('--messages --json: the template ids, the reply, and the same tokens with Hydra++ in fewer steps', async () => {
    const ar = await chatJson(undefined, '--messages', messagesFile, '--max-tokens', '32');
    // The llama2.c tokenizer on the rendered template text: an independent encoding.
    expect(ar.promptTokenIds).toEqual(tok512.encode('user:\nTell me a story about a dog.\nassistant:\n', { bos: true }));
    expect(ar.tokenIds).toHaveLength(32);
    expect(ar.text).toBe(tok512.decode([...ar.promptTokenIds, ...ar.tokenIds]).slice(tok512.decode(ar.promptTokenIds).length));
    expect(ar.finishReason).toBe('length');
    expect(ar.usage).toEqual({ promptTokens: ar.promptTokenIds.length, completionTokens: 32, totalTokens: ar.promptTokenIds.length + 32, cachedPromptTokens: 0 });
    expect(ar.meanAcceptedLength).toBe(1);
    expect(ar.tokensPerSecond as number).toBeGreaterThan(0);
    const spec = await chatJson(undefined, '--messages', messagesFile, '--max-tokens', '32', '--decoder', 'hydra++', '--heads', HYDRA_PP, '--tree', 'cpu-16');
    expect(spec.tokenIds).toEqual(ar.tokenIds);
    expect(spec.text).toBe(ar.text);
    expect(spec.meanAcceptedLength as number).toBeGreaterThan(1);
    // Messages piped to stdin give the same reply; a stop string cuts it before the text.
    const piped = await chatJson(JSON.stringify({ messages }), '--max-tokens', '32');
    expect(piped.tokenIds).toEqual(ar.tokenIds);
    const stop = ar.text.slice(10, 14);
    const cut = await chatJson(undefined, '--messages', messagesFile, '--max-tokens', '32', '--stop', stop);
    expect(cut.text).toBe(ar.text.slice(0, ar.text.indexOf(stop)));
    expect(cut.finishReason).toBe('stop');
  }, 120_000);

  it('--interactive with piped turns keeps one session: the second turn reuses the first from the cache', async () => {
    const r = await hydraWithInput('Tell me a story.\nWhat did the dog do?\n/exit\n', 'chat', '--model', chatModel, '--interactive', '--max-tokens', '16');
    expect(r.code).toBe(0);
    const stats = [...r.stderr.matchAll(/\[ar\] 16 tokens \(length\).*prompt (\d+) tokens, (\d+) from the cache/g)];
    expect(stats).toHaveLength(2);
    expect(Number(stats[0][2])).toBe(0);
    // Turn 1's prompt and reply (all but its last token, never fed) come from the cache.
    expect(Number(stats[1][2])).toBeGreaterThanOrEqual(Number(stats[0][1]) + 15);
  }, 120_000);

  it.skipIf(!existsSync('/usr/bin/script'))('on a terminal (a pseudo-terminal through script) it is a REPL', async () => {
    const cmd = [process.execPath, '--conditions=source', '--import', 'tsx', BIN, 'chat', '--model', chatModel, '--max-tokens', '8'].map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-qfec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    const turns = ['Tell me a story.\n', 'And then?\n', '/exit\n'];
    let sent = 0;
    const done = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
    // Each line goes in once the previous reply's statistics are out: no timing involved.
    const feed = () => {
      const replies = (out.match(/from the cache/g) ?? []).length;
      if (sent < turns.length && replies >= sent && /> \S*$|> $/.test(out.split('\n').at(-1) ?? '')) child.stdin.write(turns[sent++]);
    };
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      feed();
    });
    expect(await done).toBe(0);
    const stats = [...out.matchAll(/prompt (\d+) tokens, (\d+) from the cache/g)];
    expect(stats).toHaveLength(2);
    expect(Number(stats[1][2])).toBeGreaterThan(Number(stats[0][1]));
  }, 120_000);

  it('bad input says what is wrong', async () => {
    const bundled = await hydra('chat', '--messages', messagesFile);
    expect(bundled.code).toBe(2);
    expect(bundled.stderr).toMatch(/no chat template/);
    const empty = await hydraWithInput('', 'chat', '--model', chatModel);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/stdin is not a terminal and holds no messages/);
    const broken = await hydraWithInput('[{"role": "user"', 'chat', '--model', chatModel);
    expect(broken.stderr).toMatch(/stdin: not valid JSON/);
    const wrong = await hydraWithInput('[{"role": "user", "content": 5}]', 'chat', '--model', chatModel);
    expect(wrong.stderr).toMatch(/messages\[0\]\.content = 5; expected a string/);
    expect((await hydra('chat', '--model', chatModel, '--messages', '/no/such.json')).stderr).toMatch(/--messages \/no\/such\.json: no such file/);
  }, 120_000);
});

describe('help and version', () => {
  it.each([[['--help']], [['generate', '--help']], [['--version']]])('hydra %j prints once and exits 0', async (args) => {
    const r = await hydra(...args);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    if (args[0] === '--version') expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    else expect(r.stdout.match(/^Usage: /gm)).toHaveLength(1);
  }, 60_000);

  it("prints Dawn's limit warnings only when asked to (HYDRA_DAWN_WARNINGS=1)", async () => {
    const args = ['generate', '--max-new-tokens', '2', '--quiet'];
    const quiet = await hydra(...args);
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toMatch(/^\[ar {5}\] 2 tokens/m);
    expect(quiet.stderr).not.toMatch(/artificially reduced/);
    const shown = await hydraWith({ HYDRA_DAWN_WARNINGS: '1' }, ...args);
    expect(shown.code).toBe(0);
    // Dawn prints them on adapters that report huge dynamic-buffer limits (lavapipe), not on every GPU.
    if (/llvmpipe/.test(shown.stderr)) expect(shown.stderr).toMatch(/artificially reduced/);
  }, 60_000);

  it('reads a prompt that starts with a dash as the prompt', async () => {
    const r = await generateJson('--prompt', '-hello', '--max-new-tokens', '4');
    const plain = await generateJson('--prompt', 'hello', '--max-new-tokens', '4');
    expect(r.promptTokens as number).toBeGreaterThan(plain.promptTokens as number);
  }, 60_000);
});

describe('bad input', () => {
  it.each([
    [['generate', '--max-new-tokens', 'lots'], /max-new-tokens/],
    [['generate', '--decoder', 'eagle4'], /--decoder eagle4: expected one of ar, medusa, hydra, hydra\+\+, eagle, eagle3/],
    [['generate', '--tree', 'no-such-tree'], /no-such-tree/],
    [['generate', '--decoder', 'hydra', '--tree', 'dynamic-0'], /dynamic-<N> with N in \[1, 1023\]/],
    [['tune', '--decoder', 'hydra', '--calibration-tree', 'dynamic-8'], /--calibration-tree dynamic-8: a fixed tree is needed here/],
    [['generate', '--model', '/no/such/model.bin'], /\/no\/such\/model\.bin/],
    [['generate', '--heads', path.join(MODELS, 'stories260K.bin'), '--max-new-tokens', '4'], /stories260K\.bin/],
    [['train', '--head', 'hydra', '--data', '/no/such/corpus.bin', '--out', '/tmp/x.safetensors'], /--data \/no\/such\/corpus\.bin: no such file/],
    [['train', '--head', 'transformer', '--data', 'x', '--out', 'y'], /--head transformer/],
    [['train', '--head', 'hydra', '--data', 'x', '--out', 'y', '--teacher-top-k', 'lots'], /--teacher-top-k lots: expected full or an integer k in \[1, 64\]/],
    [['train', '--head', 'hydra', '--data', 'x', '--out', 'y', '--teacher-top-k', '65'], /--teacher-top-k 65: expected full or an integer k in \[1, 64\]/],
    [['distill', '--out', '/tmp/x.bin', '--sampled-tokens', '1.5'], /sampled-tokens/],
    [['generate', '--dtype', 'q2'], /--dtype q2: expected one of f32, f16, q8, q4/],
    [['generate', '--software-threads', '1.5'], /--software-threads 1.5: expected an integer in \[0, 256\]/],
    [['bench', '--software-threads', 'two'], /--software-threads two: expected an integer in \[0, 256\]/],
    [['frobnicate'], /^hydra: unknown command 'frobnicate' \(see `hydra --help`\)$/m],
    [['generate', '--frobnicate'], /^hydra: unknown option '--frobnicate' \(see `hydra generate --help`\)$/m],
    [['generate', '--temperature', '-1'], /--temperature -1: expected a number >= 0/],
    [['generate', '--max-new-tokens', '-5'], /--max-new-tokens -5: expected an integer >= 0/],
  ])('hydra %j exits with status 2 and says what is wrong', async (args, message) => {
    const r = await hydra(...(args as string[]));
    expect(r.code).toBe(2);
    expect(r.stderr + r.stdout).toMatch(message as RegExp);
  }, 60_000);
});
