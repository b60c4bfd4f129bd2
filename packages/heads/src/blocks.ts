// The two blocks heads are made of, as GPU ops. Both return a new tensor the caller owns.
import { add, linear, silu, type Tensor } from '@hydra-ts/tensor';

/** Medusa's residual block: x + SiLU(W x + b). x [rows, dim] -> [rows, dim] */
export function residualBlock(x: Tensor, w: Tensor, b: Tensor): Tensor {
  const z = linear(x, w, b); // [rows, dim]
  const s = silu(z);
  z.dispose();
  const y = add(x, s);
  s.dispose();
  return y;
}

/** Hydra's input block: R x + SiLU(W x + b). x [rows, in] -> [rows, dim] */
export function inputBlock(x: Tensor, r: Tensor, w: Tensor, b: Tensor): Tensor {
  const z = linear(x, w, b); // [rows, dim]
  const s = silu(z);
  z.dispose();
  // R x lands on SiLU(...) in linear's residual epilogue: one dispatch fewer than a separate add
  const y = linear(x, r, undefined, { residual: s }); // [rows, dim]
  s.dispose();
  return y;
}
