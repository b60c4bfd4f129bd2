// Model files under a base URL, as a browser (or Node) fetches them: bodies read as streams, so a
// load reports its bytes as they arrive and an over-long body is cut off at the reader's limit
// rather than buffered; optionally kept in a Cache Storage cache so a reload downloads nothing.
//
// Caching: the first read of a URL stores the response, with its ETag, Last-Modified and length.
// Later reads (revalidate 'headers', the default) ask the server for the headers alone (HEAD):
// when the validators match, the cached bytes are used; when they differ the file has changed and
// is fetched again; when the server cannot be reached the cached bytes are used (offline). With
// revalidate 'never' a cached file is used without any request.
import { FileSourceError } from './errors';
import { formatBytes, type FileSource, type ReadOptions } from './source';

/** What a Cache Storage cache (window.caches.open(name)) offers that the source uses. */
export interface CacheLike {
  match(url: string): Promise<Response | undefined>;
  put(url: string, response: Response): Promise<void>;
  delete(url: string): Promise<boolean>;
}

/** One file's download or cache read, as it goes. */
export interface FileProgress {
  /** The name read, relative to the source's base URL. */
  file: string;
  url: string;
  loadedBytes: number;
  /** From Content-Length (or the cache); undefined when the server does not say. */
  totalBytes: number | undefined;
  /** Served from the cache (no body was downloaded). */
  fromCache: boolean;
  done: boolean;
}

export interface HttpSourceOptions {
  fetch?: typeof fetch;
  /**
   * Keep fetched files in this cache: a Cache Storage name (opened with globalThis.caches) or a
   * cache object. Default: no caching.
   */
  cache?: string | CacheLike | null;
  /** How a cached file is checked before use: 'headers' (default, a HEAD request) or 'never'. */
  revalidate?: 'headers' | 'never';
  onProgress?: (p: FileProgress) => void;
}

/** What identifies a version of a file: the validators HTTP gives for it. */
interface Validators {
  etag: string | null;
  lastModified: string | null;
  length: number | null;
}

function validators(headers: Headers): Validators {
  const length = headers.get('content-length');
  return { etag: headers.get('etag'), lastModified: headers.get('last-modified'), length: length === null || length === '' ? null : Number(length) };
}

/**
 * The cached copy is the server's current file: equal ETags; else equal Last-Modified and length.
 * A server that gives neither ETag nor Last-Modified cannot say: the copy is kept when the length agrees.
 */
function sameVersion(cached: Validators, current: Validators): boolean {
  if (cached.etag !== null && current.etag !== null) return cached.etag === current.etag;
  if (cached.length !== null && current.length !== null && cached.length !== current.length) return false;
  if (cached.lastModified !== null && current.lastModified !== null) return cached.lastModified === current.lastModified;
  return true;
}

/** A HEAD answer for one file: its validators, 'missing' (404 and the like), or 'offline' (no answer). */
type HeadAnswer = { kind: 'found'; v: Validators } | { kind: 'missing'; status: number } | { kind: 'offline'; error: Error };

