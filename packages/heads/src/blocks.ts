// The two blocks heads are made of, as GPU ops. Both return a new tensor the caller owns.
import { linear, type Tensor } from '@hydra-ts/tensor';

/** Medusa's residual block: x + SiLU(W x + b), one dispatch (linear's SiLU + residual epilogue). x [rows, dim] -> [rows, dim] */
export function residualBlock(x: Tensor, w: Tensor, b: Tensor): Tensor {
  return linear(x, w, b, { activation: 'silu', residual: x }); // [rows, dim]
}

/** Hydra's input block: R x + SiLU(W x + b). x [rows, in] -> [rows, dim] */
export function inputBlock(x: Tensor, r: Tensor, w: Tensor, b: Tensor): Tensor {
  const rx = linear(x, r); // [rows, dim]
  // SiLU and the R x term ride in linear's epilogue: two dispatches instead of three
  const y = linear(x, w, b, { activation: 'silu', residual: rx }); // [rows, dim]
  rx.dispose();
  return y;
}
