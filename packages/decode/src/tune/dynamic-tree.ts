// The budget of a dynamic tree from this device's measured step cost: the tuner's cost table
// (forward time by row count at a few context lengths, the heads' and the step's overhead) gives
//   stepMs(rows) = heads(depth) + overhead + mean over contexts of forward(context, rows)
// and growTree then verifies, each step, the prefix of its ranking with the most expected tokens
// per ms. The table is the one defaultTreeFor keeps, so it is measured once per (device, model,
// dtype, heads) and read from the tree store afterwards.
import type { LlamaModel } from '@hydra-ts/model';
import type { DraftHead } from '@hydra-ts/heads';
import type { DynamicTree } from '@hydra-ts/tree';
import { forwardMsAt, monotoneCost, type StepCost } from './cost-model';
import { defaultTreeFor, type DefaultTreeOptions } from './default-tree';

/** `spec` with stepMs from a measured cost table, for a draft `depth` levels deep. */
export function withStepCost(spec: DynamicTree, cost: StepCost, depth: number): DynamicTree {
  const tables = cost.forward.map(monotoneCost);
  const heads = cost.headMs.length > 0 ? cost.headMs[Math.min(depth, cost.headMs.length) - 1] : 0;
  const fixed = heads + cost.overheadMs;
  const stepMs = (rows: number): number => fixed + tables.reduce((sum, t) => sum + forwardMsAt(t, rows), 0) / tables.length;
  return spec.with({ stepMs });
}

/** `spec` with the measured step cost of `head` on `model`'s device (tuned on first use, then cached; see defaultTreeFor). */
export async function dynamicTreeFor(model: LlamaModel, head: DraftHead, spec: DynamicTree, opts: DefaultTreeOptions = {}): Promise<DynamicTree> {
  const tuned = await defaultTreeFor(model, head, opts);
  return withStepCost(spec, tuned.record.tuning.cost, spec.depthFor(head.depth));
}