/** Files under a base URL, fetched with the global fetch (or opts.fetch); see the file comment for caching. */
export function httpFileSource(baseUrl: string, opts: HttpSourceOptions | typeof fetch = {}): FileSource & { readonly fingerprints: ReadonlyMap<string, string> } {
  const o: HttpSourceOptions = typeof opts === 'function' ? { fetch: opts } : opts;
  const fetchFn = o.fetch ?? globalThis.fetch.bind(globalThis);
  const revalidate = o.revalidate ?? 'headers';
  const url = (name: string) => (baseUrl.endsWith('/') ? baseUrl + name : `${baseUrl}/${name}`);
  let cachePromise: Promise<CacheLike | null> | null = null;
  const cache = () => (cachePromise ??= openCache(o.cache));
  // One HEAD per file and source: exists() and the read() after it share it.
  const heads = new Map<string, Promise<HeadAnswer>>();
  const head = (name: string) => {
    let p = heads.get(name);
    if (!p) {
      p = fetchFn(url(name), { method: 'HEAD', cache: 'no-store' }).then(
        (res): HeadAnswer => (res.ok ? { kind: 'found', v: validators(res.headers) } : { kind: 'missing', status: res.status }),
        (e: unknown): HeadAnswer => ({ kind: 'offline', error: e as Error }),
      );
      heads.set(name, p);
    }
    return p;
  };
  // What identifies each file read, for cache keys of what is derived from them (tuned trees).
  const fingerprints = new Map<string, string>();
  const progress = (file: string, loadedBytes: number, totalBytes: number | undefined, fromCache: boolean, done: boolean) =>
    o.onProgress?.({ file, url: url(file), loadedBytes, totalBytes, fromCache, done });

  /** The cached response for `name` if it is the server's current file (or the server cannot be asked). */
  async function usableCopy(name: string): Promise<Response | null> {
    const c = await cache();
    if (!c) return null;
    const hit = await c.match(url(name));
    if (!hit?.ok) return null;
    if (revalidate === 'never') return hit;
    const answer = await head(name);
    if (answer.kind === 'offline') return hit;
    if (answer.kind === 'missing' || !sameVersion(validators(hit.headers), answer.v)) {
      await c.delete(url(name));
      return null;
    }
    return hit;
  }

  return {
    fingerprints,
    describe: url,
    async read(name, ro = {}) {
      const copy = await usableCopy(name);
      if (copy) {
        const v = validators(copy.headers);
        const bytes = await readBody(copy, url(name), ro, (n) => progress(name, n, v.length ?? undefined, true, false));
        fingerprints.set(name, fingerprint(v, bytes.byteLength));
        progress(name, bytes.byteLength, bytes.byteLength, true, true);
        return bytes;
      }
      let res: Response;
      try {
        res = await fetchFn(url(name), { cache: 'no-store' });
      } catch (e) {
        throw new FileSourceError(`cannot fetch ${url(name)}: ${(e as Error).message}`, { cause: e });
      }
      if (!res.ok) throw new FileSourceError(`cannot fetch ${url(name)}: HTTP ${res.status}`);
      const v = validators(res.headers);
      const bytes = await readBody(res, url(name), ro, (n) => progress(name, n, v.length ?? undefined, false, false));
      fingerprints.set(name, fingerprint(v, bytes.byteLength));
      const c = await cache();
      if (c) {
        const headers = new Headers({ 'content-length': String(bytes.byteLength), 'content-type': 'application/octet-stream' });
        if (v.etag !== null) headers.set('etag', v.etag);
        if (v.lastModified !== null) headers.set('last-modified', v.lastModified);
        // A full quota or a private window only loses the cache, not the load.
        await c.put(url(name), new Response(bytes.slice(), { headers })).catch(() => undefined);
      }
      progress(name, bytes.byteLength, bytes.byteLength, false, true);
      return bytes;
    },
    async exists(name) {
      const c = await cache();
      if (c && revalidate === 'never') {
        const hit = await c.match(url(name));
        if (hit) return hit.ok;
      }
      const answer = await head(name);
      if (answer.kind === 'found') return true;
      if (!c) return false;
      // Offline: what the cache holds is what exists.
      if (answer.kind === 'offline') return (await c.match(url(name)))?.ok ?? false;
      // Absence is cached too (a loader asks for optional files), so revalidate 'never' makes no request at all.
      await c.put(url(name), new Response(null, { status: 404, headers: { 'x-hydra-missing': '1' } })).catch(() => undefined);
      return false;
    },
  };
}

async function openCache(cache: HttpSourceOptions['cache']): Promise<CacheLike | null> {
  if (cache === undefined || cache === null) return null;
  if (typeof cache !== 'string') return cache;
  const storage = (globalThis as { caches?: { open(name: string): Promise<CacheLike> } }).caches;
  // No Cache Storage (Node, an insecure origin): load without caching.
  if (!storage) return null;
  try {
    return await storage.open(cache);
  } catch {
    return null;
  }
}

