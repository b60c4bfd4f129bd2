// The worker engine end to end in Node: the page's WorkerEngine and the worker's serveEngine on
// the two ends of a MessageChannel (the same messages a Worker carries), the model and heads
// fetched from a real HTTP server on loopback into a Cache Storage stand-in. Answers are held to
// ChatEngine's on the same files; the Chromium run of the same code is the browser demo's e2e.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatEngine, type ChatCompletionChunk, type CompletionChunk } from '@hydra-ts/chat';
import { storiesChatFiles } from '@hydra-ts/chat/testing';
import { loadHead } from '@hydra-ts/heads';
import { LlamaModel, memoryFileSource, type CacheLike } from '@hydra-ts/model';
import { getDevice } from '@hydra-ts/tensor';
import { getTree } from '@hydra-ts/tree';
import { serveEngine } from './host';
import { WorkerEngine, WorkerEngineError, type EngineConfig, type EngineProgress } from './index';

const storiesDir = fileURLToPath(new URL('../../../models/stories260K', import.meta.url));
const device = await getDevice();

/** Cache Storage as a worker has it (globalThis.caches), over Maps. */
function installCaches(): Map<string, Map<string, Response>> {
  const stores = new Map<string, Map<string, Response>>();
  const open = async (name: string): Promise<CacheLike> => {
    let entries = stores.get(name);
    if (!entries) stores.set(name, (entries = new Map()));
    const e = entries;
    return {
      match: async (url) => e.get(url)?.clone(),
      put: async (url, res) => void e.set(url, res),
      delete: async (url) => e.delete(url),
    };
  };
  (globalThis as { caches?: unknown }).caches = { open };
  return stores;
}

/** A page's engine and a worker's host joined by a MessageChannel. */
function pair(): { engine: WorkerEngine; stop: () => void } {
  const channel = new MessageChannel();
  const stop = serveEngine(channel.port1 as never);
  const engine = new WorkerEngine(channel.port2 as never);
  return {
    engine,
    stop: () => {
      engine.terminate();
      stop();
      channel.port1.close();
      channel.port2.close();
    },
  };
}

async function drain<C>(stream: AsyncIterable<C>): Promise<C[]> {
  const out: C[] = [];
  for await (const c of stream) out.push(c);
  return out;
}

const story = [{ role: 'user' as const, content: 'Tell me a story about a cat.' }];

