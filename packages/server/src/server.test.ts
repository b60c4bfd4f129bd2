// The API end to end on loopback with the official `openai` client, against the real stories260K
// with its trained Hydra++ heads. Expected texts come from a separate AR decoder on the same model
// (greedy speculative decoding is lossless, so every answer must equal AR's).
import { fileURLToPath } from 'node:url';
import OpenAI, { APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getDevice } from '@hydra-ts/tensor';
import { LlamaModel } from '@hydra-ts/model';
import { loadHead } from '@hydra-ts/heads';
import { getTree } from '@hydra-ts/tree';
import { SpeculativeDecoder } from '@hydra-ts/decode';
import { createServer, type HydraServer } from './server';
import { DecoderEngine } from './decoder-engine';
import type { Engine, EngineChunk, EngineRequest, EngineResult } from './engine';

const modelDir = fileURLToPath(new URL('../../../models/stories260K/', import.meta.url));
const device = await getDevice({ softwareThreads: 0 });
const model = await LlamaModel.load(modelDir + 'stories260K.bin', { device });
const head = await loadHead(model, modelDir + 'heads/hydra-pp.safetensors');
const ar = new SpeculativeDecoder(model);
const MODEL = 'stories260K';

/** AR's greedy continuation of `prompt`, and its token count. */
async function expected(prompt: string, maxNewTokens: number): Promise<{ text: string; tokens: number; promptTokens: number }> {
  const r = await ar.generate({ prompt, maxNewTokens });
  return { text: r.text, tokens: r.tokenIds.length, promptTokens: r.promptTokens };
}

/** The decoder engine, recording every result and aborted signal (for the cancellation tests). */
class RecordingEngine implements Engine {
  readonly results: EngineResult[] = [];
  aborted = 0;
  constructor(private readonly inner: DecoderEngine) {}
  get id() {
    return this.inner.id;
  }
  get contextLength() {
    return this.inner.contextLength;
  }
  get info() {
    return this.inner.info;
  }
  countPromptTokens(input: EngineRequest['input']) {
    return this.inner.countPromptTokens(input);
  }
  async *generate(request: EngineRequest, signal: AbortSignal): AsyncGenerator<EngineChunk, EngineResult, void> {
    const result = yield* this.inner.generate(request, signal);
    if (signal.aborted) this.aborted++;
    this.results.push(result);
    return result;
  }
}

const engine = new RecordingEngine(new DecoderEngine(model, { id: MODEL, head, tree: getTree('cpu-16') }));
let server: HydraServer;
let url: string;
let client: OpenAI;

beforeAll(async () => {
  server = createServer(engine, { maxQueue: 32 });
  url = await server.listen({ host: '127.0.0.1', port: 0 });
  client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
});
afterAll(async () => {
  await server.close();
});

async function post(path: string, body: string, contentType = 'application/json'): Promise<{ status: number; json: any; headers: Headers }> {
  const res = await fetch(url + path, { method: 'POST', headers: { 'content-type': contentType }, body });
  return { status: res.status, json: await res.json(), headers: res.headers };
}

async function apiError(p: Promise<unknown>): Promise<APIError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(APIError);
  return e as APIError;
}

describe('text completions', () => {
  it('answers with the AR text, usage, finish_reason and τ', async () => {
    const want = await expected('Once upon a time', 48);
    const r = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 48, temperature: 0 });
    expect(r.object).toBe('text_completion');
    expect(r.model).toBe(MODEL);
    expect(r.choices).toHaveLength(1);
    expect(r.choices[0]!.text).toBe(want.text);
    expect(r.choices[0]!.finish_reason).toBe('length');
    expect(r.usage).toEqual({ prompt_tokens: want.promptTokens, completion_tokens: 48, total_tokens: want.promptTokens + 48, prompt_tokens_details: { cached_tokens: expect.any(Number) } });
    const extra = (r as unknown as { hydra: { tau: number; tokens_per_second: number; steps: number } }).hydra;
    expect(extra.tau).toBeGreaterThan(1); // the trained heads accept candidates on this prompt
    expect(extra.steps).toBeLessThan(48);
    expect(extra.tokens_per_second).toBeGreaterThan(0);
  });

  it('streams the same text as server-sent events, then the usage', async () => {
    const want = await expected('Tom had a red ball', 40);
    const stream = await client.completions.create({ model: MODEL, prompt: 'Tom had a red ball', max_tokens: 40, temperature: 0, stream: true, stream_options: { include_usage: true } });
    let text = '';
    const finishes: Array<string | null> = [];
    let usage: OpenAI.CompletionUsage | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      for (const c of chunk.choices) {
        text += c.text;
        finishes.push(c.finish_reason);
      }
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe(want.text);
    expect(chunks).toBeGreaterThan(3);
    expect(finishes.at(-1)).toBe('length');
    expect(finishes.slice(0, -1).every((f) => f === null)).toBe(true);
    expect(usage).toEqual({ prompt_tokens: want.promptTokens, completion_tokens: 40, total_tokens: want.promptTokens + 40, prompt_tokens_details: { cached_tokens: expect.any(Number) } });
  });

  it('stops at a stop string, which is not part of the text', async () => {
    const full = await expected('Once upon a time', 64);
    const stop = full.text.slice(30, 36); // somewhere inside the greedy text
    const cut = full.text.indexOf(stop);
    for (const streamed of [false, true]) {
      let text = '';
      let finish: string | null = null;
      if (streamed) {
        for await (const chunk of await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 64, temperature: 0, stop: [stop], stream: true })) {
          text += chunk.choices[0]?.text ?? '';
          finish = chunk.choices[0]?.finish_reason ?? finish;
        }
      } else {
        const r = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 64, temperature: 0, stop });
        text = r.choices[0]!.text;
        finish = r.choices[0]!.finish_reason;
      }
      expect(text, `streamed: ${streamed}`).toBe(full.text.slice(0, cut));
      expect(finish).toBe('stop');
    }
  });

  it('samples reproducibly with a seed', async () => {
    const ask = (seed: number) => client.completions.create({ model: MODEL, prompt: 'The little dog', max_tokens: 32, temperature: 0.8, seed });
    const a = await ask(7);
    const b = await ask(7);
    expect(a.choices[0]!.text).toBe(b.choices[0]!.text);
    expect(a.usage!.completion_tokens).toBeGreaterThan(0);
  });
});

