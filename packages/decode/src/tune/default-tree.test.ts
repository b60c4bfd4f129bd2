import { describe, expect, it } from 'vitest';
import type { LlamaModel } from '@hydra-ts/model';
import type { DraftHead } from '@hydra-ts/heads';
import { chain, rootOnly } from '@hydra-ts/tree';
import { defaultTreeFor, sha256Hex, treeKey, treeKeyParts } from './default-tree';
import { cacheStorageTreeStore, memoryTreeStore, webStorageTreeStore } from './tree-store';
import type { TunedTree, TuneOptions } from './tune-tree';

// The cache logic needs only what the key is made of: the device's description and settings,
// the model's config, format and dtype, and the head's name and depth. No GPU work happens here.
function fakeModel(description = 'llvmpipe (LLVM 15.0.6, 256 bits)', dtype = 'f32'): LlamaModel {
  const device = {
    adapter: { vendor: 'mesa', architecture: '', device: '', description, platform: 'node (Dawn)' },
    hasF16: true,
    subgroups: { minSize: 8, maxSize: 8 },
    flushEvery: 8,
  };
  return { device, dtype, format: 'llama2c', config: { dim: 64, vocabSize: 512, maxSeqLen: 512 } } as unknown as LlamaModel;
}
const head = { name: 'hydra++', depth: 4, sequential: true } as unknown as DraftHead;

/** A tuner that returns `tree` (AR when null) and counts its calls. */
function fakeTuner(tree: ReturnType<typeof chain> | null) {
  const calls: TuneOptions[] = [];
  const tuner = async (_m: LlamaModel, _h: DraftHead, opts: TuneOptions): Promise<TunedTree> => {
    calls.push(opts);
    opts.onProgress?.({ phase: 'forward', done: 0, total: 4, message: 'forward cost by rows' });
    const t = tree ?? rootOnly();
    const expected = { nodes: t.size - 1, depth: t.depth, expectedAcceptLength: 2, stepMs: [1], tokensPerSecond: [2000], speedup: [1.5], score: 1.5 };
    return { tree: t, ar: tree === null, expected, checked: [], cost: { forward: [{ context: 16, rows: [1], ms: [1] }], headMs: [], overheadMs: 0 }, acceptProb: [[0.5]], curve: [expected], calibration: null, elapsedMs: 12 };
  };
  return { tuner, calls };
}

