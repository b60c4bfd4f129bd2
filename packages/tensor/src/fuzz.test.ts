import { describe, expect, it } from 'vitest';
import { HydraError } from './errors';
import { AllocationLimitError, FuzzTally, fuzzRng, mutateBytes, mutateJsonText, withAllocationLimit } from './fuzz';

describe('fuzz harness', () => {
  it('withAllocationLimit stops an allocation past the bound before it happens, and restores the constructors', async () => {
    const Original = Float32Array;
    await expect(withAllocationLimit(1000, () => new Float32Array(251))).rejects.toThrow(AllocationLimitError);
    const { allocated } = await withAllocationLimit(1000, () => {
      const a = new Float32Array(100); // 400 bytes
      const b = Int32Array.from([1, 2, 3]); // 12
      const c = new Uint8Array(a.buffer); // a view: nothing new
      return a instanceof Float32Array && b.length + c.length;
    });
    expect(allocated).toBe(412);
    await expect(withAllocationLimit(1 << 20, () => new ArrayBuffer(2 << 20))).rejects.toThrow(/past the limit/);
    expect(globalThis.Float32Array).toBe(Original);
  });

  it('FuzzTally counts typed errors that name the file and fails on anything else', async () => {
    const t = new FuzzTally('demo');
    expect(await t.run('a', { inputBytes: 10, file: 'f.bin' }, () => 1)).toBe('ok');
    expect(await t.run('b', { inputBytes: 10, file: 'f.bin' }, () => { throw new HydraError('f.bin: bad'); })).toBe('typed');
    await expect(t.run('c', { inputBytes: 10, file: 'f.bin' }, () => { throw new HydraError('bad, somewhere'); })).rejects.toThrow(/does not name the file f\.bin/);
    await expect(t.run('d', { inputBytes: 10, file: 'f.bin' }, () => { throw new TypeError('x is undefined'); })).rejects.toThrow(/untyped error: TypeError/);
    await expect(t.run('e', { inputBytes: 10, file: 'f.bin' }, () => new Float64Array(1 << 20))).rejects.toThrow(/allocation past the bound/);
    await expect(t.run('f', { inputBytes: 10, file: 'f.bin', maxMs: 5 }, () => new Promise((r) => setTimeout(r, 30)))).rejects.toThrow(/past the 5 ms allowed a case/);
    expect(t.counts).toEqual({ ok: 1, typed: 1 });
    expect(t.summary()).toMatch(/^fuzz demo: 2 cases: ok 1, typed error 1 \(HydraError 1\)/);
  });

  it('mutations are reproducible from the seed and change their input', () => {
    const bytes = Uint8Array.from({ length: 64 }, (_, i) => i);
    const a = mutateBytes(bytes, fuzzRng(7), 16);
    expect(mutateBytes(bytes, fuzzRng(7), 16)).toEqual(a);
    let changed = 0;
    const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);
    for (let s = 1; s <= 50; s++) if (!same(mutateBytes(bytes, fuzzRng(s), 16), bytes)) changed++;
    expect(changed).toBeGreaterThan(45);
    const text = '{"a": [1, 2, 3], "b": "x"}';
    expect(mutateJsonText(text, fuzzRng(3))).toBe(mutateJsonText(text, fuzzRng(3)));
  });
});
