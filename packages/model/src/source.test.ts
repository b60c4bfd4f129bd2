import { describe, expect, it } from 'vitest';
import { FileSourceError } from './errors';
import { loadModelFiles } from './load';
import { httpFileSource } from './http-source';
import { nodeFileSource } from './source';
import { STORIES_DIR } from './testdata';

describe('file sources', () => {
  it('nodeFileSource reads, checks existence and names paths', async () => {
    const src = nodeFileSource(STORIES_DIR);
    expect(await src.exists('tok512.bin')).toBe(true);
    expect(await src.exists('nope.bin')).toBe(false);
    expect((await src.read('tok512.bin')).length).toBe(6227);
    expect(src.describe('tok512.bin')).toBe(`${STORIES_DIR}/tok512.bin`);
    await expect(src.read('nope.bin')).rejects.toThrow(FileSourceError);
  });

  it('httpFileSource loads a model through fetch, reporting HTTP failures', async () => {
    const disk = nodeFileSource(STORIES_DIR);
    const requests: string[] = [];
    const fakeFetch = (async (url: string, init?: RequestInit) => {
      requests.push(`${init?.method ?? 'GET'} ${url}`);
      const name = url.replace('https://example.test/m/', '');
      if (!(await disk.exists(name))) return new Response(null, { status: 404 });
      return new Response(init?.method === 'HEAD' ? null : new Blob([(await disk.read(name)).slice()]));
    }) as typeof fetch;
    const src = httpFileSource('https://example.test/m', fakeFetch);
    const m = await loadModelFiles(src, { checkpoint: 'stories260K.bin', tokenizer: 'tok512.bin' });
    expect(m.config.dim).toBe(64);
    expect(requests).toEqual(['GET https://example.test/m/stories260K.bin', 'GET https://example.test/m/tok512.bin']);
    expect(await src.exists('config.json')).toBe(false);
    await expect(src.read('config.json')).rejects.toThrow(/cannot fetch https:\/\/example\.test\/m\/config\.json: HTTP 404/);
    const down = httpFileSource('https://example.test/m/', (async () => { throw new TypeError('network down'); }) as never);
    await expect(down.read('a')).rejects.toThrow(/cannot fetch https:\/\/example\.test\/m\/a: network down/);
    expect(await down.exists('a')).toBe(false);
  });
});
