// Optimisers over Var parameters: AdamW (fused WGSL update) and plain SGD, both with optional
// global-norm gradient clipping computed on the GPU (no read-back per step), and the learning-rate
// schedule (linear warm-up, then cosine decay to a final multiplier).

import { OptionError, type Device, type Tensor } from '@hydra-ts/tensor';
import type { Var } from './autograd';
import { adamwUpdate, sgdUpdate } from './kernels/adamw';
import { gradientNorm } from './kernels/grad-norm';

export interface ScheduleOptions {
  /** Peak learning rate, reached at the end of warm-up. */
  lr: number;
  warmupSteps: number;
  totalSteps: number;
  /** LR at the last step as a fraction of the peak (e.g. 0.1); default 0. */
  finalMultiplier?: number;
}

/** Learning rate at 0-based `step`: linear warm-up over warmupSteps, then cosine to lr·finalMultiplier. */
export function learningRateAt(step: number, o: ScheduleOptions): number {
  const final = o.finalMultiplier ?? 0;
  if (!(o.lr >= 0) || !(o.warmupSteps >= 0) || !(o.totalSteps >= 1) || !(final >= 0 && final <= 1)) {
    throw new OptionError(`learning-rate schedule: expected lr >= 0, warmupSteps >= 0, totalSteps >= 1, 0 <= finalMultiplier <= 1 (got ${JSON.stringify(o)})`);
  }
  if (step < o.warmupSteps) return (o.lr * (step + 1)) / o.warmupSteps;
  const span = Math.max(1, o.totalSteps - 1 - o.warmupSteps);
  const progress = Math.min(1, (step - o.warmupSteps) / span);
  return o.lr * (final + (1 - final) * 0.5 * (1 + Math.cos(Math.PI * progress)));
}

export interface AdamWOptions {
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Clip the global L2 norm of all gradients to this; default no clipping. */
  maxGradNorm?: number;
  /** Which parameters decay; default those of rank ≥ 2 (weights, not biases or norm gains). */
  decays?: (p: Var) => boolean;
}

/** What a checkpoint keeps of AdamW: the step count and both moments per parameter (in params order). */
export interface AdamWState {
  t: number;
  m: Float32Array[];
  v: Float32Array[];
}

/** Shared by the optimisers: the clipping buffers and the list of parameters with gradients. */
abstract class Optimizer {
  readonly params: readonly Var[];
  protected readonly device: Device;
  protected readonly maxGradNorm: number;
  /** [2]: the last step's global gradient norm (before clipping) and the factor applied. */
  protected readonly clip: Tensor;
  private readonly slots: Tensor;
  private disposed = false;

  protected constructor(params: readonly Var[], maxGradNorm: number | undefined, what: string) {
    if (params.length === 0) throw new OptionError(`${what}: no parameters to optimise`);
    for (const p of params) {
      if (!p.requiresGrad || p.tape !== null) throw new OptionError(`${what}: ${p} is not a trainable leaf (use Var.param)`);
    }
    if (maxGradNorm !== undefined && !(maxGradNorm > 0)) throw new OptionError(`${what}: maxGradNorm ${maxGradNorm} must be > 0`);
    this.params = params;
    this.device = params[0].value.device;
    this.maxGradNorm = maxGradNorm ?? Infinity;
    this.clip = this.device.tensor([0, 1], [2]);
    this.slots = this.device.zeros([params.length]);
  }

  /** Global gradient norm measured by the last step (one read-back; call only when logging). */
  async lastGradNorm(): Promise<number> {
    return (await this.clip.read())[0];
  }

  zeroGrad(): void {
    for (const p of this.params) p.zeroGrad();
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.clip.dispose();
    this.slots.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** Parameters that received a gradient, after computing the clipping factor on the GPU. */
  protected prepare(): Var[] {
    const live = this.params.filter((p) => p.grad !== null);
    if (live.length > 0) gradientNorm(live.map((p) => p.grad!), this.slots, this.clip, this.maxGradNorm);
    return live;
  }
}

/** AdamW with bias correction and decoupled weight decay; state m, v lives on the GPU. */
export class AdamW extends Optimizer {
  readonly options: Required<Omit<AdamWOptions, 'maxGradNorm' | 'decays'>>;
  private readonly decays: (p: Var) => boolean;
  private readonly m: Tensor[]; // [param shape] each
  private readonly v: Tensor[];
  /** Steps taken (bias correction uses t + 1 for the next). */
  t = 0;