describe('chat completions', () => {
  it('continues the messages of a model without a chat template, streamed or not', async () => {
    // stories260K has no chat template: the conversation's text is the prompt.
    const want = await expected('Once upon a time', 32);
    const messages = [{ role: 'user' as const, content: 'Once upon a time' }];
    const r = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 32, temperature: 0 });
    expect(r.object).toBe('chat.completion');
    expect(r.choices[0]!.message).toMatchObject({ role: 'assistant', content: want.text });
    expect(r.usage!.completion_tokens).toBe(32);
    let text = '';
    let role: string | undefined;
    for await (const chunk of await client.chat.completions.create({ model: MODEL, messages, max_completion_tokens: 32, temperature: 0, stream: true })) {
      role ??= chunk.choices[0]?.delta.role;
      text += chunk.choices[0]?.delta.content ?? '';
    }
    expect(role).toBe('assistant');
    expect(text).toBe(want.text);
  });
});

describe('models and health', () => {
  it('lists the one model and reports the queue', async () => {
    const list = await client.models.list();
    expect(list.data.map((m) => m.id)).toEqual([MODEL]);
    expect((await client.models.retrieve(MODEL)).id).toBe(MODEL);
    const health = await (await fetch(`${url}/health`)).json();
    expect(health).toMatchObject({ status: 'ok', model: MODEL, decoder: head.name, tree: 'cpu-16', queue: { running: 0, waiting: 0, max: 32 } });
  });
});

describe('errors', () => {
  it('answers bad requests with 400 and an OpenAI error body naming the field', async () => {
    const bad = await post('/v1/completions', '{"prompt": "x", ');
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_json', param: null });
    expect(bad.json.error.message).toMatch(/JSON/);

    const type = await apiError(client.completions.create({ model: MODEL, prompt: 'x', temperature: 'hot' as never }));
    expect(type.status).toBe(400);
    expect(type.param).toBe('temperature');
    expect(type.code).toBe('invalid_type');

    const range = await apiError(client.completions.create({ model: MODEL, prompt: 'x', top_p: 1.5 }));
    expect([range.status, range.param]).toEqual([400, 'top_p']);

    const missing = await post('/v1/chat/completions', JSON.stringify({ model: MODEL }));
    expect(missing.status).toBe(400);
    expect(missing.json.error).toMatchObject({ param: 'messages', code: 'missing_required_parameter' });

    const role = await post('/v1/chat/completions', JSON.stringify({ messages: [{ role: 'wizard', content: 'hi' }] }));
    expect(role.json.error).toMatchObject({ param: 'messages[0].role' });

    const n = await apiError(client.completions.create({ model: MODEL, prompt: 'x', n: 2 }));
    expect([n.status, n.param]).toEqual([400, 'n']);
  });

  it('refuses more tokens than the context holds', async () => {
    const e = await apiError(client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 10_000 }));
    expect(e.status).toBe(400);
    expect(e.code).toBe('context_length_exceeded');
    expect(e.param).toBe('max_tokens');
    expect(e.message).toMatch(/512 tokens/);
    const long = await apiError(client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'the cat sat. '.repeat(200) }] }));
    expect([long.status, long.code, long.param]).toEqual([400, 'context_length_exceeded', 'messages']);
  });

  it('says which model it serves when asked for another (404, as OpenAI)', async () => {
    const e = await apiError(client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }));
    expect(e.status).toBe(404);
    expect(e.code).toBe('model_not_found');
    expect(e.message).toMatch(/gpt-4o.*stories260K/);
    const route = await fetch(`${url}/v1/embeddings`, { method: 'POST' });
    expect(route.status).toBe(404);
    expect((await route.json()).error.code).toBe('not_found');
  });
});

