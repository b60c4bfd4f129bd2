// The heads a benchmark or tuning run uses: the trained ones beside the model, or fresh ones.
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { LlamaModel } from '@hydra-ts/model';
import { createHead, HeadCheckpointError, loadHead, type Heads } from '@hydra-ts/heads';
import { HEAD_FILES } from '../../paths';

export type SpeculativeKind = 'medusa' | 'hydra' | 'hydra++' | 'eagle' | 'eagle3';

export interface BenchHead {
  head: Heads;
  /** The file it was loaded from, or null for untrained heads from createHead. */
  file: string | null;
}

/**
 * The trained heads in `headsDir` for this decoder kind, or, when the file is not there and
 * `allowUntrained` is set, fresh createHead heads (every head then predicts what the base
 * model predicts from h_t: a floor for τ, not a result).
 */
export async function benchHead(model: LlamaModel, kind: SpeculativeKind, headsDir: string, numHeads: number, allowUntrained: boolean): Promise<BenchHead | null> {
  const file = path.join(headsDir, HEAD_FILES[kind]);
  if (existsSync(file)) {
    const head = await loadHead(model, file);
    if (head.config.kind !== kind) {
      head.dispose();
      throw new HeadCheckpointError(`${file} holds ${head.config.kind} heads, but is the ${kind} heads file of ${headsDir} (${HEAD_FILES[kind]}); expected ${kind} heads`);
    }
    return { head, file };
  }
  if (!allowUntrained) return null;
  return { head: await createHead(model, { kind, numHeads }), file: null };
}
