import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { getDevice, writeRows, type Device } from '@hydra-ts/tensor';
import { CacheError, KVCache } from './cache';

let device: Device;
beforeAll(async () => {
  device = await getDevice();
});

const W = 3; // kvDim
const LAYERS = 2;

/** Row r of layer l holds values identifying the token that wrote it. */
const rowOf = (token: number, l: number, kind: 0 | 1) => [token, l, kind].map((v, i) => v * 10 + i);

type Op = { kind: 'append'; tokens: number[]; keep: number[] | null } | { kind: 'rollback'; to: number };

describe('KVCache', () => {
  it('commit/rollback keep exactly the rows a CPU list model keeps (property)', async () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('append' as const),
        tokens: fc.array(fc.integer({ min: 0, max: 999 }), { minLength: 1, maxLength: 5 }),
        keep: fc.option(fc.array(fc.nat(4), { maxLength: 5 }), { nil: null }),
      }),
      fc.record({ kind: fc.constant('rollback' as const), to: fc.nat(20) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 8 }), async (ops: Op[]) => {
        const cache = new KVCache(device, { nLayers: LAYERS, kvDim: W, capacity: 24 });
        let model: number[] = []; // committed tokens
        for (const o of ops) {
          if (o.kind === 'rollback') {
            const to = Math.min(o.to, model.length);
            cache.rollback(to);
            model = model.slice(0, to);
            continue;
          }
          if (model.length + o.tokens.length > cache.capacity) continue;
          const start = cache.length;
          cache.layers.forEach((layer, l) => {
            for (const [dst, kind] of [[layer.k, 0], [layer.v, 1]] as const) {
              const rows = device.tensor(o.tokens.flatMap((t) => rowOf(t, l, kind)), [o.tokens.length, W]); // [n, W]
              writeRows(dst, rows, start);
              rows.dispose();
            }
          });
          cache.append(o.tokens.length);
          // Distinct pending-row indices, in the order given.
          const keep = o.keep === null ? null : [...new Set(o.keep.filter((r) => r < o.tokens.length))];
          cache.commit(keep ?? undefined);
          model.push(...(keep ?? o.tokens.map((_, i) => i)).map((i) => o.tokens[i]));
        }
        expect(cache.length).toBe(model.length);
        for (let l = 0; l < LAYERS; l++) {
          const k = (await cache.layers[l].k.read()).slice(0, model.length * W);
          const v = (await cache.layers[l].v.read()).slice(0, model.length * W);
          expect(Array.from(k)).toEqual(model.flatMap((t) => rowOf(t, l, 0)));
          expect(Array.from(v)).toEqual(model.flatMap((t) => rowOf(t, l, 1)));
        }
        cache.dispose();
      }),
      { numRuns: 25 },
    );
  });

  it('bad use -> CacheError naming the problem', () => {
    expect(() => new KVCache(device, { nLayers: 0, kvDim: 4, capacity: 8 })).toThrow(CacheError);
    const cache = new KVCache(device, { nLayers: 1, kvDim: 4, capacity: 8 });
    expect(() => cache.append(9)).toThrow(/exceed the cache capacity 8/);
    cache.append(3);
    expect(() => cache.commit([1, 3])).toThrow(/rows\[1\] = 3, expected an index among the 3 pending rows/);
    expect(() => cache.commit([2, 2])).toThrow(/listed twice/);
    expect(cache.pending).toBe(3);
    cache.commit([]);
    expect(cache.length).toBe(0);
    expect(cache.pending).toBe(0);
    expect(() => cache.rollback(1)).toThrow(/expected an integer in \[0, 0\]/);
    cache.dispose();
    expect(() => cache.append(1)).toThrow(/disposed/);
  });
});
