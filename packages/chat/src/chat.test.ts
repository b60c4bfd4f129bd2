// Chat completions on stories260K as a Hugging Face directory with a chat template (testing.ts):
// the template's ids against the llama2.c tokenizer's encoding of the same text, replies against
// plain AR decoding of those ids, stop strings that span tokens, turns that reuse the cache,
// generation_config defaults, streaming chunks, abort, the one-at-a-time rule and bad input.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { getDevice, OptionError } from '@hydra-ts/tensor';
import { Llama2cTokenizer, LlamaModel, memoryFileSource, convertLlama2cToHf, parseLlama2cCheckpoint, type ChatMessage } from '@hydra-ts/model';
import { loadHead } from '@hydra-ts/heads';
import { getTree } from '@hydra-ts/tree';
import { SessionBusyError, SpeculativeDecoder } from '@hydra-ts/decode';
import { samplingVerifier } from '@hydra-ts/verify';
import { ChatEngine, ChatError, ChatSession, type ChatCompletionChunk } from './index';
import { storiesChatFiles } from './testing';

const storiesDir = fileURLToPath(new URL('../../../models/stories260K', import.meta.url));
const device = await getDevice();
const model = await LlamaModel.load(memoryFileSource(storiesChatFiles(storiesDir), 'stories-chat'), { device });
const tok512 = Llama2cTokenizer.fromBytes(readFileSync(`${storiesDir}/tok512.bin`), 'tok512.bin', 512);
const decoder = new SpeculativeDecoder(model);
const N = 32;
const story: ChatMessage[] = [{ role: 'user', content: 'Tell me a story about a cat.' }];

async function arReply(promptIds: number[], n = N): Promise<number[]> {
  return (await decoder.generate({ prompt: promptIds, maxNewTokens: n })).tokenIds;
}

const heads = async (file: string) => loadHead(model, `${storiesDir}/heads/${file}.safetensors`);

