// The safetensors format: u64 little-endian header length, a JSON header mapping tensor names to
// {dtype, shape, data_offsets}, then the raw little-endian data. Parsing is strict (every offset
// checked against the file before any tensor is read) because model files come from the network.
import { SafetensorsError } from './errors';

export type SafetensorsDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U64' | 'U32' | 'U16' | 'U8' | 'BOOL';

const ITEM_SIZE: Record<SafetensorsDType, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
};

/** Largest header accepted; the reference implementation uses the same bound. */
const MAX_HEADER_BYTES = 100_000_000;

export interface SafetensorsTensor {
  /** dtype as stored in the file; `data` is always converted to float32. */
  dtype: SafetensorsDType;
  shape: number[];
  data: Float32Array; // [product of shape]
}

export interface SafetensorsFile {
  metadata: Record<string, string>;
  tensors: Map<string, SafetensorsTensor>;
}

/** The dtypes serializeSafetensors writes. */
export type SafetensorsWriteDType = 'F32' | 'F16' | 'BF16' | 'I32' | 'I64' | 'BOOL';

/**
 * A tensor to write: float32 values stored as `dtype` (default F32), or integers: Int32Array for
 * 'I32', Int32Array or BigInt64Array for 'I64' (an EAGLE-3 draft model's d2t offsets), Uint8Array
 * of 0 / 1 for 'BOOL' (its t2d).
 */
export interface SafetensorsInput {
  shape: number[];
  data: Float32Array | Int32Array | BigInt64Array | Uint8Array;
  dtype?: SafetensorsWriteDType;
}

/** The data each written dtype takes, and its name for messages. */
const isFloats = (d: unknown) => d instanceof Float32Array;
const WRITE_DATA: Record<SafetensorsWriteDType, { is: (d: unknown) => boolean; what: string }> = {
  F32: { is: isFloats, what: 'Float32Array' },
  F16: { is: isFloats, what: 'Float32Array' },
  BF16: { is: isFloats, what: 'Float32Array' },
  I32: { is: (d) => d instanceof Int32Array, what: 'Int32Array exactly' },
  I64: { is: (d) => d instanceof Int32Array || d instanceof BigInt64Array, what: 'Int32Array or BigInt64Array' },
  BOOL: { is: (d) => d instanceof Uint8Array, what: 'Uint8Array of 0 and 1' },
};

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** float32 -> float16 bits, round to nearest even, overflow to infinity. */
export function f32ToF16(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    // Subnormal: shift the implicit-one mantissa into place, rounding to nearest even.
    const m = mant | 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = m >>> shift;
    const rest = m & ((1 << shift) - 1);
    if (rest > half || (rest === half && r & 1)) r++;
    return sign | r;
  }
  let r = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && r & 1)) r++; // may carry into the exponent, which is right
  return sign | r;
}

export function bf16ToF32(h: number): number {
  u32[0] = h << 16;
  return f32[0];
}

/** float32 -> bfloat16 bits, round to nearest even. */
export function f32ToBf16(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  if ((bits & 0x7f800000) === 0x7f800000 && bits & 0x7fffff) return (bits >>> 16) | 0x40; // keep NaN a NaN
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** A 64-bit integer as a number: exact within ±2^53 (and as float32 data within ±2^24, enough for token ids), an error naming the tensor past that. */
const LIMIT_64 = 2n ** 53n;

function exactInteger(v: bigint, name: string, i: number, dtype: SafetensorsDType): number {
  if (v > LIMIT_64 || v < -LIMIT_64) throw new SafetensorsError(`${name}[${i}] = ${v} (${dtype}): outside ±2^53, past the integers a number holds exactly`);
  return Number(v);
}

function convert(view: DataView, start: number, count: number, dtype: SafetensorsDType, name: string): Float32Array {
  const out = new Float32Array(count);
  const size = ITEM_SIZE[dtype];
  for (let i = 0, o = start; i < count; i++, o += size) {
    switch (dtype) {
      case 'F32': out[i] = view.getFloat32(o, true); break;
      case 'F64': out[i] = view.getFloat64(o, true); break;
      case 'F16': out[i] = f16ToF32(view.getUint16(o, true)); break;
      case 'BF16': out[i] = bf16ToF32(view.getUint16(o, true)); break;
      case 'I64': out[i] = exactInteger(view.getBigInt64(o, true), name, i, dtype); break;
      case 'I32': out[i] = view.getInt32(o, true); break;
      case 'I16': out[i] = view.getInt16(o, true); break;
      case 'I8': out[i] = view.getInt8(o); break;
      case 'U64': out[i] = exactInteger(view.getBigUint64(o, true), name, i, dtype); break;
      case 'U32': out[i] = view.getUint32(o, true); break;
      case 'U16': out[i] = view.getUint16(o, true); break;
      case 'U8': out[i] = view.getUint8(o); break;
      case 'BOOL': out[i] = view.getUint8(o) ? 1 : 0; break;
    }
  }
  return out;
}

interface HeaderEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  begin: number;
  end: number;
}