function fingerprint(v: Validators, bytes: number): string {
  return [v.etag ? `etag ${v.etag}` : null, v.lastModified ? `modified ${v.lastModified}` : null, `${bytes} bytes`].filter(Boolean).join(', ');
}

/** The body, read chunk by chunk: progress per chunk, and a body over ro.maxBytes refused as soon as it passes it. */
async function readBody(res: Response, where: string, ro: ReadOptions, onChunk: (loaded: number) => void): Promise<Uint8Array> {
  const tooLarge = (n: number) =>
    new FileSourceError(`${where}: ${formatBytes(n)}${n > (ro.maxBytes ?? 0) ? ' or more' : ''}, larger than the ${formatBytes(ro.maxBytes!)} accepted for ${ro.expected ?? 'this file'}`);
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (ro.maxBytes !== undefined && declared > ro.maxBytes) throw tooLarge(declared);
  if (!res.body) {
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (ro.maxBytes !== undefined && bytes.byteLength > ro.maxBytes) throw tooLarge(bytes.byteLength);
    onChunk(bytes.byteLength);
    return bytes;
  }
  const reader = res.body.getReader();
  // Content-Length (when the body is not compressed) sizes the buffer once; otherwise it grows.
  let buf = new Uint8Array(Number.isFinite(declared) && declared > 0 && !res.headers.get('content-encoding') ? declared : 1 << 16);
  let n = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (ro.maxBytes !== undefined && n + value.byteLength > ro.maxBytes) {
        await reader.cancel();
        throw tooLarge(n + value.byteLength);
      }
      if (n + value.byteLength > buf.byteLength) {
        const bigger = new Uint8Array(Math.max(buf.byteLength * 2, n + value.byteLength));
        bigger.set(buf.subarray(0, n));
        buf = bigger;
      }
      buf.set(value, n);
      n += value.byteLength;
      onChunk(n);
    }
  } catch (e) {
    if (e instanceof FileSourceError) throw e;
    throw new FileSourceError(`cannot fetch ${where}: the body ended early: ${(e as Error).message}`, { cause: e });
  }
  return n === buf.byteLength ? buf : buf.slice(0, n);
}

/** Files and bytes over a whole load (model and heads, several sources), as one progress figure. */
export interface LoadProgress {
  /** The file the latest event is about. */
  file: string;
  filesDone: number;
  /** Files started so far (a model's shards are known only once its index is read). */
  filesSeen: number;
  loadedBytes: number;
  /** Sum of the sizes known so far. */
  totalBytes: number;
  /** Bytes served from the cache rather than downloaded. */
  cachedBytes: number;
  /** A line for a progress bar's label. */
  text: string;
}

/** A FileProgress listener that folds every file's events into one LoadProgress for `onProgress`. */
export function loadProgress(onProgress: (p: LoadProgress) => void): (p: FileProgress) => void {
  const files = new Map<string, FileProgress>();
  return (p) => {
    files.set(p.url, p);
    let loadedBytes = 0;
    let totalBytes = 0;
    let cachedBytes = 0;
    let filesDone = 0;
    for (const f of files.values()) {
      loadedBytes += f.loadedBytes;
      totalBytes += f.totalBytes ?? f.loadedBytes;
      if (f.fromCache) cachedBytes += f.loadedBytes;
      if (f.done) filesDone += 1;
    }
    const text = `${p.done ? (p.fromCache ? 'cached' : 'fetched') : p.fromCache ? 'reading' : 'fetching'} ${p.file}: ${formatBytes(loadedBytes)} of ${formatBytes(totalBytes)}, ${filesDone}/${files.size} files`;
    onProgress({ file: p.file, filesDone, filesSeen: files.size, loadedBytes, totalBytes, cachedBytes, text });
  };
}
