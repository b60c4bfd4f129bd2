import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SafetensorsError } from './errors';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, parseSafetensors, serializeSafetensors } from './safetensors';

/** A safetensors file assembled by hand (independent of serializeSafetensors). */
function handMade(header: unknown, data: Uint8Array, rawHeader?: string): Uint8Array {
  const h = new TextEncoder().encode(rawHeader ?? JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

describe('float16 / bfloat16', () => {
  it('converts known bit patterns', () => {
    expect([0x3c00, 0xc000, 0x7bff, 0x0001, 0x0400, 0x8000, 0x7c00, 0x3555].map(f16ToF32)).toEqual([
      1, -2, 65504, 2 ** -24, 2 ** -14, -0, Infinity, 0.333251953125,
    ]);
    expect(Number.isNaN(f16ToF32(0x7e00))).toBe(true);
    expect([1, -2, 65504, 2 ** -24, 2 ** -14, 1 / 3, 1e6, 65520, 2 ** -26].map(f32ToF16)).toEqual([
      0x3c00, 0xc000, 0x7bff, 0x0001, 0x0400, 0x3555, 0x7c00, 0x7c00, 0,
    ]);
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // tie rounds to even
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect([0x3f80, 0xc000, 0x4049].map(bf16ToF32)).toEqual([1, -2, 3.140625]);
    expect(f32ToBf16(Math.PI)).toBe(0x4049);
    expect(f32ToBf16(1 + 2 ** -8)).toBe(0x3f80); // tie rounds to even
  });

  it('round-trips every finite float16 exactly (property over all 63488 patterns)', () => {
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00) continue;
      const back = f32ToF16(f16ToF32(h));
      if (back !== h) throw new Error(`f16 ${h.toString(16)} came back as ${back.toString(16)}`);
    }
  });
});