/** Waits (polling the queue, not the clock) until `condition` holds. */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 10_000 && !condition(); i++) await new Promise((r) => setTimeout(r, 2));
  expect(condition()).toBe(true);
}

describe('the queue', () => {
  it('answers 429 with Retry-After when every place is taken, and serves the rest in order', async () => {
    const small = createServer(engine, { maxQueue: 1 });
    const base = await small.listen({ port: 0 });
    try {
      const body = (prompt: string) => JSON.stringify({ model: MODEL, prompt, max_tokens: 64, temperature: 0 });
      const first = fetch(`${base}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body('Once upon a time') });
      await until(() => small.queue.running === 1);
      const second = fetch(`${base}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body('Tom had a red ball') });
      await until(() => small.queue.waiting === 1);
      const third = await fetch(`${base}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body('The sun') });
      expect(third.status).toBe(429);
      expect(Number(third.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect((await third.json()).error).toMatchObject({ type: 'rate_limit_error', code: 'queue_full' });
      const [a, b] = await Promise.all([first, second]);
      expect((await a.json()).choices[0].text).toBe((await expected('Once upon a time', 64)).text);
      expect((await b.json()).choices[0].text).toBe((await expected('Tom had a red ball', 64)).text);
    } finally {
      await small.close();
    }
  });

  it('cancels the generation of a client that disconnects, and its place in the queue', async () => {
    const abortedBefore = engine.aborted;
    const running = new AbortController();
    const stream = await client.completions.create(
      { model: MODEL, prompt: 'Once upon a time', max_tokens: 400, temperature: 0, stream: true },
      { signal: running.signal },
    );
    const waiting = new AbortController();
    let firstChunk = false;
    const iterate = (async () => {
      try {
        for await (const _ of stream) {
          if (!firstChunk) {
            firstChunk = true;
            // a second request queues behind this one, then gives up
            void client.completions.create({ model: MODEL, prompt: 'The cat', max_tokens: 400 }, { signal: waiting.signal }).catch(() => {});
            await until(() => server.queue.waiting === 1);
            waiting.abort();
            await until(() => server.queue.waiting === 0);
            running.abort();
          }
        }
      } catch {
        // the client's own abort
      }
    })();
    await iterate;
    await server.queue.idle();
    expect(engine.aborted).toBe(abortedBefore + 1); // the running one was cancelled; the waiting one never started
    const cancelled = engine.results.at(-1)!;
    expect(cancelled.completionTokens).toBeLessThan(400);
    // and the server carries on
    const r = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 8, temperature: 0 });
    expect(r.choices[0]!.text).toBe((await expected('Once upon a time', 8)).text);
  });

  it('serves 8 clients × 10 requests on loopback, every answer its own, GPU memory flat', async () => {
    const prompts = ['Once upon a time', 'Tom had a red ball', 'The little dog', 'Lily wanted to', 'One day, a bird', 'The sun was', 'Sam and his mom', 'There was a big tree'];
    const want = await Promise.all(prompts.map((p) => expected(p, 24)));
    // one round alone first (buffers a prompt length needs for the first time stay pooled), then count
    for (const prompt of prompts) await client.completions.create({ model: MODEL, prompt, max_tokens: 24, temperature: 0 });
    const before = device.liveBytes;
    const answers = await Promise.all(
      prompts.map(async (_, c) => {
        const got: boolean[] = [];
        for (let i = 0; i < 10; i++) {
          const k = (c + i) % prompts.length; // every client asks every prompt, in its own order
          const r = await client.completions.create({ model: MODEL, prompt: prompts[k]!, max_tokens: 24, temperature: 0 });
          got.push(r.choices[0]!.text === want[k]!.text && r.usage!.completion_tokens === want[k]!.tokens);
        }
        return got;
      }),
    );
    expect(answers.flat().filter((ok) => !ok)).toHaveLength(0);
    expect(answers.flat()).toHaveLength(80);
    expect(server.queue.waiting).toBe(0);
    expect(device.liveBytes).toBe(before);
  });
});

describe('close', () => {
  it('answers the requests it accepted, then stops', async () => {
    const s = createServer(engine);
    const base = await s.listen({ port: 0 });
    const inflight = fetch(`${base}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'Once upon a time', max_tokens: 64, temperature: 0 }) });
    await until(() => s.queue.running === 1);
    const closed = s.close();
    const r = await inflight;
    expect(r.status).toBe(200);
    expect((await r.json()).choices[0].text).toBe((await expected('Once upon a time', 64)).text);
    await closed;
    await expect(fetch(`${base}/health`)).rejects.toThrow();
  });
});
