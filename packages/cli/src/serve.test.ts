// hydra serve as a user runs it: a child process on a free port, the official `openai` client
// against it, the answers checked against `hydra generate` / `hydra chat` of the same model, and
// SIGTERM during a streamed answer: that answer completes, then the process exits 0.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import OpenAI from 'openai';
import { afterAll, describe, expect, it } from 'vitest';
import { writeStoriesChatModel } from '@hydra-ts/chat/testing';

const BIN = fileURLToPath(new URL('./bin.ts', import.meta.url));
const MODELS = fileURLToPath(new URL('../../../models/stories260K/', import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), 'hydra-serve-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function hydraJson(...args: string[]): Promise<Record<string, any>> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--conditions=source', '--import', 'tsx', BIN, ...args, '--json'], { maxBuffer: 1 << 26 });
  return JSON.parse(stdout);
}

interface Served {
  child: ChildProcess;
  url: string;
  client: OpenAI;
  stderr: () => string;
  exit: Promise<number | null>;
}

/** Starts hydra serve on a free port; resolves once it prints its URL. */
async function serve(...args: string[]): Promise<Served> {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', BIN, 'serve', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    void exit.then((code) => reject(new Error(`hydra serve exited (${code}) before listening:\n${out}\n${err}`)));
  });
  return { child, url, client: new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 }), stderr: () => err, exit };
}

describe('hydra serve', () => {
  it('answers completions as hydra generate does (Hydra++ heads, greedy: the AR text), and finishes a streamed answer on SIGTERM before exiting 0', async () => {
    const want = await hydraJson('generate', '--prompt', 'Once upon a time', '--max-new-tokens', '48');
    const s = await serve('--decoder', 'hydra++', '--tree', 'cpu-16', '--name', 'stories');
    expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await s.client.models.list()).data.map((m) => m.id)).toEqual(['stories']);
    const health = await (await fetch(`${s.url}/health`)).json();
    expect(health).toMatchObject({ status: 'ok', model: 'stories', decoder: 'hydra++', tree: 'cpu-16' });

    const r = await s.client.completions.create({ model: 'stories', prompt: 'Once upon a time', max_tokens: 48, temperature: 0 });
    expect(r.choices[0]!.text).toBe(want.text);
    expect(r.usage).toMatchObject({ completion_tokens: 48, prompt_tokens: want.promptTokens });
    expect((r as any).hydra.tau).toBeGreaterThan(1);

    // SIGTERM once the first chunk of a long streamed answer is in: the answer still completes.
    const stream = await s.client.completions.create({ model: 'stories', prompt: 'Once upon a time', max_tokens: 200, temperature: 0, stream: true });
    let text = '';
    let finish: string | null = null;
    for await (const chunk of stream) {
      if (text === '' && chunk.choices[0]?.text) s.child.kill('SIGTERM');
      text += chunk.choices[0]?.text ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(text.startsWith(want.text)).toBe(true);
    expect(finish).not.toBeNull();
    expect(await s.exit).toBe(0);
    expect(s.stderr()).toMatch(/SIGTERM: finishing 1 accepted request/);
  }, 180_000);

  it('renders a chat template and reuses the cached conversation on the next turn', async () => {
    const model = writeStoriesChatModel(MODELS, path.join(dir, 'stories-chat'));
    const messagesFile = path.join(dir, 'messages.json');
    const messages = [{ role: 'user' as const, content: 'Tell me a story about a dog.' }];
    writeFileSync(messagesFile, JSON.stringify(messages));
    const want = await hydraJson('chat', '--model', model, '--messages', messagesFile, '--max-tokens', '24');
    const s = await serve('--model', model);
    try {
      const first = await s.client.chat.completions.create({ model: 'stories-chat', messages, max_tokens: 24, temperature: 0 });
      expect(first.choices[0]!.message.content).toBe(want.text);
      expect(first.usage!.prompt_tokens).toBe(want.promptTokenIds.length);
      const next = [...messages, { role: 'assistant' as const, content: first.choices[0]!.message.content! }, { role: 'user' as const, content: 'What did the dog do next?' }];
      const second = await s.client.chat.completions.create({ model: 'stories-chat', messages: next, max_tokens: 8, temperature: 0 });
      expect(second.usage!.prompt_tokens_details!.cached_tokens).toBeGreaterThanOrEqual(want.promptTokenIds.length);
      // A bad request is an OpenAI-style 400 naming the field.
      const bad = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages, max_tokens: -1 }) });
      expect(bad.status).toBe(400);
      expect((await bad.json()).error.param).toBe('max_tokens');
    } finally {
      s.child.kill('SIGTERM');
      expect(await s.exit).toBe(0);
    }
  }, 180_000);

  it('bad flags are usage errors before anything is loaded', async () => {
    const run = (...args: string[]) =>
      promisify(execFile)(process.execPath, ['--conditions=source', '--import', 'tsx', BIN, 'serve', ...args]).then(
        () => ({ code: 0, stderr: '' }),
        (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
      );
    const port = await run('--port', '70000');
    expect(port.code).toBe(2);
    expect(port.stderr).toMatch(/--port/);
    const verifier = await run('--sampled-verifier', 'greedy');
    expect(verifier.code).toBe(2);
    expect(verifier.stderr).toMatch(/--sampled-verifier greedy: expected sample \(lossless\) or typical/);
  }, 60_000);
});