describe('parseSafetensors', () => {
  it('reads a hand-made file with F32, F16, BF16, I32 and metadata', () => {
    const data = new Uint8Array(4 * 4 + 2 * 3 + 2 * 2 + 4 * 1);
    const v = new DataView(data.buffer);
    [1.5, -2, 0.25, 8].forEach((x, i) => v.setFloat32(i * 4, x, true));
    [0x3c00, 0xc000, 0x3800].forEach((x, i) => v.setUint16(16 + i * 2, x, true));
    [0x3f80, 0x4049].forEach((x, i) => v.setUint16(22 + i * 2, x, true));
    v.setInt32(26, -7, true);
    const file = handMade(
      {
        __metadata__: { format: 'pt' },
        w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] },
        h: { dtype: 'F16', shape: [3], data_offsets: [16, 22] },
        b: { dtype: 'BF16', shape: [1, 2], data_offsets: [22, 26] },
        i: { dtype: 'I32', shape: [], data_offsets: [26, 30] },
      },
      data,
    );
    const f = parseSafetensors(file, 'hand.safetensors');
    expect(f.metadata).toEqual({ format: 'pt' });
    expect(f.tensors.get('w')).toEqual({ dtype: 'F32', shape: [2, 2], data: Float32Array.from([1.5, -2, 0.25, 8]) });
    expect(Array.from(f.tensors.get('h')!.data)).toEqual([1, -2, 0.5]);
    expect(Array.from(f.tensors.get('b')!.data)).toEqual([1, 3.140625]);
    expect(f.tensors.get('i')).toEqual({ dtype: 'I32', shape: [], data: Float32Array.from([-7]) });
  });

  const tensorArb = fc.record({
    shape: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 3 }),
    dtype: fc.constantFrom('F32' as const, 'F16' as const, 'BF16' as const),
  });

  it('round-trips serializeSafetensors (property: names, shapes, dtypes, values, 8-byte aligned data)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(fc.string({ minLength: 1, maxLength: 8 }), tensorArb), { selector: (t) => t[0], maxLength: 6 }), fc.integer(), (list, seed) => {
        fc.pre(list.every(([n]) => n !== '__metadata__'));
        const tensors = new Map(
          list.map(([name, { shape, dtype }], k) => {
            const n = shape.reduce((a, b) => a * b, 1);
            return [name, { shape, dtype, data: Float32Array.from({ length: n }, (_, i) => Math.sin(seed + i * 7 + k) * 100) }];
          }),
        );
        const bytes = serializeSafetensors(tensors, { note: 'x' });
        expect(Number(new DataView(bytes.buffer).getBigUint64(0, true)) % 8).toBe(0);
        const back = parseSafetensors(bytes);
        expect(back.metadata).toEqual({ note: 'x' });
        expect([...back.tensors.keys()].sort()).toEqual([...tensors.keys()].sort());
        for (const [name, t] of tensors) {
          const r = back.tensors.get(name)!;
          expect(r.shape).toEqual(t.shape);
          expect(r.dtype).toBe(t.dtype);
          const round = t.dtype === 'F32' ? (x: number) => Math.fround(x) : t.dtype === 'F16' ? (x: number) => f16ToF32(f32ToF16(x)) : (x: number) => bf16ToF32(f32ToBf16(x));
          expect(Array.from(r.data)).toEqual(Array.from(t.data, round));
        }
      }),
      { numRuns: 200 },
    );
  });

  const okData = new Uint8Array(8);
  const ok = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  it.each<[string, Uint8Array, RegExp]>([
    ['a short file', new Uint8Array(5), /f\.st: 5 bytes, expected at least the 8-byte header length/],
    ['a header longer than the file', (() => { const b = handMade(ok, okData); new DataView(b.buffer).setBigUint64(0, 1000n, true); return b; })(), /header length 1000/],
    ['a huge header length', (() => { const b = handMade(ok, okData); new DataView(b.buffer).setBigUint64(0, 2n ** 63n, true); return b; })(), /header length/],
    ['a header that is not JSON', handMade(null, okData, '{"a": {'), /not valid UTF-8 JSON/],
    ['a header that is a JSON array', handMade([1], new Uint8Array(0)), /not a JSON object/],
    ['an unknown dtype', handMade({ a: { dtype: 'F7', shape: [2], data_offsets: [0, 8] } }, okData), /tensor "a": dtype "F7", expected one of/],
    ['a negative dim', handMade({ a: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, okData), /tensor "a": shape \[-2\]/],
    ['offsets past the data', handMade({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, okData), /tensor "a": data_offsets \[0, 16\] outside the 8-byte data section/],
    ['reversed offsets', handMade({ a: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, okData), /data_offsets \[8, 0\]/],
    ['a shape that does not fill the span', handMade({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, okData), /shape \[3\] of F32 needs 12 bytes, data_offsets span 8/],
    ['overlapping tensors', handMade({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, okData), /tensor "b": data_offsets begin at 4, expected 8/],
    ['a hole before a tensor', handMade({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, okData), /tensor "a": data_offsets begin at 4, expected 0/],
    ['trailing bytes', handMade({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, okData), /data section has 8 bytes, tensors cover 4/],
    ['non-string metadata', handMade({ __metadata__: { n: 1 }, ...ok }, okData), /__metadata__\.n is number/],
  ])('rejects %s with SafetensorsError', (_, bytes, message) => {
    expect(() => parseSafetensors(bytes, 'f.st')).toThrow(SafetensorsError);
    expect(() => parseSafetensors(bytes, 'f.st')).toThrow(message);
  });

  it('writes I64 (from Int32Array or BigInt64Array) and BOOL, little-endian, and reads them back as numbers', () => {
    const bytes = serializeSafetensors(new Map([
      ['d2t', { shape: [4], data: Int32Array.from([0, -3, 7, 2 ** 31 - 1]), dtype: 'I64' as const }],
      ['big', { shape: [2], data: BigInt64Array.from([2n ** 53n, -(2n ** 40n)]), dtype: 'I64' as const }],
      ['t2d', { shape: [5], data: Uint8Array.from([1, 0, 0, 1, 1]), dtype: 'BOOL' as const }],
      ['w', { shape: [1], data: Float32Array.from([0.5]) }],
    ]));
    // the bytes as the format defines them, read independently of parseSafetensors
    const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
    expect(header.d2t).toEqual({ dtype: 'I64', shape: [4], data_offsets: [0, 32] });
    expect(header.big).toEqual({ dtype: 'I64', shape: [2], data_offsets: [32, 48] });
    expect(header.t2d).toEqual({ dtype: 'BOOL', shape: [5], data_offsets: [48, 53] });
    const data = new DataView(bytes.buffer, 8 + headerLen);
    expect([0, 1, 2, 3].map((i) => data.getBigInt64(8 * i, true))).toEqual([0n, -3n, 7n, 2n ** 31n - 1n]);
    expect([...bytes.subarray(8 + headerLen + 48, 8 + headerLen + 53)]).toEqual([1, 0, 0, 1, 1]);
    const back = parseSafetensors(bytes);
    expect(back.tensors.get('d2t')).toEqual({ dtype: 'I64', shape: [4], data: Float32Array.from([0, -3, 7, 2 ** 31 - 1]) });
    expect([...back.tensors.get('big')!.data]).toEqual([2 ** 53, -(2 ** 40)]);
    expect(back.tensors.get('t2d')).toEqual({ dtype: 'BOOL', shape: [5], data: Float32Array.from([1, 0, 0, 1, 1]) });
  });

  it('an I64 or U64 value outside ±2^53 is a SafetensorsError naming the tensor and the value', () => {
    const i64 = new Uint8Array(16);
    new DataView(i64.buffer).setBigInt64(8, 2n ** 53n + 1n, true);
    const file = handMade({ ok: { dtype: 'I64', shape: [1], data_offsets: [0, 8] }, offsets: { dtype: 'I64', shape: [1], data_offsets: [8, 16] } }, i64);
    expect(() => parseSafetensors(file, 'f.st')).toThrow(SafetensorsError);
    expect(() => parseSafetensors(file, 'f.st')).toThrow(/f\.st: tensor "offsets"\[0\] = 9007199254740993 \(I64\): outside ±2\^53/);
    const neg = new Uint8Array(8);
    new DataView(neg.buffer).setBigInt64(0, -(2n ** 60n), true);
    expect(() => parseSafetensors(handMade({ d: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, neg), 'f.st')).toThrow(/tensor "d"\[0\] = -1152921504606846976 \(I64\)/);
    const u64 = new Uint8Array(8).fill(0xff);
    expect(() => parseSafetensors(handMade({ u: { dtype: 'U64', shape: [1], data_offsets: [0, 8] } }, u64), 'f.st')).toThrow(/tensor "u"\[0\] = 18446744073709551615 \(U64\)/);
  });

  it('refuses to write what it cannot represent', () => {
    expect(() => serializeSafetensors({ a: { shape: [3], data: new Float32Array(2) } })).toThrow(/shape \[3\] does not match 2 values/);
    expect(() => serializeSafetensors({ a: { shape: [2], data: new Float32Array(2), dtype: 'I64' } })).toThrow(/tensor "a": dtype I64 with Float32Array data, expected Int32Array or BigInt64Array for I64/);
    expect(() => serializeSafetensors({ a: { shape: [2], data: Uint8Array.from([0, 2]), dtype: 'BOOL' } })).toThrow(/tensor "a": BOOL value \[1\] = 2, expected 0 or 1/);
    expect(() => serializeSafetensors({ a: { shape: [2], data: new Int32Array(2), dtype: 'BOOL' } })).toThrow(/dtype BOOL with Int32Array data, expected Uint8Array of 0 and 1/);
    expect(() => serializeSafetensors({ a: { shape: [2], data: new Float32Array(2), dtype: 'F64' as 'F32' } })).toThrow(/cannot write dtype F64, expected F32, F16, BF16, I32, I64, BOOL/);
    expect(() => serializeSafetensors({ __metadata__: { shape: [0], data: new Float32Array(0) } })).toThrow(SafetensorsError);
  });
});
