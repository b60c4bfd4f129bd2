// Embedding lookup: gathers rows of a [vocab, dim] table (f32, or f16 weights) by token id.
// One thread per output element. Host ids are checked on the CPU; ids already on the GPU are
// checked in the kernel, which writes zeros for a bad id and sets the device's index-error flag,
// so the next read-back throws an IndexError naming this op. A table past
// maxStorageBufferBindingSize (Qwen3's or Llama 3's vocabularies at f32) is bound a slice of rows at a
// time, one dispatch each; every dispatch writes the rows whose ids fall in its slice.

import { IndexError, ShapeError } from '../errors';
import { checkDType, checkLive, checkRank, enableF16, FLAT_WORKGROUP, grid, kernel, params, rowChunks, wgslFloat } from '../kernel';
import { dtypeBytes, Tensor, type DType } from '../tensor';

const WG = 256;
const OP = 'embedding';

function embeddingKernel(dtype: DType, bit: number) {
  return kernel(`embedding-${dtype}-${bit}`, ['read', 'read', 'read_write', 'read_write'], () => `${enableF16(dtype)}
// Rows first .. first + count − 1 of the table are bound; the first slice also flags bad ids.
struct Params { total: u32, dim: u32, vocab: u32, first: u32, count: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> table: array<${wgslFloat(dtype)}>;
@group(1) @binding(2) var<storage, read> ids: array<i32>;
@group(1) @binding(3) var<storage, read_write> out: array<f32>;
@group(1) @binding(4) var<storage, read_write> err: atomic<u32>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (${FLAT_WORKGROUP}) * ${WG}u + lid;
  if (i >= p.total) { return; }
  let row = i / p.dim;
  let col = i % p.dim;
  let id = ids[row];
  if (id < 0 || u32(id) >= p.vocab) {
    if (p.first == 0u) {
      if (col == 0u) { atomicOr(&err, ${(1 << bit) >>> 0}u); }
      out[i] = 0.0;
    }
    return;
  }
  let r = u32(id) - p.first;
  if (u32(id) < p.first || r >= p.count) { return; }
  out[i] = f32(table[r * p.dim + col]);
}`);
}

/**
 * Rows of `table` ([vocab, dim], f32 or f16) for each id: returns a new f32 tensor [n, dim] the
 * caller owns. `ids` is an i32 tensor [n] or a host array; a host id outside [0, vocab) throws an
 * IndexError here, a GPU id outside it yields a zero row and an IndexError at the next read-back.
 */
export function embedding(table: Tensor, ids: Tensor | ArrayLike<number>, opts: { maxBindingBytes?: number } = {}): Tensor<'f32'> {
  const idTensor = ids instanceof Tensor ? ids : null;
  const device = idTensor ? checkLive(OP, table, idTensor) : checkLive(OP, table);
  checkDType(OP, 'table', table, 'f32', 'f16');
  checkRank(OP, 'table', table, 2);
  const [vocab, dim] = table.shape;
  let n: number;
  if (idTensor) {
    checkDType(OP, 'ids', idTensor, 'i32');
    checkRank(OP, 'ids', idTensor, 1);
    n = idTensor.shape[0];
  } else {
    const host = ids as ArrayLike<number>;
    if (typeof host.length !== 'number') throw new ShapeError(`${OP}: ids must be an i32 tensor or an array of integers`);
    n = host.length;
    for (let r = 0; r < n; r++) {
      const id = host[r];
      if (!Number.isInteger(id) || id < 0 || id >= vocab) {
        throw new IndexError(`${OP}: id ${id} at position ${r} is outside the table's vocabulary [0, ${vocab}) (table ${table.describe()})`);
      }
    }
  }
  const out = device.empty([n, dim], 'f32'); // [n, dim]
  const total = n * dim;
  if (total === 0) return out;
  const idBuf = idTensor ?? device.tensor(ids as ArrayLike<number>, [n], 'i32');
  const flag = device.indexErrorFlag(OP);
  const rowBytes = dim * dtypeBytes(table.dtype);
  const maxBinding = opts.maxBindingBytes ?? device.limits.maxStorageBufferBindingSize;
  for (const [first, count] of rowChunks(OP, table, rowBytes, vocab, maxBinding)) {
    const size = Math.min(Math.ceil((count * rowBytes) / 4) * 4, table.buffer.size - first * rowBytes);
    const slice = first === 0 && count === vocab ? table.buffer : { buffer: table.buffer, offset: first * rowBytes, size };
    device.dispatch(embeddingKernel(table.dtype, flag.bit), [slice, idBuf.buffer, out.buffer, flag.buffer], params(total, dim, vocab, first, count), grid(device, Math.ceil(total / WG)));
  }
  // Released buffers return to the pool only after the recorded dispatch is submitted.
  if (idBuf !== idTensor) idBuf.dispose();
  return out;
}
