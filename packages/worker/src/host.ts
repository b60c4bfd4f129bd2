// The worker's side: loads a model and its heads by URL (cached in Cache Storage, with progress),
// keeps one ChatEngine per head (and one for AR) on the one model, and answers the page's
// requests. Decoding runs here, so the page never blocks on it; chunks are posted as they are
// decided, without waiting for the page to take them.
//
//   // engine.worker.ts
//   import { serveEngine } from '@hydra-ts/worker/host';
//   serveEngine();
import { ChatEngine, hasChatTemplate, type ChatCompletion, type ChatCompletionChunk, type ChatCompletionRequest, type Completion, type CompletionChunk, type CompletionRequest } from '@hydra-ts/chat';
import { cacheStorageTreeStore, defaultTreeFor, type ResponseCacheLike, type TreeStore } from '@hydra-ts/decode';
import { loadHead, type DraftHead } from '@hydra-ts/heads';
import { httpFileSource, LlamaModel, loadProgress, type HttpSourceOptions } from '@hydra-ts/model';
import { getDevice, measureDispatchFloor, OptionError } from '@hydra-ts/tensor';
import { getTree, type CandidateTree } from '@hydra-ts/tree';
import type { EngineConfig, EngineInfo, EngineModelInfo, EngineProgress, FromWorker, MessageEndpoint, ToWorker, WireError } from './protocol';

/** One id requests can name: an engine over the model, with the head and tree it decodes with. */
interface Served {
  info: EngineModelInfo;
  head: DraftHead | null;
  /** The tree chosen at load (named or tuned); null decodes as AR. */
  loadTree: CandidateTree | null;
  /** The tree the engine decodes with now. */
  tree: CandidateTree | null;
  engine: ChatEngine;
}

interface Loaded {
  model: LlamaModel;
  heads: DraftHead[];
  served: Map<string, Served>;
  info: EngineInfo;
}

const DEFAULT_CACHE = 'hydra-ts-models';

/**
 * Answers the messages of a WorkerEngine arriving at `endpoint` (default: the worker's global
 * scope). Returns a function that stops listening.
 */
export function serveEngine(endpoint: MessageEndpoint = globalThis as unknown as MessageEndpoint): () => void {
  let loaded: Loaded | null = null;
  let loading: Promise<unknown> = Promise.resolve();
  // Requests share the model's device buffers: one decodes at a time, in arrival order.
  let queue: Promise<void> = Promise.resolve();
  const inflight = new Map<number, AbortController>();
  const post = (m: FromWorker) => endpoint.postMessage(m);
  const fail = (id: number, e: unknown) => post({ type: 'error', id, error: wireError(e) });

  async function turn(): Promise<() => void> {
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const before = queue;
    queue = before.then(() => mine);
    await before;
    return release;
  }

  function unload(): void {
    if (!loaded) return;
    for (const s of loaded.served.values()) s.engine.dispose();
    for (const h of loaded.heads) h.dispose?.();
    loaded.model.dispose();
    loaded = null;
  }

  async function load(id: number, config: EngineConfig): Promise<void> {
    checkConfig(config);
    const release = await turn();
    try {
      unload();
      loaded = await open(config, (progress) => post({ type: 'progress', id, progress }));
      post({ type: 'loaded', id, info: loaded.info });
    } finally {
      release();
    }
  }

  /**
   * The engine a request names, decoding with the request's tree or else the one chosen at load;
   * the engine is rebuilt (a fresh KV cache) when that differs from the tree it has.
   */
  function servedFor(request: { model?: string; tree?: string }): Served {
    if (!loaded) throw new OptionError('no model is loaded: call engine.load(config) and wait for it before sending requests');
    const id = request.model ?? loaded.info.defaultModel;
    const s = loaded.served.get(id);
    if (!s) throw new OptionError(`model = ${JSON.stringify(id)}; this engine serves ${[...loaded.served.keys()].join(', ')}`);
    if (request.tree !== undefined && !s.head) throw new OptionError(`tree = ${JSON.stringify(request.tree)} for model '${id}', which decodes without a head; name a head's id to decode with a tree`);
    const tree = request.tree !== undefined ? treeFitting(s.head!, request.tree, id) : s.loadTree;
    if ((tree?.name ?? null) === (s.tree?.name ?? null)) return s;
    s.engine.dispose();
    s.engine = tree ? new ChatEngine(loaded.model, { head: s.head, tree, name: id }) : new ChatEngine(loaded.model, { name: id });
    s.tree = tree;
    return s;
  }

  async function respond(msg: Extract<ToWorker, { type: 'chat' | 'complete' }>): Promise<void> {
    const ac = new AbortController();
    inflight.set(msg.id, ac);
    const release = await turn();
    try {
      if (ac.signal.aborted) {
        post({ type: 'end', id: msg.id });
        return;
      }
      const { tree: _tree, ...request } = msg.request;
      const { engine } = servedFor(msg.request);
      const answer: ChatCompletion | Completion | AsyncIterable<ChatCompletionChunk | CompletionChunk> =
        msg.type === 'chat'
          ? await engine.chat.completions.create({ ...(request as ChatCompletionRequest), signal: ac.signal })
          : await engine.completions.create({ ...(request as CompletionRequest), signal: ac.signal });
      if (isStream(answer)) {
        for await (const chunk of answer) post({ type: 'chunk', id: msg.id, chunk });
        post({ type: 'end', id: msg.id });
      } else {
        post({ type: 'result', id: msg.id, result: answer });
      }
    } finally {
      inflight.delete(msg.id);
      release();
    }
  }

  const listener = (event: { data: unknown }) => {
    const msg = event.data as ToWorker;
    if (typeof msg !== 'object' || msg === null || typeof msg.type !== 'string' || typeof msg.id !== 'number') return;
    switch (msg.type) {
      case 'load':
        loading = loading.then(() => load(msg.id, msg.config).catch((e: unknown) => fail(msg.id, e)));
        break;
      case 'chat':
      case 'complete':
        respond(msg).catch((e: unknown) => fail(msg.id, e));
        break;
      case 'abort':
        inflight.get(msg.id)?.abort();
        break;
      case 'floor':
        // Between requests, on the model's device: a step of n trivial dispatches and one read-back.
        turn().then(async (release) => {
          try {
            const device = loaded ? loaded.model.device : await getDevice();
            post({ type: 'floor', id: msg.id, floor: await measureDispatchFloor(device, msg.counts, { reps: msg.reps }) });
          } catch (e) {
            fail(msg.id, e);
          } finally {
            release();
          }
        });
        break;
      case 'unload':
        turn().then((release) => {
          try {
            unload();
            post({ type: 'unloaded', id: msg.id });
          } catch (e) {
            fail(msg.id, e);
          } finally {
            release();
          }
        });
        break;
      default:
        fail((msg as { id: number }).id, new OptionError(`unknown message type ${JSON.stringify((msg as { type: unknown }).type)}`));
    }
  };
  endpoint.addEventListener('message', listener);
  endpoint.start?.();
  return () => {
    endpoint.removeEventListener?.('message', listener);
    unload();
  };
}