describe('ChatEngine.chat.completions.create', () => {
  it('renders the template, decodes the AR continuation and reports usage and statistics', async () => {
    const engine = new ChatEngine(model, { name: 'stories' });
    const r = await engine.chat.completions.create({ messages: story, max_tokens: N });
    // The llama2.c tokenizer on the rendered text: an independent encoder of the same string.
    const expectedPrompt = tok512.encode('user:\nTell me a story about a cat.\nassistant:\n', { bos: true });
    expect(r.hydra.promptTokenIds).toEqual(expectedPrompt);
    const ids = await arReply(expectedPrompt);
    expect(r.hydra.tokenIds).toEqual(ids);
    const text = tok512.decode([...expectedPrompt, ...ids]).slice(tok512.decode(expectedPrompt).length);
    expect(r.choices[0].message).toEqual({ role: 'assistant', content: text });
    expect(r.choices[0].finish_reason).toBe('length');
    expect(r.object).toBe('chat.completion');
    expect(r.model).toBe('stories');
    expect(r.usage).toEqual({ prompt_tokens: expectedPrompt.length, completion_tokens: N, total_tokens: expectedPrompt.length + N, prompt_tokens_details: { cached_tokens: 0 } });
    expect(r.hydra.meanAcceptedLength).toBe(1);
    expect(r.hydra.tokensPerSecond).toBeGreaterThan(0);
    engine.dispose();
  });

  for (const [kind, file] of [['medusa', 'medusa'], ['hydra', 'hydra'], ['hydra++', 'hydra-pp']]) {
    it(`${kind}: the same reply as AR in fewer steps`, async () => {
      const head = await heads(file);
      const engine = new ChatEngine(model, { head, tree: getTree('cpu-16') });
      const r = await engine.chat.completions.create({ messages: story, max_tokens: N });
      expect(r.hydra.tokenIds).toEqual(await arReply(r.hydra.promptTokenIds));
      expect(r.hydra.meanAcceptedLength).toBeGreaterThan(1.2);
      expect(r.hydra.decoder).toBe(kind);
      engine.dispose();
      head.dispose();
    });
  }

  it('a stop string that spans tokens cuts the reply exactly and is never streamed (AR and Hydra++)', async () => {
    const promptIds = tok512.encode('user:\nTell me a story about a cat.\nassistant:\n', { bos: true });
    const ids = await arReply(promptIds, 48);
    const full = tok512.decode([...promptIds, ...ids]).slice(tok512.decode(promptIds).length);
    // A token boundary in the middle of the reply; the stop string starts 2 characters before it.
    let boundary = 0;
    for (let k = 1; k < ids.length && boundary < full.length / 2; k++) boundary = tok512.decode([...promptIds, ...ids.slice(0, k)]).length - tok512.decode(promptIds).length;
    const stop = full.slice(boundary - 2, boundary + 3);
    expect(stop.length).toBe(5);
    const want = full.slice(0, full.indexOf(stop));
    const head = await heads('hydra-pp');
    for (const engine of [new ChatEngine(model), new ChatEngine(model, { head, tree: getTree('cpu-16') })]) {
      const r = await engine.chat.completions.create({ messages: story, max_tokens: 48, stop: ['zzzz', stop] });
      expect(r.choices[0].message.content).toBe(want);
      expect(r.choices[0].finish_reason).toBe('stop');
      // The ids end with the one that completed the stop string.
      const got = tok512.decode([...promptIds, ...r.hydra.tokenIds]).slice(tok512.decode(promptIds).length);
      expect(got.startsWith(want + stop)).toBe(true);
      expect(tok512.decode([...promptIds, ...r.hydra.tokenIds.slice(0, -1)]).slice(tok512.decode(promptIds).length).includes(stop)).toBe(false);
      expect(r.usage.completion_tokens).toBe(r.hydra.tokenIds.length);

      const chunks: ChatCompletionChunk[] = [];
      for await (const c of await engine.chat.completions.create({ messages: story, max_tokens: 48, stop, stream: true, stream_options: { include_usage: true } })) chunks.push(c);
      expect(chunks[0].choices[0].delta).toEqual({ role: 'assistant', content: '' });
      const streamed = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
      expect(streamed).toBe(want);
      const last = chunks.at(-2)!;
      expect(last.choices[0].finish_reason).toBe('stop');
      expect(last.hydra?.tokenIds).toEqual(r.hydra.tokenIds);
      const usage = chunks.at(-1)!;
      expect(usage.choices).toEqual([]);
      expect(usage.usage?.completion_tokens).toBe(r.hydra.tokenIds.length);
      engine.dispose();
    }
    head.dispose();
  });

  it('the next turn reuses the cached conversation and equals a fresh engine on the whole conversation', async () => {
    const head = await heads('hydra-pp');
    const fresh = await heads('hydra-pp');
    const tree = getTree('cpu-16');
    const engine = new ChatEngine(model, { head, tree });
    const messages: ChatMessage[] = [...story];
    let cached = 0;
    for (const next of ['What did the cat do next?', 'And then?']) {
      const r = await engine.chat.completions.create({ messages, max_tokens: 24, stop: '\n' });
      expect(r.usage.prompt_tokens_details.cached_tokens).toBeGreaterThanOrEqual(cached);
      const other = new ChatEngine(model, { head: fresh, tree });
      const alone = await other.chat.completions.create({ messages, max_tokens: 24, stop: '\n' });
      other.dispose();
      expect(r.choices[0].message.content).toBe(alone.choices[0].message.content);
      expect(r.hydra.tokenIds).toEqual(alone.hydra.tokenIds);
      messages.push({ role: 'assistant', content: r.choices[0].message.content }, { role: 'user', content: next });
      cached = r.usage.prompt_tokens;
    }
    // By the last turn the cache held every earlier turn's prompt.
    const last = await engine.chat.completions.create({ messages, max_tokens: 8 });
    expect(last.usage.prompt_tokens_details.cached_tokens).toBeGreaterThan(cached / 2);
    engine.dispose();
    head.dispose();
    fresh.dispose();
  });

  it("samples with the model's generation_config.json when the request sets nothing", async () => {
    const sampled = await LlamaModel.load(
      memoryFileSource(storiesChatFiles(storiesDir, { generationConfig: { do_sample: true, temperature: 0.8, top_k: 20 } }), 'stories-chat-sampled'),
      { device },
    );
    const engine = new ChatEngine(sampled);
    const r = await engine.chat.completions.create({ messages: story, max_tokens: 16, seed: 3 });
    const sampling = { temperature: 0.8, topK: 20 };
    const want = await new SpeculativeDecoder(sampled).generate({ prompt: r.hydra.promptTokenIds, maxNewTokens: 16, sampling, verifier: samplingVerifier(sampling), seed: 3 });
    expect(r.hydra.tokenIds).toEqual(want.tokenIds);
    expect(r.hydra.tokenIds).not.toEqual(await arReply(r.hydra.promptTokenIds, 16)); // it did sample
    const greedy = await engine.chat.completions.create({ messages: story, max_tokens: 16, temperature: 0 });
    expect(greedy.hydra.tokenIds).toEqual(await arReply(r.hydra.promptTokenIds, 16));
    engine.dispose();
    sampled.dispose();
  });

  it("aborts with finish_reason 'abort'; requests at once run one after the other", async () => {
    const engine = new ChatEngine(model);
    const ac = new AbortController();
    let n = 0;
    let finish: string | null = null;
    for await (const c of await engine.chat.completions.create({ messages: story, max_tokens: 200, stream: true, signal: ac.signal })) {
      if (c.choices[0].delta.content && ++n === 3) ac.abort();
      finish = c.choices[0].finish_reason ?? finish;
    }
    expect(finish).toBe('abort');
    const [a, b] = await Promise.all([
      engine.chat.completions.create({ messages: story, max_tokens: 12 }),
      engine.chat.completions.create({ messages: story, max_tokens: 12 }),
    ]);
    expect(b.choices[0].message.content).toBe(a.choices[0].message.content);
    // A stream dropped before its first chunk frees the engine for the next request.
    const dropped = await engine.chat.completions.create({ messages: story, max_tokens: 4, stream: true });
    await dropped[Symbol.asyncIterator]().return?.();
    expect((await engine.chat.completions.create({ messages: story, max_tokens: 4 })).usage.completion_tokens).toBe(4);
    engine.dispose();
  });

  it('bad requests are typed errors naming the field', async () => {
    const engine = new ChatEngine(model);
    await expect(engine.chat.completions.create({ messages: [] })).rejects.toThrow(/messages = \[\]; expected a non-empty array/);
    await expect(engine.chat.completions.create({ messages: [{ role: 'user', content: 3 as unknown as string }] })).rejects.toThrow(/messages\[0\]\.content = 3; expected a string/);
    await expect(engine.chat.completions.create({ messages: story, n: 2 })).rejects.toThrow(OptionError);
    await expect(engine.chat.completions.create({ messages: story, stop: ['ok', ''] })).rejects.toThrow(/stop\[1\] = ""/);
    await expect(engine.chat.completions.create({ messages: story, max_tokens: 0 })).rejects.toThrow(/max_tokens/);
    await expect(engine.chat.completions.create({ messages: story, temperature: -1 })).rejects.toThrow(/temperature = -1/);
    const ckpt = parseLlama2cCheckpoint(readFileSync(`${storiesDir}/stories260K.bin`), 'stories260K.bin');
    const plain = await LlamaModel.load(memoryFileSource(convertLlama2cToHf(ckpt.config, ckpt.weights, tok512), 'no-template'), { device });
    const noTemplate = new ChatEngine(plain);
    await expect(noTemplate.chat.completions.create({ messages: story })).rejects.toThrow(ChatError);
    await expect(noTemplate.chat.completions.create({ messages: story })).rejects.toThrow(/no chat template \(tokenizer_config\.json chat_template\)/);
    noTemplate.dispose();
    plain.dispose();
    // Still usable after bad requests.
    expect((await engine.chat.completions.create({ messages: story, max_tokens: 2 })).usage.completion_tokens).toBe(2);
    engine.dispose();
  });
});

