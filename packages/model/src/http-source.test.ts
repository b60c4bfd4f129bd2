// httpFileSource against a real HTTP server on loopback: a Hugging Face layout (the bundled
// model converted, weights in two shards with their index) fetched with progress, then read
// again from a cache: no body downloaded while the files are unchanged, a changed file fetched
// again, the cached copy used when the server is gone.
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertLlama2cToHf } from './convert';
import { FileSourceError } from './errors';
import { httpFileSource, loadProgress, type CacheLike, type FileProgress, type LoadProgress } from './http-source';
import { loadModelFiles } from './load';
import { parseSafetensors, serializeSafetensors } from './safetensors';
import { STORIES_DIR } from './testdata';

/** A Cache Storage stand-in over a Map, keeping Response objects as the browser's cache does. */
function mapCache(): CacheLike & { entries: Map<string, Response> } {
  const entries = new Map<string, Response>();
  return {
    entries,
    async match(url) {
      return entries.get(url)?.clone();
    },
    async put(url, res) {
      entries.set(url, res);
    },
    async delete(url) {
      return entries.delete(url);
    },
  };
}

/** The converted model with its weights split in two shards and an index, as large HF repositories are. */
async function shardedHfFiles(): Promise<Map<string, Uint8Array>> {
  const m = await loadModelFiles(STORIES_DIR, { checkpoint: 'stories260K.bin', tokenizer: 'tok512.bin' });
  const files = convertLlama2cToHf(m.config, m.weights, m.tokenizer as never);
  const all = parseSafetensors(files.get('model.safetensors')!, 'model.safetensors').tensors;
  files.delete('model.safetensors');
  const names = [...all.keys()];
  const shards = [names.slice(0, names.length / 2), names.slice(names.length / 2)];
  const weightMap: Record<string, string> = {};
  shards.forEach((part, i) => {
    const file = `model-0000${i + 1}-of-00002.safetensors`;
    files.set(file, serializeSafetensors(new Map(part.map((n) => [n, { shape: all.get(n)!.shape, data: all.get(n)!.data as Float32Array }]))));
    for (const n of part) weightMap[n] = file;
  });
  files.set('model.safetensors.index.json', new TextEncoder().encode(JSON.stringify({ metadata: {}, weight_map: weightMap })));
  return files;
}

