import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultTreeCacheDir, fileTreeStore } from './store-node';

describe('fileTreeStore', () => {
  it('reads null for a missing entry, then what was written, as <key>.json in its directory', async () => {
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'hydra-trees-')), 'nested', 'trees');
    const store = fileTreeStore(dir);
    expect(store.where).toBe(dir);
    expect(await store.get('abc123')).toBeNull();
    await store.set('abc123', '{"x":1}\n');
    expect(await store.get('abc123')).toBe('{"x":1}\n');
    expect(readdirSync(dir)).toEqual(['abc123.json']);
    expect(readFileSync(path.join(dir, 'abc123.json'), 'utf8')).toBe('{"x":1}\n');
  });

  it('defaults to $HYDRA_CACHE_DIR/trees', () => {
    const before = process.env.HYDRA_CACHE_DIR;
    process.env.HYDRA_CACHE_DIR = '/tmp/hydra-cache-test';
    try {
      expect(defaultTreeCacheDir()).toBe('/tmp/hydra-cache-test/trees');
    } finally {
      if (before === undefined) delete process.env.HYDRA_CACHE_DIR;
      else process.env.HYDRA_CACHE_DIR = before;
    }
  });
});