describe('ChatEngine.completions.create', () => {
  it('continues a text prompt as it is (no template): the AR tokens, streamed or whole, with Hydra++ too', async () => {
    const prompt = 'Once upon a time';
    const ids = tok512.encode(prompt, { bos: true });
    const want = await arReply(ids);
    const text = tok512.decode([...ids, ...want]).slice(tok512.decode(ids).length);
    const head = await heads('hydra-pp');
    for (const engine of [new ChatEngine(model, { name: 'stories' }), new ChatEngine(model, { head, tree: getTree('cpu-16') })]) {
      const r = await engine.completions.create({ prompt, max_tokens: N });
      expect(r.object).toBe('text_completion');
      expect(r.hydra.promptTokenIds).toEqual(ids);
      expect(r.hydra.tokenIds).toEqual(want);
      expect(r.choices[0]).toEqual({ index: 0, text, finish_reason: 'length', logprobs: null });
      expect(r.usage.completion_tokens).toBe(N);
      const chunks = [];
      for await (const c of await engine.completions.create({ prompt, max_tokens: N, stream: true, stream_options: { include_usage: true } })) chunks.push(c);
      expect(chunks.map((c) => c.choices[0]?.text ?? '').join('')).toBe(text);
      expect(chunks.at(-2)!.choices[0].finish_reason).toBe('length');
      expect(chunks.at(-2)!.hydra!.tokenIds).toEqual(want);
      expect(chunks.at(-1)!.choices).toEqual([]);
      expect(chunks.at(-1)!.usage!.prompt_tokens_details.cached_tokens).toBeGreaterThan(0);
      await expect(engine.completions.create({ prompt: 42 as never })).rejects.toThrow(/prompt = 42; expected a string/);
      engine.dispose();
    }
    head.dispose();
  });
});

describe('ChatSession', () => {
  it('streams the reply; a second send while one runs is a SessionBusyError', async () => {
    const chat = new ChatSession(model);
    const reply = chat.send(story, { maxTokens: 16 });
    let streamed = '';
    const it = reply[Symbol.asyncIterator]();
    const first = await it.next();
    streamed += first.done ? '' : first.value.text;
    await expect(chat.send(story, { maxTokens: 4 }).result()).rejects.toThrow(SessionBusyError);
    for (;;) {
      const r = await it.next();
      if (r.done) break;
      streamed += r.value.text;
    }
    const r = await reply.result();
    expect(streamed).toBe(r.text);
    expect(r.tokenIds).toEqual(await arReply(r.promptTokenIds, 16));
    const again = await chat.send([...story, { role: 'assistant', content: r.text }, { role: 'user', content: 'More.' }], { maxTokens: 4 }).result();
    expect(again.usage.cachedPromptTokens).toBeGreaterThan(r.promptTokenIds.length);
    chat.dispose();
  });
});
