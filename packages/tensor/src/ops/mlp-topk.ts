// mlpTopK: a whole small draft head in one dispatch — a stack of residual SiLU blocks, the output
// projection and a top-k of its logits — for devices where each dispatch costs more than the
// arithmetic of a small head (software Vulkan runs a 64-wide head's block in microseconds, and a
// dispatch costs ~25 µs). One workgroup per row does every stage in workgroup memory:
//
//   y  = (R x or x) + SiLU(W₀ x + b₀)          input block (R optional: Hydra's input projection)
//   y  = y + SiLU(W_l y + b_l),  l = 1..L-1     residual blocks
//   top-k of  U y                               U: the output projection [vocab, dim]
//   (logProbs: of U y − logsumexp(U y), the log-probabilities a dynamic tree ranks by)
//
// The top-k is the topk kernel's: each thread keeps a sorted list of its strided slice of the
// logits as it computes them (no logits buffer), then k merge rounds over the list heads. A
// stack's weights live in one packed buffer (MlpStack) so a kernel needs four storage buffers
// whatever the depth. Rows can share one stack (Hydra: the rows of one depth) or each take their
// own (Medusa: head i on row i), and likewise for the output projection. With logProbs each thread
// also keeps a running (max, Σ exp) of its slice, merged across the workgroup before the top-k.

import { OptionError, ShapeError } from '../errors';
import { checkDType, checkLive, checkRank, FLAT_WORKGROUP, grid, kernel, params } from '../kernel';
import type { Device } from '../device';
import type { Tensor } from '../tensor';
import { topkInsertWgsl, topkMergeDeclsWgsl, topkMergeWgsl, type TopK } from './topk';

/** Largest k the fused top-k serves (each thread keeps a private list this long). */
export const MLP_TOPK_MAX_K = 16;
/** Widest block (one output per thread of a workgroup). */
export const MLP_TOPK_MAX_DIM = 256;
/** Widest input row (held in workgroup memory). */
export const MLP_TOPK_MAX_IN = 2048;

const OP = 'mlpTopK';