function isStream<T extends object, C>(x: T | AsyncIterable<C>): x is AsyncIterable<C> {
  return Symbol.asyncIterator in x;
}

function wireError(e: unknown): WireError {
  if (e instanceof Error) return { name: e.name, message: e.message };
  return { name: 'Error', message: String(e) };
}

/** Refuses a config of the wrong shape before anything is fetched. */
function checkConfig(c: EngineConfig): void {
  if (typeof c !== 'object' || c === null) throw new OptionError('load: expected a config object { model: "<base URL>", heads?, trees?, ... }');
  if (typeof c.model !== 'string' || c.model === '') throw new OptionError(`model = ${JSON.stringify(c.model)}; expected the base URL of the model's files`);
  const record = (name: string, v: unknown) => {
    if (v === undefined) return;
    if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string')) {
      throw new OptionError(`${name} = ${JSON.stringify(v)}; expected an object of strings ({ id: ${name === 'heads' ? 'URL' : 'tree name'} })`);
    }
  };
  record('heads', c.heads);
  record('trees', c.trees);
  if (c.heads && 'ar' in c.heads) throw new OptionError("heads.ar: 'ar' is the id of decoding without a head; give the head another id");
  for (const id of Object.keys(c.trees ?? {})) if (!c.heads?.[id]) throw new OptionError(`trees.${id}: no head has the id '${id}' (heads: ${Object.keys(c.heads ?? {}).join(', ') || 'none'})`);
  const ids = ['ar', ...Object.keys(c.heads ?? {})];
  if (c.defaultModel !== undefined && !ids.includes(c.defaultModel)) throw new OptionError(`defaultModel = ${JSON.stringify(c.defaultModel)}; expected one of ${ids.join(', ')}`);
  if (c.dtype !== undefined && !['f32', 'f16', 'q8', 'q4'].includes(c.dtype)) throw new OptionError(`dtype = ${JSON.stringify(c.dtype)}; expected f32, f16, q8 or q4`);
  if (c.revalidate !== undefined && c.revalidate !== 'headers' && c.revalidate !== 'never') throw new OptionError(`revalidate = ${JSON.stringify(c.revalidate)}; expected 'headers' or 'never'`);
  if (c.cache !== undefined && c.cache !== null && typeof c.cache !== 'string') throw new OptionError(`cache = ${JSON.stringify(c.cache)}; expected a Cache Storage name or null`);
}

/** A built-in tree for `head`, refused when it is deeper than the head drafts. */
function treeFitting(head: DraftHead, name: string, id: string): CandidateTree {
  const tree = getTree(name);
  if (tree.depth > head.depth) throw new OptionError(`tree '${name}' has depth ${tree.depth}; head '${id}' drafts ${head.depth} tokens ahead (use a tree of depth ≤ ${head.depth})`);
  return tree;
}