/** Reads and checks the JSON header; returns the entries sorted by offset and where data starts. */
function parseHeader(bytes: Uint8Array, name: string): { metadata: Record<string, string>; entries: HeaderEntry[]; dataStart: number } {
  const fail = (msg: string): never => {
    throw new SafetensorsError(`${name}: ${msg}`);
  };
  if (bytes.byteLength < 8) fail(`${bytes.byteLength} bytes, expected at least the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen < 2 || headerLen > MAX_HEADER_BYTES || headerLen > bytes.byteLength - 8) {
    fail(`header length ${headerLen}, expected at least 2 and at most ${Math.min(MAX_HEADER_BYTES, bytes.byteLength - 8)} (file has ${bytes.byteLength} bytes)`);
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)));
  } catch (e) {
    fail(`header is not valid UTF-8 JSON: ${(e as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
  const dataStart = 8 + headerLen;
  const dataLen = bytes.byteLength - dataStart;
  const metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [key, value] of Object.entries(header as Record<string, unknown>)) {
    if (key === '__metadata__') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('__metadata__ is not an object of strings');
      for (const [mk, mv] of Object.entries(value as Record<string, unknown>)) {
        if (typeof mv !== 'string') fail(`__metadata__.${mk} is ${typeof mv}, expected a string`);
        metadata[mk] = mv as string;
      }
      continue;
    }
    const where = `tensor ${JSON.stringify(key)}`;
    if (typeof value !== 'object' || value === null) fail(`${where}: entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
    if (typeof dtype !== 'string' || !(dtype in ITEM_SIZE)) {
      fail(`${where}: dtype ${JSON.stringify(dtype)}, expected one of ${Object.keys(ITEM_SIZE).join(', ')}`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`${where}: shape ${JSON.stringify(shape)}, expected an array of non-negative integers`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`${where}: data_offsets ${JSON.stringify(offsets)}, expected [begin, end] non-negative integers`);
    }
    const [begin, end] = offsets as number[];
    if (begin > end || end > dataLen) fail(`${where}: data_offsets [${begin}, ${end}] outside the ${dataLen}-byte data section`);
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    const size = ITEM_SIZE[dtype as SafetensorsDType];
    if (count * size !== end - begin) {
      fail(`${where}: shape [${(shape as number[]).join(', ')}] of ${dtype} needs ${count * size} bytes, data_offsets span ${end - begin}`);
    }
    entries.push({ name: key, dtype: dtype as SafetensorsDType, shape: shape as number[], begin, end });
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  // Tensors must tile the data section exactly: no overlaps, no holes, nothing trailing.
  let expected = 0;
  for (const e of entries) {
    if (e.begin !== expected) {
      fail(`tensor ${JSON.stringify(e.name)}: data_offsets begin at ${e.begin}, expected ${expected} (tensors must be contiguous and non-overlapping)`);
    }
    expected = e.end;
  }
  if (expected !== dataLen) fail(`data section has ${dataLen} bytes, tensors cover ${expected}`);
  return { metadata, entries, dataStart };
}

/** Parses a whole safetensors file, converting every tensor to float32. `name` is used in errors. */
export function parseSafetensors(bytes: Uint8Array, name = 'safetensors'): SafetensorsFile {
  const { metadata, entries, dataStart } = parseHeader(bytes, name);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const e of entries) {
    const count = (e.end - e.begin) / ITEM_SIZE[e.dtype];
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: convert(view, dataStart + e.begin, count, e.dtype, `${name}: tensor ${JSON.stringify(e.name)}`) });
  }
  return { metadata, tensors };
}

/** Writes tensors (in iteration order) and string metadata as a safetensors file. */
export function serializeSafetensors(
  tensors: Map<string, SafetensorsInput> | Record<string, SafetensorsInput>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const list = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of list) {
    if (name === '__metadata__') throw new SafetensorsError('tensor name "__metadata__" is reserved');
    const dtype = t.dtype ?? 'F32';
    if (!Object.hasOwn(WRITE_DATA, dtype)) {
      throw new SafetensorsError(`tensor ${JSON.stringify(name)}: cannot write dtype ${dtype}, expected ${Object.keys(WRITE_DATA).join(', ')}`);
    }
    const want = WRITE_DATA[dtype];
    if (!want.is(t.data)) {
      throw new SafetensorsError(`tensor ${JSON.stringify(name)}: dtype ${dtype} with ${t.data?.constructor?.name ?? typeof t.data} data, expected ${want.what} for ${dtype}`);
    }
    if (dtype === 'BOOL') {
      const bad = (t.data as Uint8Array).findIndex((b) => b > 1);
      if (bad >= 0) throw new SafetensorsError(`tensor ${JSON.stringify(name)}: BOOL value [${bad}] = ${t.data[bad]}, expected 0 or 1`);
    }
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0) || count !== t.data.length) {
      throw new SafetensorsError(`tensor ${JSON.stringify(name)}: shape [${t.shape.join(', ')}] does not match ${t.data.length} values`);
    }
    const bytes = count * ITEM_SIZE[dtype];
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  // Pad with spaces so the data section starts 8-byte aligned.
  const encoded = new TextEncoder().encode(json);
  const pad = (8 - (encoded.length % 8)) % 8;
  json += ' '.repeat(pad);
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let o = 8 + head.length;
  for (const [, t] of list) {
    const dtype = t.dtype ?? 'F32';
    if (dtype === 'I64') {
      const d = t.data as Int32Array | BigInt64Array;
      for (let i = 0; i < d.length; i++, o += 8) view.setBigInt64(o, BigInt(d[i]), true);
      continue;
    }
    const d = t.data as Float32Array | Int32Array | Uint8Array;
    for (let i = 0; i < d.length; i++) {
      if (dtype === 'F32') { view.setFloat32(o, d[i], true); o += 4; }
      else if (dtype === 'I32') { view.setInt32(o, d[i], true); o += 4; }
      else if (dtype === 'BOOL') { view.setUint8(o, d[i]); o += 1; }
      else if (dtype === 'F16') { view.setUint16(o, f32ToF16(d[i]), true); o += 2; }
      else { view.setUint16(o, f32ToBf16(d[i]), true); o += 2; }
    }
  }
  return out;
}
