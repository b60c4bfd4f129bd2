// Training checkpoints: the heads file itself (loadable by @hydra-ts/heads as is) plus two sidecars,
//   <name>.train.json          config, step, loss history, held-out evaluations
//   <name>.optim.safetensors   AdamW moments m.<param>, v.<param> and its step count
// Each file is written atomically (temporary file + rename) and carries the step, so a run killed
// between two writes is detected on resume instead of continuing from mixed states.
import { existsSync, readFileSync } from 'node:fs';
import { parseSafetensors, serializeSafetensors, type SafetensorsInput } from '@hydra-ts/model';
import { TrainCheckpointError } from './errors';
import { writeFileAtomic } from './files';
import type { HeadAccuracy, StepStats, TrainConfig } from './trainer';
import type { HeadTrainer } from './trainer';

export const TRAIN_FORMAT = 'hydra-ts-train';
export const TRAIN_VERSION = 1;

export interface TrainRecord {
  format: typeof TRAIN_FORMAT;
  version: typeof TRAIN_VERSION;
  step: number;
  config: TrainConfig;
  /** The data file(s) and base model it was trained with (informational). */
  data?: string | string[];
  model?: string;
  history: StepStats[];
  evals: HeadAccuracy[];
  /** Wall-clock training time so far (teacher cache excluded). */
  trainMs: number;
  /** τ measured after training, if it was. */
  acceptance?: Record<string, unknown>;
}

/** Sidecar paths of a heads file. */
export function checkpointPaths(out: string): { heads: string; record: string; optim: string; chart: string } {
  const base = out.endsWith('.safetensors') ? out.slice(0, -'.safetensors'.length) : out;
  return { heads: out, record: `${base}.train.json`, optim: `${base}.optim.safetensors`, chart: `${base}.curves.html` };
}

/** Writes optimiser state, heads and record (in that order, each atomically). */
export async function saveCheckpoint(out: string, trainer: HeadTrainer, record: Omit<TrainRecord, 'format' | 'version' | 'step' | 'config'>): Promise<void> {
  const paths = checkpointPaths(out);
  const step = String(trainer.step);
  const state = await trainer.optimizer.exportState();
  const tensors = new Map<string, SafetensorsInput>();
  trainer.optimizer.params.forEach((p, i) => {
    tensors.set(`m.${p.name}`, { shape: [...p.shape], data: state.m[i] });
    tensors.set(`v.${p.name}`, { shape: [...p.shape], data: state.v[i] });
  });
  writeFileAtomic(paths.optim, serializeSafetensors(tensors, { format: `${TRAIN_FORMAT}-optim`, step, t: String(state.t) }));
  writeFileAtomic(paths.heads, await trainer.heads.toBytes({ 'train.step': step }));
  const full: TrainRecord = { format: TRAIN_FORMAT, version: TRAIN_VERSION, step: trainer.step, config: trainer.config, ...record };
  writeFileAtomic(paths.record, JSON.stringify(full, null, 1) + '\n');
}

/** Reads and checks a checkpoint's record; the heads bytes are returned for TrainableHeads.fromFile. */
export function readCheckpoint(out: string): { record: TrainRecord; heads: Uint8Array } {
  const paths = checkpointPaths(out);
  for (const p of [paths.heads, paths.record, paths.optim]) {
    if (!existsSync(p)) throw new TrainCheckpointError(`resume: ${p} is missing (a checkpoint is ${paths.heads} with ${paths.record} and ${paths.optim})`);
  }
  let record: TrainRecord;
  try {
    record = JSON.parse(readFileSync(paths.record, 'utf8'));
  } catch (e) {
    throw new TrainCheckpointError(`resume: ${paths.record} is not JSON: ${(e as Error).message}`, { cause: e });
  }
  if (record?.format !== TRAIN_FORMAT || record.version !== TRAIN_VERSION) {
    throw new TrainCheckpointError(`resume: ${paths.record} has format ${JSON.stringify(record?.format)} version ${JSON.stringify(record?.version)}, expected "${TRAIN_FORMAT}" version ${TRAIN_VERSION}`);
  }
  if (!Number.isInteger(record.step) || record.step < 0) throw new TrainCheckpointError(`resume: ${paths.record}: step ${record.step}, expected an integer >= 0`);
  const heads = new Uint8Array(readFileSync(paths.heads));
  let step: string | undefined;
  try {
    step = parseSafetensors(heads, paths.heads).metadata['train.step'];
  } catch (e) {
    throw new TrainCheckpointError(`resume: ${paths.heads} is not a safetensors file: ${(e as Error).message}`, { cause: e });
  }
  if (step !== String(record.step)) {
    throw new TrainCheckpointError(`resume: ${paths.heads} was written at step ${step ?? '(none: not a training checkpoint)'}, ${paths.record} at step ${record.step}; the run stopped between writes, resume from an earlier copy`);
  }
  return { record, heads };
}

/** Restores the AdamW state of a checkpoint into `trainer` (whose heads came from the same checkpoint) and its step. */
export function restoreOptimizer(out: string, trainer: HeadTrainer, record: TrainRecord): void {
  const path = checkpointPaths(out).optim;
  let file;
  try {
    file = parseSafetensors(new Uint8Array(readFileSync(path)), path);
  } catch (e) {
    throw new TrainCheckpointError(`resume: ${path} is not a safetensors file: ${(e as Error).message}`, { cause: e });
  }
  if (file.metadata.step !== String(record.step)) {
    throw new TrainCheckpointError(`resume: ${path} was written at step ${file.metadata.step}, the record at step ${record.step}`);
  }
  const m: Float32Array[] = [];
  const v: Float32Array[] = [];
  for (const p of trainer.optimizer.params) {
    for (const [list, key] of [[m, `m.${p.name}`], [v, `v.${p.name}`]] as const) {
      const t = file.tensors.get(key);
      if (!t || t.data.length !== p.value.size) throw new TrainCheckpointError(`resume: ${path}: tensor ${key} is ${t ? `of ${t.data.length} values` : 'missing'}, expected ${p.value.size} values`);
      list.push(t.data);
    }
  }
  trainer.optimizer.importState({ t: Number(file.metadata.t), m, v });
  trainer.step = record.step;
}

/** A resumed run must train the same heads the same way; only `steps` may grow. */
export function checkResumable(saved: TrainConfig, now: TrainConfig, file: string): void {
  for (const k of Object.keys(now) as (keyof TrainConfig)[]) {
    if (k === 'steps' || k === 'evalEvery') continue;
    if (saved[k] !== now[k]) {
      throw new TrainCheckpointError(`resume: ${file} was trained with ${k} = ${JSON.stringify(saved[k])}, this run asks for ${JSON.stringify(now[k])}`);
    }
  }
}