/** Tuned trees beside the files, in Cache Storage ('<cache>-trees'); the platform's store where there is none. */
function treeStore(cache: string | null | undefined): TreeStore | undefined {
  const storage = (globalThis as { caches?: { open(name: string): Promise<ResponseCacheLike> } }).caches;
  if (!storage || cache === null) return undefined;
  const name = `${cache ?? DEFAULT_CACHE}-trees`;
  return cacheStorageTreeStore(storage.open(name), `Cache Storage '${name}'`);
}

/** Splits a file URL into its directory and name (resolved against the worker's location). */
function splitUrl(url: string): { dir: string; file: string } {
  const base = (globalThis as { location?: { href: string } }).location?.href;
  const u = new URL(url, base);
  const dir = new URL('.', u).href;
  return { dir, file: u.href.slice(dir.length) };
}

async function open(config: EngineConfig, progress: (p: EngineProgress) => void): Promise<Loaded> {
  const started = performance.now();
  const device = await getDevice();
  const fold = loadProgress((p) =>
    progress({ phase: 'fetch', progress: p.totalBytes > 0 ? p.loadedBytes / p.totalBytes : 0, text: p.text, file: p.file, filesDone: p.filesDone, filesSeen: p.filesSeen, loadedBytes: p.loadedBytes, totalBytes: p.totalBytes, cachedBytes: p.cachedBytes }),
  );
  const sourceOptions: HttpSourceOptions = { cache: config.cache === undefined ? DEFAULT_CACHE : config.cache, revalidate: config.revalidate, onProgress: fold };
  const base = (globalThis as { location?: { href: string } }).location?.href;
  const modelSource = httpFileSource(new URL(config.model, base).href, sourceOptions);
  const model = await LlamaModel.load(modelSource, { device, checkpoint: config.checkpoint, tokenizer: config.tokenizer, dtype: config.dtype, maxContext: config.maxContext });
  const heads: DraftHead[] = [];
  const served = new Map<string, Served>();
  try {
    served.set('ar', { info: { id: 'ar', decoder: 'ar', tree: null, treeSize: null }, head: null, loadTree: null, tree: null, engine: new ChatEngine(model, { name: 'ar' }) });
    const modelId = [...modelSource.fingerprints].map(([f, v]) => `${f} ${v}`).join('; ');
    for (const [id, url] of Object.entries(config.heads ?? {})) {
      const { dir, file } = splitUrl(url);
      const headSource = httpFileSource(dir, sourceOptions);
      const head = await loadHead(model, await headSource.read(file, { expected: 'a heads .safetensors file' }));
      heads.push(head);
      const named = config.trees?.[id];
      let tree: CandidateTree | null;
      let note: string | undefined;
      if (named !== undefined) {
        tree = treeFitting(head, named, id);
      } else {
        const tuned = await defaultTreeFor(model, head, {
          store: treeStore(config.cache),
          modelId,
          headId: `${file} ${headSource.fingerprints.get(file)}`,
          onProgress: (text) => progress({ phase: 'tune', progress: 0, text: `${id}: ${text}` }),
        });
        tree = tuned.ar ? null : tuned.tree;
        if (tuned.ar) note = 'decodes as AR: no tree is faster than plain decoding on this device';
      }
      const engine = tree ? new ChatEngine(model, { head, tree, name: id }) : new ChatEngine(model, { name: id });
      served.set(id, { info: { id, decoder: tree ? head.name : 'ar', tree: tree?.name ?? null, treeSize: tree?.size ?? null, note }, head, loadTree: tree, tree, engine });
    }
    if (config.warmup ?? true) {
      const all = [...served.values()];
      for (const [i, s] of all.entries()) {
        progress({ phase: 'compile', progress: i / all.length, text: `compiling kernels: ${s.info.id}` });
        await s.engine.completions.create({ prompt: 'Hello', max_tokens: 2, temperature: 0 });
      }
      progress({ phase: 'compile', progress: 1, text: 'kernels compiled' });
    }
  } catch (e) {
    for (const s of served.values()) s.engine.dispose();
    for (const h of heads) h.dispose?.();
    model.dispose();
    throw e;
  }
  const c = model.config;
  const ids = [...served.keys()];
  const info: EngineInfo = {
    models: [...served.values()].map((s) => s.info),
    defaultModel: config.defaultModel ?? ids[1] ?? 'ar',
    device: device.name,
    config: { dim: c.dim, nLayers: c.nLayers, vocabSize: c.vocabSize, maxSeqLen: c.maxSeqLen },
    chatTemplate: model.tokenizer ? hasChatTemplate(model.tokenizer) : false,
    loadMs: performance.now() - started,
  };
  return { model, heads, served, info };
}