describe('httpFileSource over HTTP, with a cache', () => {
  let files: Map<string, Uint8Array>;
  let server: Server;
  let base = '';
  const requests: string[] = [];
  /** Serves `files` with ETags (their content hash); /endless/ streams without end. */
  beforeAll(async () => {
    files = await shardedHfFiles();
    server = createServer((req, res) => {
      const name = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname.slice(1));
      requests.push(`${req.method} ${name}`);
      if (name === 'endless.bin') {
        res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
        const chunk = Buffer.alloc(1 << 16);
        const more = () => {
          while (!res.destroyed && res.write(chunk));
          if (!res.destroyed) res.once('drain', more);
        };
        more();
        return;
      }
      const body = files.get(name);
      if (!body) return void res.writeHead(404).end();
      const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 16)}"`;
      res.writeHead(200, { 'Content-Length': body.byteLength, ETag: etag, 'Content-Type': 'application/octet-stream' });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const gets = () => requests.filter((r) => r.startsWith('GET '));

  it('loads a sharded Hugging Face layout by URL, reporting bytes and files as they arrive', async () => {
    requests.length = 0;
    const events: FileProgress[] = [];
    const totals: LoadProgress[] = [];
    const fold = loadProgress((p) => totals.push(p));
    const src = httpFileSource(base, { cache: mapCache(), onProgress: (p) => (events.push(p), fold(p)) });
    const m = await loadModelFiles(src);
    const local = await loadModelFiles(STORIES_DIR, { checkpoint: 'stories260K.bin', tokenizer: 'tok512.bin' });
    expect(m.format).toBe('hf');
    expect(m.config.dim).toBe(local.config.dim);
    expect(m.weights.finalNorm).toEqual(local.weights.finalNorm);
    expect(m.tokenizer.encode('Once upon a time')).toEqual(local.tokenizer.encode('Once upon a time'));
    // Every file read once, in full; per file the bytes only grow and the last event is 'done'.
    const read = [...new Set(events.map((e) => e.file))];
    expect(gets().map((r) => r.slice(4)).sort()).toEqual([...read].sort());
    expect(read).toEqual(expect.arrayContaining(['config.json', 'model.safetensors.index.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'tokenizer.json']));
    for (const f of read) {
      const mine = events.filter((e) => e.file === f);
      for (let i = 1; i < mine.length; i++) expect(mine[i].loadedBytes).toBeGreaterThanOrEqual(mine[i - 1].loadedBytes);
      expect(mine.at(-1)).toMatchObject({ done: true, fromCache: false, loadedBytes: files.get(f)!.byteLength, totalBytes: files.get(f)!.byteLength });
      expect(mine.slice(0, -1).every((e) => !e.done)).toBe(true);
    }
    const last = totals.at(-1)!;
    const size = read.reduce((s, f) => s + files.get(f)!.byteLength, 0);
    expect(last).toMatchObject({ filesDone: read.length, filesSeen: read.length, loadedBytes: size, totalBytes: size, cachedBytes: 0 });
    expect(last.text).toMatch(/files$/);
    expect(src.fingerprints.get('config.json')).toMatch(/^etag "[0-9a-f]{16}", \d+ bytes$/);
  });

  it('reads unchanged files from the cache: headers only, no body downloaded; none at all with revalidate never', async () => {
    const cache = mapCache();
    await loadModelFiles(httpFileSource(base, { cache }));
    requests.length = 0;
    const events: FileProgress[] = [];
    const again = await loadModelFiles(httpFileSource(base, { cache, onProgress: (p) => events.push(p) }));
    expect(again.config.dim).toBe(64);
    expect(gets()).toEqual([]);
    expect(requests.every((r) => r.startsWith('HEAD '))).toBe(true);
    expect(events.filter((e) => e.done).every((e) => e.fromCache)).toBe(true);
    requests.length = 0;
    await loadModelFiles(httpFileSource(base, { cache, revalidate: 'never' }));
    expect(requests).toEqual([]);
  });

  it('fetches a changed file again and keeps the new version', async () => {
    const cache = mapCache();
    await loadModelFiles(httpFileSource(base, { cache }));
    const shard = 'model-00002-of-00002.safetensors';
    const before = files.get(shard)!;
    const t = parseSafetensors(before, shard).tensors;
    const norm = t.get('model.norm.weight')!;
    const changed = new Map([...t].map(([n, x]) => [n, { shape: x.shape, data: n === 'model.norm.weight' ? (norm.data as Float32Array).map((v) => v * 2) : (x.data as Float32Array) }]));
    files.set(shard, serializeSafetensors(changed));
    try {
      requests.length = 0;
      const m = await loadModelFiles(httpFileSource(base, { cache }));
      expect(gets()).toEqual([`GET ${shard}`]);
      expect(m.weights.finalNorm[0]).toBeCloseTo((norm.data as Float32Array)[0] * 2, 6);
      requests.length = 0;
      await loadModelFiles(httpFileSource(base, { cache }));
      expect(gets()).toEqual([]);
    } finally {
      files.set(shard, before);
    }
  });

  it('uses the cached copy when the server cannot be reached, and says what is missing when nothing is cached', async () => {
    const cache = mapCache();
    const down = (async () => {
      throw new TypeError('network down');
    }) as unknown as typeof fetch;
    await loadModelFiles(httpFileSource(base, { cache }));
    const offline = await loadModelFiles(httpFileSource(base, { cache, fetch: down }));
    expect(offline.config.dim).toBe(64);
    await expect(loadModelFiles(httpFileSource(base, { cache: mapCache(), fetch: down }))).rejects.toThrow(/config\.json: not found/);
  });

  it('refuses a body past the reader limit while it streams, without buffering it all', async () => {
    const src = httpFileSource(base, { cache: mapCache() });
    const err = await src.read('endless.bin', { maxBytes: 4 << 20, expected: 'a test file' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileSourceError);
    expect((err as Error).message).toMatch(/endless\.bin: 4\.\d MiB or more, larger than the 4\.0 MiB accepted for a test file/);
    await expect(src.read('nope.bin')).rejects.toThrow(/cannot fetch http:\/\/127\.0\.0\.1:\d+\/nope\.bin: HTTP 404/);
  });
});