describe('WorkerEngine over a MessageChannel', () => {
  const files = storiesChatFiles(storiesDir);
  const headBytes = new Map(['hydra-pp', 'medusa'].map((n) => [`heads/${n}.safetensors`, new Uint8Array(readFileSync(`${storiesDir}/heads/${n}.safetensors`))]));
  for (const [n, b] of headBytes) files.set(n, b);
  const requests: string[] = [];
  let server: Server;
  let base = '';
  let config: EngineConfig;
  let stores: Map<string, Map<string, Response>>;
  // The Node API on the same files: what every answer is held to.
  let model: LlamaModel;

  beforeAll(async () => {
    stores = installCaches();
    server = createServer((req, res) => {
      const name = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname.slice(1));
      requests.push(`${req.method} ${name}`);
      const body = files.get(name);
      if (!body) return void res.writeHead(404).end();
      const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 16)}"`;
      res.writeHead(200, { 'Content-Length': body.byteLength, ETag: etag });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    config = { model: base, heads: { 'hydra++': `${base}heads/hydra-pp.safetensors`, medusa: `${base}heads/medusa.safetensors` }, trees: { 'hydra++': 'cpu-16', medusa: 'cpu-8' } };
    model = await LlamaModel.load(memoryFileSource(storiesChatFiles(storiesDir)), { device });
  });
  afterAll(async () => {
    model.dispose();
    delete (globalThis as { caches?: unknown }).caches;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('loads by URL with progress, then answers chat and text requests as ChatEngine does', async () => {
    const { engine, stop } = pair();
    try {
      requests.length = 0;
      const events: EngineProgress[] = [];
      const info = await engine.load(config, { onProgress: (p) => events.push(p) });
      expect(info.models.map((m) => [m.id, m.decoder, m.tree])).toEqual([['ar', 'ar', null], ['hydra++', 'hydra++', 'cpu-16'], ['medusa', 'medusa', 'cpu-8']]);
      expect(info.defaultModel).toBe('hydra++');
      expect(info.chatTemplate).toBe(true);
      const fetched = events.filter((e) => e.phase === 'fetch');
      const last = fetched.at(-1)!;
      expect(last.filesDone).toBe(last.filesSeen);
      expect(last.loadedBytes).toBe(last.totalBytes);
      expect(last.progress).toBe(1);
      expect(requests.filter((r) => r.startsWith('GET ')).map((r) => r.slice(4)).sort()).toEqual(['config.json', 'heads/hydra-pp.safetensors', 'heads/medusa.safetensors', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
      for (let i = 1; i < fetched.length; i++) expect(fetched[i].loadedBytes!).toBeGreaterThanOrEqual(fetched[i - 1].loadedBytes!);
      expect(events.some((e) => e.phase === 'compile' && e.progress === 1)).toBe(true);

      const direct = await new ChatEngine(model).chat.completions.create({ messages: story, max_tokens: 24 });
      for (const id of ['ar', 'hydra++', 'medusa']) {
        const whole = await engine.chat.completions.create({ model: id, messages: story, max_tokens: 24 });
        expect(whole.choices[0].message.content, id).toBe(direct.choices[0].message.content);
        expect(whole.hydra.tokenIds).toEqual(direct.hydra.tokenIds);
        expect(whole.model).toBe(id);
        const chunks = await drain(await engine.chat.completions.create({ model: id, messages: story, max_tokens: 24, stream: true, stream_options: { include_usage: true } }));
        expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(direct.choices[0].message.content);
        expect(chunks.at(-1)!.usage!.completion_tokens).toBe(24);
        if (id !== 'ar') expect(whole.hydra.meanAcceptedLength).toBeGreaterThan(1);
      }
      const text = await engine.completions.create({ model: 'ar', prompt: 'Once upon a time', max_tokens: 16 });
      const directText = await new ChatEngine(model).completions.create({ prompt: 'Once upon a time', max_tokens: 16 });
      expect(text.choices[0].text).toBe(directText.choices[0].text);
      // The request's tree replaces the head's for this and later requests.
      const chained = await engine.completions.create({ model: 'hydra++', tree: 'chain-3', prompt: 'Once upon a time', max_tokens: 16 });
      expect(chained.choices[0].text).toBe(directText.choices[0].text);
      // The floor for a decoder's dispatch count, on the worker's device.
      const n = Math.round(chained.hydra.dispatchesPerStep);
      expect(n).toBeGreaterThan(model.config.nLayers);
      const floor = await engine.measureFloor([1, n], { reps: 3 });
      expect(floor.map((f) => f.dispatches)).toEqual([1, n]);
      expect(floor.every((f) => f.ms > 0)).toBe(true);
      await expect(engine.measureFloor([-1])).rejects.toThrow(/dispatch count -1; expected an integer >= 0/);
    } finally {
      stop();
    }
  });

  it('aborts through a signal or by leaving the loop, and the engine goes on', async () => {
    const { engine, stop } = pair();
    try {
      await engine.load({ ...config, warmup: false });
      const ac = new AbortController();
      const seen: ChatCompletionChunk[] = [];
      for await (const c of await engine.chat.completions.create({ model: 'ar', messages: story, max_tokens: 200, stream: true, signal: ac.signal })) {
        seen.push(c);
        if (seen.length === 3) ac.abort();
      }
      expect(seen.at(-1)!.choices[0].finish_reason).toBe('abort');
      expect(seen.at(-1)!.hydra!.tokenIds.length).toBeLessThan(200);
      const left: CompletionChunk[] = [];
      for await (const c of await engine.completions.create({ prompt: 'Once', max_tokens: 200, stream: true })) {
        left.push(c);
        if (left.length === 2) break;
      }
      const pre = new AbortController();
      pre.abort();
      expect(await drain(await engine.completions.create({ prompt: 'Once', max_tokens: 5, stream: true, signal: pre.signal }))).toEqual([]);
      expect((await engine.completions.create({ prompt: 'Once', max_tokens: 3 })).usage.completion_tokens).toBe(3);
    } finally {
      stop();
    }
  });

  it('answers misuse and bad requests with typed errors naming what is wrong', async () => {
    const { engine, stop } = pair();
    try {
      const early = await engine.completions.create({ prompt: 'x' }).catch((e: unknown) => e);
      expect(early).toBeInstanceOf(WorkerEngineError);
      expect(early).toMatchObject({ name: 'OptionError', message: expect.stringMatching(/no model is loaded/) });
      await expect(engine.load({ model: 42 } as never)).rejects.toThrow(/model = 42; expected the base URL/);
      await expect(engine.load({ ...config, trees: { eagle: 'cpu-8' } })).rejects.toThrow(/trees\.eagle: no head has the id 'eagle'/);
      await expect(engine.load({ ...config, model: `${base}missing/` })).rejects.toMatchObject({ name: 'FileSourceError', message: expect.stringMatching(/missing\/config\.json: not found/) });
      await engine.load({ ...config, warmup: false });
      await expect(engine.chat.completions.create({ model: 'gpt-4', messages: story })).rejects.toThrow(/model = "gpt-4"; this engine serves ar, hydra\+\+, medusa/);
      await expect(engine.chat.completions.create({ messages: story, n: 2 })).rejects.toMatchObject({ name: 'OptionError', message: expect.stringMatching(/only one choice/) });
      await expect(engine.chat.completions.create({ messages: story, stream: true, max_tokens: -1 })).rejects.toMatchObject({ name: 'OptionError' });
      await expect(engine.completions.create({ model: 'medusa', tree: 'cpu-63', prompt: 'Once' })).rejects.toThrow(/unknown tree 'cpu-63'/);
      await expect(engine.completions.create({ model: 'ar', tree: 'cpu-8', prompt: 'Once' })).rejects.toThrow(/decodes without a head/);
      expect((await engine.completions.create({ prompt: 'Once', max_tokens: 2 })).usage.completion_tokens).toBe(2);
      await engine.unload();
      await expect(engine.completions.create({ prompt: 'Once' })).rejects.toThrow(/no model is loaded/);
      engine.terminate();
      await expect(engine.load(config)).rejects.toThrow(/terminated/);
    } finally {
      stop();
    }
  });

  it('without a tree, a head decodes with the tree tuned for this device (kept in Cache Storage for the next load)', async () => {
    stores.clear();
    const tuneOnce = async () => {
      const { engine, stop } = pair();
      const events: EngineProgress[] = [];
      const info = await engine.load({ model: base, heads: { 'hydra++': `${base}heads/hydra-pp.safetensors` }, warmup: false }, { onProgress: (p) => events.push(p) });
      const hydra = info.models.find((m) => m.id === 'hydra++')!;
      const r = await engine.completions.create({ prompt: 'Once upon a time', max_tokens: 16 });
      stop();
      return { hydra, tuned: events.filter((e) => e.phase === 'tune'), text: r.choices[0].text };
    };
    const first = await tuneOnce();
    expect(first.tuned.length).toBeGreaterThan(0);
    expect(first.tuned.at(-1)!.text).toMatch(/^hydra\+\+: tuned in [\d.]+ s: .*kept in Cache Storage 'hydra-ts-models-trees'/);
    // Either a tree that pays or plain AR, said so.
    if (first.hydra.tree === null) expect(first.hydra.note).toMatch(/decodes as AR/);
    else expect(first.hydra.treeSize).toBeGreaterThan(1);
    expect([...stores.keys()]).toContain('hydra-ts-models-trees');
    const second = await tuneOnce();
    expect(second.tuned).toEqual([]);
    expect(second.hydra).toEqual(first.hydra);
    expect(second.text).toBe((await new ChatEngine(model).completions.create({ prompt: 'Once upon a time', max_tokens: 16 })).choices[0].text);
  });

  it('a second load reads every file from the cache (headers only); a changed heads file is fetched again', async () => {
    stores.clear();
    const first = pair();
    await first.engine.load({ ...config, warmup: false });
    first.stop();
    requests.length = 0;
    const second = pair();
    const events: EngineProgress[] = [];
    await second.engine.load({ ...config, warmup: false }, { onProgress: (p) => events.push(p) });
    expect(requests.filter((r) => r.startsWith('GET '))).toEqual([]);
    const last = events.filter((e) => e.phase === 'fetch').at(-1)!;
    expect(last.cachedBytes).toBe(last.totalBytes);
    second.stop();

    // Another training run's heads under the same URL: a new ETag, so fetched again.
    const name = 'heads/medusa.safetensors';
    const before = files.get(name)!;
    files.set(name, new Uint8Array(readFileSync(`${storiesDir}/heads/hydra.safetensors`)));
    try {
      requests.length = 0;
      const third = pair();
      const info = await third.engine.load({ ...config, trees: { 'hydra++': 'cpu-16', medusa: 'chain-3' }, warmup: false });
      expect(requests.filter((r) => r.startsWith('GET '))).toEqual([`GET ${name}`]);
      expect(info.models.find((m) => m.id === 'medusa')!.decoder).toBe('hydra');
      third.stop();
    } finally {
      files.set(name, before);
    }
    // The Node API agrees on which heads those are.
    expect((await loadHead(model, before)).name).toBe('medusa');
    expect(getTree('chain-3').size).toBe(4);
  });
});