  constructor(params: readonly Var[], options: AdamWOptions = {}) {
    super(params, options.maxGradNorm, 'AdamW');
    this.options = {
      lr: options.lr ?? 1e-3,
      beta1: options.beta1 ?? 0.9,
      beta2: options.beta2 ?? 0.999,
      eps: options.eps ?? 1e-8,
      weightDecay: options.weightDecay ?? 0.01,
    };
    const { beta1, beta2, eps, weightDecay } = this.options;
    if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1 && eps > 0 && weightDecay >= 0)) {
      throw new OptionError(`AdamW: expected 0 <= beta1, beta2 < 1, eps > 0, weightDecay >= 0 (got ${JSON.stringify(this.options)})`);
    }
    this.decays = options.decays ?? ((p) => p.value.rank >= 2);
    this.m = params.map((p) => this.device.zeros(p.shape)); // moments, shaped as their parameter
    this.v = params.map((p) => this.device.zeros(p.shape));
  }

  /** One update of every parameter that has a gradient, at `lr` (default options.lr). Records GPU work only. */
  step(lr = this.options.lr): void {
    if (!(lr >= 0)) throw new OptionError(`AdamW.step: lr ${lr} must be >= 0`);
    const live = this.prepare();
    this.t++;
    for (const p of live) {
      const i = this.params.indexOf(p);
      const weightDecay = this.decays(p) ? this.options.weightDecay : 0;
      adamwUpdate(p.value, p.grad!, this.m[i], this.v[i], this.clip, { ...this.options, lr, weightDecay, t: this.t });
    }
  }

  /** Step count and moments (as stored, f32), for checkpoints. One read-back per tensor. */
  async exportState(): Promise<AdamWState> {
    const m: Float32Array[] = [];
    const v: Float32Array[] = [];
    for (let i = 0; i < this.params.length; i++) {
      m.push((await this.m[i].read()) as Float32Array);
      v.push((await this.v[i].read()) as Float32Array);
    }
    return { t: this.t, m, v };
  }

  /** Restores a state exportState() returned for the same parameters: later steps are bit-identical. */
  importState(state: AdamWState): void {
    if (!Number.isInteger(state.t) || state.t < 0) throw new OptionError(`AdamW.importState: t = ${state.t}, expected an integer >= 0`);
    if (state.m.length !== this.params.length || state.v.length !== this.params.length) {
      throw new OptionError(`AdamW.importState: moments for ${state.m.length}/${state.v.length} parameters, the optimiser has ${this.params.length}`);
    }
    this.params.forEach((p, i) => {
      for (const [what, a] of [['m', state.m[i]], ['v', state.v[i]]] as const) {
        if (a.length !== p.value.size) throw new OptionError(`AdamW.importState: ${what} of ${p.name} has ${a.length} values, expected ${p.value.size}`);
      }
    });
    this.params.forEach((p, i) => {
      this.m[i].dispose();
      this.v[i].dispose();
      this.m[i] = this.device.tensor(state.m[i], p.shape);
      this.v[i] = this.device.tensor(state.v[i], p.shape);
    });
    this.t = state.t;
  }

  override dispose(): void {
    for (const t of [...this.m, ...this.v]) t.dispose();
    super.dispose();
  }
}

/** Plain gradient descent θ ← θ − lr·g (with optional clipping). */
export class SGD extends Optimizer {
  constructor(
    params: readonly Var[],
    readonly lr: number,
    options: { maxGradNorm?: number } = {},
  ) {
    super(params, options.maxGradNorm, 'SGD');
    if (!(lr >= 0)) throw new OptionError(`SGD: lr ${lr} must be >= 0`);
  }

  step(lr = this.lr): void {
    for (const p of this.prepare()) sgdUpdate(p.value, p.grad!, this.clip, lr);
  }
}
