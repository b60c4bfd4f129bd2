// Embedding backward: dTable[v] = Σ of dy rows whose id is v. Instead of atomics, the ids (known on
// the host) are bucketed by a counting sort into a CSR list (offsets per vocab row, positions), so
// one invocation per (vocab row, column) sums its own segment in a fixed order: deterministic and
// O(vocab·dim + n·dim) work. Rows no id touches come out zero.

import { grid, kernel, params, type Tensor } from '@hydra-ts/tensor';

const WG = 256;

const scatterKernel = kernel('grad-embedding-segments', ['read', 'read', 'read', 'read_write'], () => `
struct Params { total: u32, dim: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> offsets: array<u32>;   // [vocab + 1]
@group(1) @binding(2) var<storage, read> positions: array<u32>; // [n] rows of dy, grouped by id
@group(1) @binding(3) var<storage, read> dy: array<f32>;        // [n, dim]
@group(1) @binding(4) var<storage, read_write> dt: array<f32>;  // [vocab, dim]

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = (wid.x + wid.y * nwg.x) * ${WG}u + lid;
  if (e >= p.total) { return; }
  let v = e / p.dim;
  let c = e % p.dim;
  var s = 0.0;
  for (var k = offsets[v]; k < offsets[v + 1u]; k++) { s += dy[positions[k] * p.dim + c]; }
  dt[e] = s;
}`);

/** Counting sort of ids into CSR form: rows of id v are positions[offsets[v] .. offsets[v+1]). */
export function bucketIds(ids: ArrayLike<number>, vocab: number): { offsets: Uint32Array; positions: Uint32Array } {
  const offsets = new Uint32Array(vocab + 1);
  for (let r = 0; r < ids.length; r++) offsets[ids[r] + 1]++;
  for (let v = 0; v < vocab; v++) offsets[v + 1] += offsets[v];
  const fill = offsets.slice(0, vocab);
  const positions = new Uint32Array(ids.length);
  for (let r = 0; r < ids.length; r++) positions[fill[ids[r]]++] = r;
  return { offsets, positions };
}

/** dTable [vocab, dim] for y = table[ids]; ids are host integers already checked against vocab. */
export function embeddingBackward(dy: Tensor, ids: ArrayLike<number>, vocab: number): Tensor<'f32'> {
  const device = dy.device;
  const dim = dy.shape[1];
  const { offsets, positions } = bucketIds(ids, vocab);
  const off = device.tensor(offsets, [vocab + 1], 'u32');
  const pos = device.tensor(positions.length ? positions : new Uint32Array(1), [Math.max(1, positions.length)], 'u32');
  const dt = device.empty([vocab, dim], 'f32'); // [vocab, dim]
  const total = vocab * dim;
  if (total > 0) device.dispatch(scatterKernel, [off.buffer, pos.buffer, dy.buffer, dt.buffer], params(total, dim), grid(device, Math.ceil(total / WG)));
  // Released buffers go back to the pool only after the dispatch is submitted.
  off.dispose();
  pos.dispose();
  return dt;
}