function mlpTopKKernel(wg: number, v4: boolean, logProbs: boolean) {
  const cap = MLP_TOPK_MAX_K;
  // The vec4 variant (inDim and dim multiples of 4) reads weights and rows four floats a load;
  // offsets below count floats either way, and W(o) / V(o) read the 4 (or 1) floats at float o.
  const F = v4 ? 'vec4<f32>' : 'f32';
  const L = v4 ? 4 : 1;
  const at = (arr: string, o: string) => (v4 ? `${arr}[(${o}) / 4u]` : `${arr}[${o}]`);
  const one = (arr: string, o: string) => (v4 ? `${arr}[(${o}) / 4u][(${o}) % 4u]` : `${arr}[${o}]`);
  const dot = (a: string, b: string) => (v4 ? `dot(${a}, ${b})` : `${a} * ${b}`);
  return kernel(`mlp-topk-${wg}${v4 ? '-v4' : ''}${logProbs ? '-logp' : ''}`, ['read', 'read', 'read', 'read_write', 'read_write'], () => `
// One workgroup per row; thread t owns output t of every block (dim <= ${wg}).
struct Params { rows: u32, inDim: u32, dim: u32, blocks: u32, vocab: u32, k: u32, hasR: u32, xStride: u32, stackStride: u32, lmStride: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> x: array<${F}>;
@group(1) @binding(2) var<storage, read> w: array<${F}>; // per stack: [R], W0, b0, then W_l, b_l
@group(1) @binding(3) var<storage, read> lm: array<${F}>;
@group(1) @binding(4) var<storage, read_write> values: array<f32>;
@group(1) @binding(5) var<storage, read_write> indices: array<i32>;

var<workgroup> xs: array<${F}, ${MLP_TOPK_MAX_IN / L}>;
var<workgroup> ys: array<${F}, ${wg / L}>;
${topkMergeDeclsWgsl(wg)}
${logProbs ? `var<workgroup> sm: array<f32, ${wg}>;
var<workgroup> ss: array<f32, ${wg}>;
const LOWEST = -3.0e38; // a finite floor: exp(LOWEST - m) is 0, never NaN` : ''}

fn silu(v: f32) -> f32 { return v / (1.0 + exp(-v)); }

@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = ${FLAT_WORKGROUP};
  if (row >= p.rows) { return; }
  let n = p.inDim;
  let d = p.dim;
  let xBase = row * p.xStride;
  for (var i = lid * ${L}u; i < n; i += ${wg * L}u) { ${at('xs', 'i')} = ${at('x', 'xBase + i')}; }
  workgroupBarrier();

  // Input block.
  var off = row * p.stackStride;
  let wOff = off + p.hasR * d * n;
  var y = 0.0;
  if (lid < d) {
    var acc = ${one('w', 'wOff + d * n + lid')};
    let wr = wOff + lid * n;
    for (var i = 0u; i < n; i += ${L}u) { acc += ${dot(at('w', 'wr + i'), at('xs', 'i'))}; }
    var res = 0.0;
    if (p.hasR == 1u) {
      let rr = off + lid * n;
      for (var i = 0u; i < n; i += ${L}u) { res += ${dot(at('w', 'rr + i'), at('xs', 'i'))}; }
    } else {
      res = ${one('xs', 'lid')};
    }
    y = res + silu(acc);
  }
  workgroupBarrier();
  if (lid < d) { ${one('ys', 'lid')} = y; }
  workgroupBarrier();
  off = wOff + d * n + d;

  // Residual blocks.
  for (var l = 1u; l < p.blocks; l++) {
    var v = 0.0;
    if (lid < d) {
      var acc = ${one('w', 'off + d * d + lid')};
      let wr = off + lid * d;
      for (var i = 0u; i < d; i += ${L}u) { acc += ${dot(at('w', 'wr + i'), at('ys', 'i'))}; }
      v = ${one('ys', 'lid')} + silu(acc);
    }
    workgroupBarrier();
    if (lid < d) { ${one('ys', 'lid')} = v; }
    workgroupBarrier();
    off += d * d + d;
  }

  // Logits and each thread's top-k of its strided slice; indices rise, so strict > keeps ties in
  // index order.
  let k = p.k;
  let lmBase = row * p.lmStride;
  var lv: array<f32, ${cap}>;
  var li: array<u32, ${cap}>;
  var c = 0u;${logProbs ? `
  var runMax = LOWEST;
  var runSum = 0.0;` : ''}
  for (var j = lid; j < p.vocab; j += ${wg}u) {
    var v = 0.0;
    let ur = lmBase + j * d;
    for (var i = 0u; i < d; i += ${L}u) { v += ${dot(at('lm', 'ur + i'), at('ys', 'i'))}; }${logProbs ? `
    if (v > runMax) { runSum = runSum * exp(runMax - v) + 1.0; runMax = v; } else { runSum += exp(v - runMax); }` : ''}
    ${topkInsertWgsl('v', 'j')}
  }
${logProbs ? `
  // logsumexp of the row: the threads' (max, sum) pairs merged by a tree reduction.
  sm[lid] = runMax;
  ss[lid] = runSum;
  workgroupBarrier();
  for (var s = ${wg / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) {
      let m = max(sm[lid], sm[lid + s]);
      ss[lid] = ss[lid] * exp(sm[lid] - m) + ss[lid + s] * exp(sm[lid + s] - m);
      sm[lid] = m;
    }
    workgroupBarrier();
  }
  let lse = sm[0] + log(ss[0]);
  workgroupBarrier();` : ''}
  // k rounds of a workgroup arg-best over the heads of the lists.
  ${topkMergeWgsl(wg, logProbs ? 'lse' : '')}
}`);
}

/** f32 floats of one packed stack member. */
function mlpStackStride(inDim: number, dim: number, blocks: number, inputResidual: boolean): number {
  return (inputResidual ? 2 : 1) * dim * inDim + dim + (blocks - 1) * (dim * dim + dim);
}

/** One member of a stack: an optional input projection R [dim, in] and blocks of (W [dim, in or dim], b [dim]). */
export interface MlpStackMember {
  residual?: Tensor;
  blocks: ReadonlyArray<{ weight: Tensor; bias: Tensor }>;
}

/**
 * The packed weights of one or more residual SiLU stacks of the same shape, in one f32 buffer the
 * stack owns: per member [R], W₀, b₀, W₁, b₁, ... Made once (the parameters are copied, so later
 * writes to them are not seen); dispose() frees it.
 */
export class MlpStack {
  readonly device: Device;
  /** Width of an input row. */
  readonly inDim: number;
  /** Width of every block's output. */
  readonly dim: number;
  /** Blocks per member, the input block included. */
  readonly blocks: number;
  /** Whether the input block has a projection R (else x itself is the residual; inDim = dim). */
  readonly inputResidual: boolean;
  readonly members: number;
  /** f32 floats per member. */
  readonly stride: number;
  readonly weights: Tensor<'f32'>;

  private constructor(device: Device, inDim: number, dim: number, blocks: number, inputResidual: boolean, members: number, weights: Tensor<'f32'>) {
    this.device = device;
    this.inDim = inDim;
    this.dim = dim;
    this.blocks = blocks;
    this.inputResidual = inputResidual;
    this.members = members;
    this.stride = mlpStackStride(inDim, dim, blocks, inputResidual);
    this.weights = weights;
  }

  /** Packs the members (all f32, all the same shape) into one buffer with buffer copies. */
  static pack(members: readonly MlpStackMember[]): MlpStack {
    const op = 'MlpStack.pack';
    if (members.length === 0 || members[0].blocks.length === 0) throw new ShapeError(`${op}: expected at least one member with at least one block`);
    const first = members[0];
    const w0 = first.blocks[0].weight;
    checkRank(op, 'blocks[0].weight', w0, 2);
    const [dim, inDim] = w0.shape;
    const hasR = first.residual !== undefined;
    if (!hasR && inDim !== dim) throw new ShapeError(`${op}: without an input projection the first block must be square, got weight ${w0.describe()}`);
    const want = (l: number): [number[], number[]] => [[dim, l === 0 ? inDim : dim], [dim]];
    const all: Tensor[] = [];
    for (const [m, member] of members.entries()) {
      if (member.blocks.length !== first.blocks.length) throw new ShapeError(`${op}: member ${m} has ${member.blocks.length} blocks, member 0 has ${first.blocks.length}`);
      if ((member.residual !== undefined) !== hasR) throw new ShapeError(`${op}: member ${m} ${hasR ? 'lacks' : 'has'} an input projection, member 0 ${hasR ? 'has one' : 'does not'}`);
      const parts: Array<[string, Tensor, number[]]> = [];
      if (member.residual) parts.push(['residual', member.residual, [dim, inDim]]);
      member.blocks.forEach((b, l) => {
        const [ws, bs] = want(l);
        parts.push([`blocks[${l}].weight`, b.weight, ws], [`blocks[${l}].bias`, b.bias, bs]);
      });
      for (const [name, t, shape] of parts) {
        checkDType(op, `member ${m} ${name}`, t, 'f32');
        if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
          throw new ShapeError(`${op}: member ${m} ${name} is ${t.describe()}, expected [${shape.join(', ')}]`);
        }
        all.push(t);
      }
    }
    const device = checkLive(op, ...all);
    if (dim > MLP_TOPK_MAX_DIM) throw new ShapeError(`${op}: blocks are ${dim} wide, at most ${MLP_TOPK_MAX_DIM} are supported`);
    if (inDim > MLP_TOPK_MAX_IN) throw new ShapeError(`${op}: input rows are ${inDim} wide, at most ${MLP_TOPK_MAX_IN} are supported`);
    const weights = device.empty([members.length * mlpStackStride(inDim, dim, first.blocks.length, hasR)], 'f32');
    let at = 0;
    for (const t of all) {
      device.copyBuffer(t.buffer, 0, weights.buffer, at * 4, t.size * 4);
      at += t.size;
    }
    return new MlpStack(device, inDim, dim, first.blocks.length, hasR, members.length, weights);
  }

  dispose(): void {
    this.weights.dispose();
  }
}

export interface MlpTopKOptions {
  /** output is [members·vocab, dim]: member i's projection, rows i·vocab.., serves row i. */
  perMemberOutput?: boolean;
  /** values are log-probabilities, logits − logsumexp(row's logits), instead of logits (the same picks). */
  logProbs?: boolean;
}

/**
 * The k best tokens of a small head's logits per row: x [rows, inDim] (or [1, inDim], read by
 * every row), through `stack`, projected by `output` ([vocab, dim], shared by all rows, or with
 * `perMemberOutput` [members·vocab, dim]). With a one-member stack every row of x uses it; with m
 * members there are m rows and row i uses member i. 1 <= k <= min(vocab, 16). Returns values and
 * indices [rows, k], descending, ties to the lower index, owned by the caller.
 */
export function mlpTopK(x: Tensor, stack: MlpStack, output: Tensor, k: number, options: MlpTopKOptions = {}): TopK {
  const device = checkLive(OP, x, stack.weights, output);
  checkDType(OP, 'x', x, 'f32');
  checkRank(OP, 'x', x, 2);
  checkDType(OP, 'output', output, 'f32');
  checkRank(OP, 'output', output, 2);
  const [xRows, inDim] = x.shape;
  const { dim, members } = stack;
  if (inDim !== stack.inDim) throw new ShapeError(`${OP}: x ${x.describe()} has rows ${inDim} wide, the stack takes ${stack.inDim}`);
  if (output.shape[1] !== dim) throw new ShapeError(`${OP}: output ${output.describe()} takes rows ${output.shape[1]} wide, the stack's blocks are ${dim} wide`);
  if (members > 1 && xRows !== 1 && xRows !== members) throw new ShapeError(`${OP}: a stack of ${members} members takes x with 1 or ${members} rows, got ${x.describe()}`);
  const rows = members === 1 ? xRows : members;
  let vocab = output.shape[0];
  if (options.perMemberOutput) {
    if (vocab % members !== 0) throw new ShapeError(`${OP}: output ${output.describe()} does not split into ${members} members' projections`);
    vocab /= members;
  }
  if (!Number.isInteger(k) || k < 1 || k > MLP_TOPK_MAX_K) throw new OptionError(`${OP}: k must be an integer in [1, ${MLP_TOPK_MAX_K}], got ${k}`);
  if (k > vocab) throw new ShapeError(`${OP}: k = ${k} exceeds the vocabulary of output ${output.describe()}`);
  const values = device.empty([rows, k], 'f32'); // [rows, k]
  const indices = device.empty([rows, k], 'i32'); // [rows, k]
  if (rows === 0) return { values, indices };
  const wg = dim <= 64 ? 64 : dim <= 128 ? 128 : 256;
  const xStride = xRows === 1 && rows > 1 ? 0 : inDim;
  const stackStride = members > 1 ? stack.stride : 0;
  const lmStride = options.perMemberOutput ? vocab * dim : 0;
  const v4 = inDim % 4 === 0 && dim % 4 === 0;
  device.dispatch(
    mlpTopKKernel(wg, v4, options.logProbs === true),
    [x.buffer, stack.weights.buffer, output.buffer, values.buffer, indices.buffer],
    params(rows, inDim, dim, stack.blocks, vocab, k, stack.inputResidual ? 1 : 0, xStride, stackStride, lmStride),
    grid(device, rows),
  );
  return { values, indices };
}