describe('defaultTreeFor', () => {
  it('tunes on a miss, stores the tree, and reads it back on the next call without tuning', async () => {
    const store = memoryTreeStore();
    const { tuner, calls } = fakeTuner(chain(3));
    const lines: string[] = [];
    const first = await defaultTreeFor(fakeModel(), head, { store, tuner, onProgress: (l) => lines.push(l) });
    expect(first.cached).toBe(false);
    expect(first.ar).toBe(false);
    expect(first.tree.toJSON().paths).toEqual([[0], [0, 0], [0, 0, 0]]);
    expect(calls).toHaveLength(1);
    expect(calls[0].budgetMs).toBe(5000); // the default bound on first use
    expect(store.entries.size).toBe(1);
    expect(lines[0]).toMatch(/tuning the tree for this device \[0\/4\] forward cost by rows/);
    expect(lines.at(-1)).toMatch(/tuned in 0\.0 s: 3 nodes, depth 3; kept in memory/);

    lines.length = 0;
    const again = await defaultTreeFor(fakeModel(), head, { store, tuner, onProgress: (l) => lines.push(l) });
    expect(again.cached).toBe(true);
    expect(again.key).toBe(first.key);
    expect(again.tree.toJSON()).toEqual(first.tree.toJSON());
    expect(calls).toHaveLength(1);
    expect(lines).toEqual([]);
  });

  it('keeps an AR decision as the root alone', async () => {
    const store = memoryTreeStore();
    const { tuner } = fakeTuner(null);
    await defaultTreeFor(fakeModel(), head, { store, tuner });
    const hit = await defaultTreeFor(fakeModel(), head, { store, tuner });
    expect(hit.cached).toBe(true);
    expect(hit.ar).toBe(true);
    expect(hit.tree.size).toBe(1);
  });

  it('tunes afresh when the device, driver threads, dtype, model files or heads file change', async () => {
    const store = memoryTreeStore();
    const { tuner, calls } = fakeTuner(chain(2));
    const base = await defaultTreeFor(fakeModel(), head, { store, tuner, modelId: 'stories260K.bin 1185376 sha:ab', headId: 'hydra-pp.safetensors sha:01' });
    const variants = [
      () => defaultTreeFor(fakeModel('NVIDIA H100'), head, { store, tuner, modelId: 'stories260K.bin 1185376 sha:ab', headId: 'hydra-pp.safetensors sha:01' }),
      () => defaultTreeFor(fakeModel(undefined, 'f16'), head, { store, tuner, modelId: 'stories260K.bin 1185376 sha:ab', headId: 'hydra-pp.safetensors sha:01' }),
      () => defaultTreeFor(fakeModel(), head, { store, tuner, modelId: 'stories260K.bin 1185376 sha:cd', headId: 'hydra-pp.safetensors sha:01' }),
      () => defaultTreeFor(fakeModel(), head, { store, tuner, modelId: 'stories260K.bin 1185376 sha:ab', headId: 'hydra-pp.safetensors sha:02' }),
    ];
    const keys = new Set([base.key]);
    for (const v of variants) {
      const r = await v();
      expect(r.cached).toBe(false);
      keys.add(r.key);
    }
    expect(calls).toHaveLength(5);
    expect(keys.size).toBe(5);
    const before = process.env.LP_NUM_THREADS;
    process.env.LP_NUM_THREADS = before === '3' ? '4' : '3';
    try {
      const threads = await defaultTreeFor(fakeModel(), head, { store, tuner, modelId: 'stories260K.bin 1185376 sha:ab', headId: 'hydra-pp.safetensors sha:01' });
      expect(threads.cached).toBe(false);
      expect(threads.key).not.toBe(base.key);
    } finally {
      if (before === undefined) delete process.env.LP_NUM_THREADS;
      else process.env.LP_NUM_THREADS = before;
    }
    // And the first entry is still there for the first configuration.
    const back = await defaultTreeFor(fakeModel(), head, { store, tuner, modelId: 'stories260K.bin 1185376 sha:ab', headId: 'hydra-pp.safetensors sha:01' });
    expect(back.cached).toBe(true);
  });

  it('tunes afresh over a damaged, foreign or retune-requested entry', async () => {
    const store = memoryTreeStore();
    const { tuner, calls } = fakeTuner(chain(2));
    const first = await defaultTreeFor(fakeModel(), head, { store, tuner });
    store.entries.set(first.key, '{"format": "hydra-ts-tuned-tree", "key": "'); // cut short
    expect((await defaultTreeFor(fakeModel(), head, { store, tuner })).cached).toBe(false);
    // An entry under this key whose parts differ (another version of the tuner wrote it).
    const rec = JSON.parse(store.entries.get(first.key)!);
    store.entries.set(first.key, JSON.stringify({ ...rec, parts: { ...rec.parts, version: 0 } }));
    expect((await defaultTreeFor(fakeModel(), head, { store, tuner })).cached).toBe(false);
    // A tree no longer valid as a tree file.
    store.entries.set(first.key, JSON.stringify({ ...rec, tree: { name: 'x', paths: [[0, 0]] } }));
    expect((await defaultTreeFor(fakeModel(), head, { store, tuner })).cached).toBe(false);
    expect((await defaultTreeFor(fakeModel(), head, { store, tuner, retune: true })).cached).toBe(false);
    expect(calls).toHaveLength(5);
    expect((await defaultTreeFor(fakeModel(), head, { store, tuner })).cached).toBe(true);
  });

  it('keys by a hash of the parts, independent of key order', async () => {
    const parts = treeKeyParts(fakeModel(), head, { modelId: 'm', headId: 'h' });
    const reordered = { head: parts.head, dtype: parts.dtype, model: parts.model, device: Object.fromEntries(Object.entries(parts.device).reverse()), version: parts.version };
    expect(await treeKey(reordered)).toBe(await treeKey(parts));
    expect(await treeKey(parts)).toMatch(/^[0-9a-f]{32}$/);
    // SHA-256 of "abc" (FIPS 180-2 appendix B.1).
    expect(await sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('stores through Web Storage under a prefix', async () => {
    const items = new Map<string, string>();
    const storage = { getItem: (k: string) => items.get(k) ?? null, setItem: (k: string, v: string) => void items.set(k, v) };
    const { tuner, calls } = fakeTuner(chain(1));
    const r = await defaultTreeFor(fakeModel(), head, { store: webStorageTreeStore(storage), tuner });
    expect([...items.keys()]).toEqual([`hydra-ts/trees/${r.key}`]);
    expect((await defaultTreeFor(fakeModel(), head, { store: webStorageTreeStore(storage), tuner })).cached).toBe(true);
    expect(calls).toHaveLength(1);
  });

  it('stores through Cache Storage (a worker has no localStorage); a refusing cache means tuning again', async () => {
    const entries = new Map<string, Response>();
    const cache = { match: async (u: string) => entries.get(u)?.clone(), put: async (u: string, r: Response) => void entries.set(u, r) };
    const { tuner, calls } = fakeTuner(chain(1));
    const r = await defaultTreeFor(fakeModel(), head, { store: cacheStorageTreeStore(Promise.resolve(cache)), tuner });
    expect([...entries.keys()]).toEqual([`https://hydra-ts.invalid/trees/${r.key}`]);
    const again = await defaultTreeFor(fakeModel(), head, { store: cacheStorageTreeStore(cache), tuner });
    expect(again.cached).toBe(true);
    expect(again.tree.toJSON()).toEqual(r.tree.toJSON());
    expect(calls).toHaveLength(1);
    const refusing = cacheStorageTreeStore(Promise.reject(new DOMException('opaque origin', 'SecurityError')));
    expect((await defaultTreeFor(fakeModel(), head, { store: refusing, tuner })).cached).toBe(false);
    expect(calls).toHaveLength(2);
  });
});
