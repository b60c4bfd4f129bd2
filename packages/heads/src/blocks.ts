// The forwards of the MLP head kinds, each written once as its equation over HeadOps: the GPU ops
// at inference (gpuHeadOps: each SiLU block one fused linear dispatch) and the autograd tape in
// training (@hydra-ts/train, whose blocks add dropout to the SiLU branch). Which kernels run is
// the ops' business, never a second copy of the forward.
//
//   Medusa head i:  y = h,                          y ← y + SiLU(W_il y + b_il), l = 0..L-1
//   Hydra head i:   y = R_i x + SiLU(W_i0 x + b_i0)  (x = (h, e(root), …, e(x_i))),
//                   y ← y + SiLU(W_il y + b_il), l = 1..L-1
//
// and head i's logits are U_i y, with U_i its lm_head or the base output layer when shared: the
// callers apply it, so that heads sharing one output layer score all their rows in one product.
import { add, embedding, gelu, linear, rmsnorm, scale, type Tensor } from '@hydra-ts/tensor';

/** What a head's forward is written in. T: a GPU tensor at inference, a tape variable in training. */
export interface HeadOps<T> {
  /** x·wᵀ (+ b). */
  linear(x: T, w: T, b?: T): T;
  /** res + SiLU(x·wᵀ + b): block `layer` of head `head` (training's dropout acts on the SiLU term). */
  siluBlock(x: T, w: T, b: T, res: T, head: number, layer: number): T;
  /** A parameter by its name in the heads file. */
  param(name: string): T;
}

/** What an MLPSpeculator stage adds to HeadOps. Ids: the token ids' type (host ids, or i32 ids on the GPU at inference). */
export interface StageOps<T, Ids> extends HeadOps<T> {
  embedding(table: T, ids: Ids): T;
  scale(x: T, c: number): T;
  /** x·wᵀ + res (no bias). */
  linearAdd(x: T, w: T, res: T): T;
  add(x: T, y: T): T;
  rmsnorm(x: T, w: T, eps: number): T;
  gelu(x: T): T;
}

/**
 * MLPSpeculator stage i (mlp-speculator.ts's equation): s [rows, in] and the tokens x_i [rows] ->
 * s' = GELU(N_i(P_i s + c·E_i[x_i])) [rows, inner], N_i(y) = rmsnorm(y, w_i, eps) + b_i; its
 * logits are H_i s' (speculator.head.i).
 */
export function speculatorStage<T, Ids>(ops: StageOps<T, Ids>, i: number, s: T, tokens: Ids, c: number, eps: number): T {
  const p = (name: string) => ops.param(`speculator.${name}.${i}.weight`);
  const e = ops.scale(ops.embedding(p('emb'), tokens), c); // [rows, inner]
  const y = ops.linearAdd(s, p('proj'), e); // P_i s + c·E_i[x_i]
  return ops.gelu(ops.add(ops.rmsnorm(y, p('ln'), eps), ops.param(`speculator.ln.${i}.bias`)));
}

/** Medusa head i on h [rows, dim]: y [rows, dim], what its output layer scores. */
export function medusaHead<T>(ops: HeadOps<T>, i: number, layers: number, h: T): T {
  let y = h;
  for (let l = 0; l < layers; l++) y = ops.siluBlock(y, ops.param(`heads.${i}.blocks.${l}.weight`), ops.param(`heads.${i}.blocks.${l}.bias`), y, i, l);
  return y;
}

/** Hydra head i on x [rows, (i+2)·dim] = (h, e(root), …, e(x_i)): y [rows, dim], what its output layer scores. */
export function hydraHead<T>(ops: HeadOps<T>, i: number, layers: number, x: T): T {
  const p = (name: string) => ops.param(`heads.${i}.${name}`);
  let y = ops.siluBlock(x, p('input.weight'), p('input.bias'), ops.linear(x, p('input.residual')), i, 0);
  for (let l = 1; l < layers; l++) y = ops.siluBlock(y, p(`blocks.${l}.weight`), p(`blocks.${l}.bias`), y, i, l);
  return y;
}

/**
 * The inference ops: every result goes through `track` (a scope's tracker, so the forward's
 * temporaries die with the scope and its result is the caller's); a SiLU block is one linear
 * dispatch with SiLU and the residual in its epilogue.
 */
export function gpuHeadOps(track: <X extends Tensor>(t: X) => X, param: (name: string) => Tensor): StageOps<Tensor, Tensor | Int32Array> {
  return {
    linear: (x, w, b) => track(linear(x, w, b)),
    siluBlock: (x, w, b, res) => track(linear(x, w, b, { activation: 'silu', residual: res })),
    param,
    embedding: (table, ids) => track(embedding(table, ids)),
    scale: (x, c) => track(scale(x, c)),
    linearAdd: (x, w, res) => track(linear(x, w, undefined, { residual: res })),
    add: (x, y) => track(add(x, y)),
    rmsnorm: (x, w, eps) => track(rmsnorm(x, w, eps)),
    gelu: (x) => track(gelu(x)),
  };
}
