// Training checkpoints. Each save writes a complete set into a directory of its own, then points
// at it with one small manifest renamed into place last:
//   <name>.checkpoints/step-00000100-<id>/heads.safetensors   the heads (loadable by @hydra-ts/heads)
//   <name>.checkpoints/step-00000100-<id>/optim.safetensors   AdamW moments m.<param>, v.<param>, its step count
//   <name>.checkpoints/step-00000100-<id>/train.json          config, step, loss history, held-out evaluations
//   <name>.checkpoints/latest.json                            {"step": 100, "set": "step-00000100-<id>", "previous": ...}
// A kill before the manifest's rename leaves the previous manifest, naming the previous complete
// set; a kill after it leaves the new one. The set before the latest is kept as well, so a set
// damaged later (a disk error, a stray edit) still leaves one to resume from. The heads file at
// <name> and <name>.train.json are copies for the user, written after the manifest.
// Checkpoints of the older layout (three sidecar files beside <name>) are still read.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { FileSourceError, parseSafetensors, readFileChecked, serializeSafetensors, type SafetensorsInput } from '@hydra-ts/model';
import { TrainCheckpointError } from './errors';
import type { HeadAccuracy, StepStats, TrainConfig } from './trainer';
import { DEFAULT_TRAIN_CONFIG, type HeadTrainer } from './trainer';

export const TRAIN_FORMAT = 'hydra-ts-train';
export const TRAIN_VERSION = 1;
const MANIFEST_FORMAT = 'hydra-ts-train-checkpoints';
const MANIFEST_VERSION = 1;

/** A record holds the loss history (a few numbers a step): far below this even for long runs. */
const MAX_RECORD_BYTES = 256 * 2 ** 20;
const MAX_MANIFEST_BYTES = 64 * 2 ** 10;

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

/** The file operations a save makes, replaceable so tests can stop a save between any two of them. */
export interface CheckpointFs {
  writeFile(file: string, data: Uint8Array | string): void;
  rename(from: string, to: string): void;
  mkdir(dir: string): void;
  remove(target: string): void;
}

const nodeFs: CheckpointFs = {
  writeFile: (file, data) => writeFileSync(file, data),
  rename: (from, to) => renameSync(from, to),
  mkdir: (dir) => mkdirSync(dir, { recursive: true }),
  remove: (target) => rmSync(target, { recursive: true, force: true }),
};

/** Paths of a heads file's checkpoint: its sets and manifest, the user's copies, and the older layout's optimiser sidecar. */
export function checkpointPaths(out: string): { heads: string; record: string; optim: string; chart: string; sets: string; manifest: string } {
  const base = out.endsWith('.safetensors') ? out.slice(0, -'.safetensors'.length) : out;
  const sets = `${base}.checkpoints`;
  return { heads: out, record: `${base}.train.json`, optim: `${base}.optim.safetensors`, chart: `${base}.curves.html`, sets, manifest: path.join(sets, 'latest.json') };
}

/** The three files of one checkpoint. */
export interface CheckpointSet {
  heads: Uint8Array;
  optim: Uint8Array;
  record: string;
}

interface Manifest {
  step: number;
  set: string;
  previous: string | null;
}

let saves = 0;
/** A set directory name no earlier save used: the same step may be saved twice (after τ is measured). */
function setName(step: number): string {
  return `step-${String(step).padStart(8, '0')}-${Date.now().toString(36)}${process.pid.toString(36)}${(saves++).toString(36)}`;
}

/**
 * Writes one checkpoint set so that a kill at any point leaves a resumable checkpoint: the set's
 * files in a fresh directory, then the manifest (atomically), then the user's copies; finally sets
 * older than the previous one are removed.
 */
export function writeCheckpointSet(out: string, step: number, files: CheckpointSet, fs: CheckpointFs = nodeFs): void {
  const paths = checkpointPaths(out);
  let before: Manifest | null = null;
  try {
    before = readManifest(paths.manifest, true);
  } catch {
    // An unreadable manifest names no set worth keeping; this save replaces it.
  }
  const name = setName(step);
  const dir = path.join(paths.sets, name);
  fs.mkdir(dir);
  fs.writeFile(path.join(dir, 'optim.safetensors'), files.optim);
  fs.writeFile(path.join(dir, 'heads.safetensors'), files.heads);
  fs.writeFile(path.join(dir, 'train.json'), files.record);
  const manifest: Manifest = { step, set: name, previous: before?.set ?? null };
  const tmp = `${paths.manifest}.tmp-${process.pid}`;
  fs.writeFile(tmp, JSON.stringify({ format: MANIFEST_FORMAT, version: MANIFEST_VERSION, ...manifest }, null, 1) + '\n');
  fs.rename(tmp, paths.manifest); // the commit point
  for (const [target, data] of [[paths.heads, files.heads], [paths.record, files.record]] as const) {
    fs.writeFile(`${target}.tmp-${process.pid}`, data);
    fs.rename(`${target}.tmp-${process.pid}`, target);
  }
  const keep = new Set([manifest.set, manifest.previous, path.basename(tmp)]);
  for (const entry of readdirSync(paths.sets)) {
    if (entry !== 'latest.json' && !keep.has(entry)) fs.remove(path.join(paths.sets, entry));
  }
}

/** Writes optimiser state, heads and record as one checkpoint set (see writeCheckpointSet). */
export async function saveCheckpoint(
  out: string,
  trainer: HeadTrainer,
  record: Omit<TrainRecord, 'format' | 'version' | 'step' | 'config'>,
  fs: CheckpointFs = nodeFs,
): Promise<void> {
  const step = String(trainer.step);
  const state = await trainer.optimizer.exportState();
  const tensors = new Map<string, SafetensorsInput>();
  trainer.optimizer.params.forEach((p, i) => {
    tensors.set(`m.${p.name}`, { shape: [...p.shape], data: state.m[i] });
    tensors.set(`v.${p.name}`, { shape: [...p.shape], data: state.v[i] });
  });
  const full: TrainRecord = { format: TRAIN_FORMAT, version: TRAIN_VERSION, step: trainer.step, config: trainer.config, ...record };
  writeCheckpointSet(out, trainer.step, {
    optim: serializeSafetensors(tensors, { format: `${TRAIN_FORMAT}-optim`, step, t: String(state.t) }),
    heads: await trainer.heads.toBytes({ 'train.step': step }),
    record: JSON.stringify(full, null, 1) + '\n',
  }, fs);
}

function readChecked(file: string, maxBytes?: number): Uint8Array {
  try {
    return readFileChecked(file, { maxBytes, expected: 'a training checkpoint file' });
  } catch (e) {
    if (e instanceof FileSourceError) throw new TrainCheckpointError(`resume: ${e.message}`, { cause: e });
    throw e;
  }
}

function readJson(file: string, maxBytes: number): unknown {
  const bytes = readChecked(file, maxBytes);
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw new TrainCheckpointError(`resume: ${file} is not JSON: ${(e as Error).message}`, { cause: e });
  }
}

function readManifest(file: string, optional: boolean): Manifest | null {
  if (!existsSync(file)) {
    if (optional) return null;
    throw new TrainCheckpointError(`resume: ${file} is missing`);
  }
  const m = readJson(file, MAX_MANIFEST_BYTES) as Record<string, unknown> | null;
  const isSet = (v: unknown): v is string => typeof v === 'string' && /^step-\d{8}-[a-z0-9]+$/.test(v);
  if (m === null || typeof m !== 'object' || m.format !== MANIFEST_FORMAT || m.version !== MANIFEST_VERSION || !Number.isInteger(m.step) || !isSet(m.set) || !(m.previous === null || isSet(m.previous))) {
    throw new TrainCheckpointError(`resume: ${file} is not a checkpoint manifest; expected {"format": "${MANIFEST_FORMAT}", "version": ${MANIFEST_VERSION}, "step", "set", "previous"}`);
  }
  return { step: m.step as number, set: m.set, previous: m.previous };
}

/** Checks a parsed train.json: every field a resume reads, with its type. */
export function parseTrainRecord(value: unknown, file: string): TrainRecord {
  const r = value as Record<string, unknown> | null;
  if (r === null || typeof r !== 'object' || Array.isArray(r)) throw new TrainCheckpointError(`resume: ${file} is not a JSON object; expected a training record`);
  if (r.format !== TRAIN_FORMAT || r.version !== TRAIN_VERSION) {
    throw new TrainCheckpointError(`resume: ${file} has format ${JSON.stringify(r.format)} version ${JSON.stringify(r.version)}, expected "${TRAIN_FORMAT}" version ${TRAIN_VERSION}`);
  }
  if (!Number.isInteger(r.step) || (r.step as number) < 0) throw new TrainCheckpointError(`resume: ${file}: step ${JSON.stringify(r.step)}, expected an integer >= 0`);
  const c = r.config as Record<string, unknown> | null;
  if (c === null || typeof c !== 'object' || Array.isArray(c)) throw new TrainCheckpointError(`resume: ${file}: config = ${JSON.stringify(r.config)}, expected the training config object`);
  for (const [k, v] of Object.entries(c)) {
    if (k === 'kind' ? typeof v !== 'string' : typeof v !== 'number' && typeof v !== 'boolean') {
      throw new TrainCheckpointError(`resume: ${file}: config.${k} = ${JSON.stringify(v)?.slice(0, 40)}, expected a ${k === 'kind' ? 'string' : 'number or boolean'}`);
    }
  }
  for (const k of ['history', 'evals'] as const) {
    if (r[k] !== undefined && !Array.isArray(r[k])) throw new TrainCheckpointError(`resume: ${file}: ${k} is ${typeof r[k]}, expected an array`);
  }
  if (r.trainMs !== undefined && typeof r.trainMs !== 'number') throw new TrainCheckpointError(`resume: ${file}: trainMs is ${typeof r.trainMs}, expected a number`);
  return r as unknown as TrainRecord;
}

/** A checkpoint ready to resume from: its record, the heads' and optimiser's bytes, and where they came from. */
export interface LoadedCheckpoint {
  record: TrainRecord;
  heads: Uint8Array;
  optim: Uint8Array;
  /** The set directory (or, for the older layout, the heads file) read. */
  from: string;
  optimFile: string;
  /** Said when the latest set was unreadable and the one before it was used. */
  warning?: string;
}

function readSet(dir: string): LoadedCheckpoint {
  const files = { heads: path.join(dir, 'heads.safetensors'), record: path.join(dir, 'train.json'), optim: path.join(dir, 'optim.safetensors') };
  for (const p of Object.values(files)) if (!existsSync(p)) throw new TrainCheckpointError(`resume: ${p} is missing`);
  return checkedSet(files, dir);
}

function checkedSet(files: { heads: string; record: string; optim: string }, from: string, legacy = false): LoadedCheckpoint {
  const record = parseTrainRecord(readJson(files.record, MAX_RECORD_BYTES), files.record);
  const heads = readChecked(files.heads);
  let step: string | undefined;
  try {
    step = parseSafetensors(heads, files.heads).metadata['train.step'];
  } catch (e) {
    throw new TrainCheckpointError(`resume: ${files.heads} is not a safetensors file: ${(e as Error).message}`, { cause: e });
  }
  if (step !== String(record.step)) {
    throw new TrainCheckpointError(`resume: ${files.heads} was written at step ${step ?? '(none: not a training checkpoint)'}, ${files.record} at step ${record.step}; ${legacy ? 'the run stopped between writes, resume from an earlier copy' : 'the set is damaged'}`);
  }
  return { record, heads, optim: readChecked(files.optim), from, optimFile: files.optim };
}

/**
 * Reads the latest checkpoint of `out`: the set its manifest names, or the one before when that
 * one is unreadable (said in `warning`); checkpoints of the older layout are read from their sidecars.
 */
export function readCheckpoint(out: string): LoadedCheckpoint {
  const paths = checkpointPaths(out);
  const manifest = readManifest(paths.manifest, true);
  if (manifest) {
    try {
      return readSet(path.join(paths.sets, manifest.set));
    } catch (e) {
      if (!(e instanceof TrainCheckpointError) || manifest.previous === null) throw e;
      const earlier = readSet(path.join(paths.sets, manifest.previous));
      return { ...earlier, warning: `${e.message}; resuming from the set before it, ${earlier.from} (step ${earlier.record.step})` };
    }
  }
  for (const p of [paths.heads, paths.record, paths.optim]) {
    if (!existsSync(p)) throw new TrainCheckpointError(`resume: ${paths.manifest} is missing, and so is ${p} (a checkpoint is a set under ${paths.sets} named by ${paths.manifest})`);
  }
  return checkedSet({ heads: paths.heads, record: paths.record, optim: paths.optim }, paths.heads, true);
}

/** Restores the AdamW state of a checkpoint into `trainer` (whose heads came from the same checkpoint) and its step. */
export function restoreOptimizer(checkpoint: LoadedCheckpoint, trainer: HeadTrainer): void {
  const { optimFile: file, record } = checkpoint;
  let parsed;
  try {
    parsed = parseSafetensors(checkpoint.optim, file);
  } catch (e) {
    throw new TrainCheckpointError(`resume: ${file} is not a safetensors file: ${(e as Error).message}`, { cause: e });
  }
  if (parsed.metadata.step !== String(record.step)) {
    throw new TrainCheckpointError(`resume: ${file} was written at step ${parsed.metadata.step}, the record at step ${record.step}`);
  }
  const t = Number(parsed.metadata.t);
  if (!Number.isInteger(t) || t < 0) throw new TrainCheckpointError(`resume: ${file}: metadata t = ${JSON.stringify(parsed.metadata.t)}, expected the optimiser's step count`);
  const m: Float32Array[] = [];
  const v: Float32Array[] = [];
  for (const p of trainer.optimizer.params) {
    for (const [list, key] of [[m, `m.${p.name}`], [v, `v.${p.name}`]] as const) {
      const tensor = parsed.tensors.get(key);
      if (!tensor || tensor.data.length !== p.value.size) throw new TrainCheckpointError(`resume: ${file}: tensor ${key} is ${tensor ? `of ${tensor.data.length} values` : 'missing'}, expected ${p.value.size} values`);
      list.push(tensor.data);
    }
  }
  trainer.optimizer.importState({ t, m, v });
  trainer.step = record.step;
}

/** A resumed run must train the same heads the same way; only `steps` may grow. */
export function checkResumable(saved: TrainConfig, now: TrainConfig, file: string): void {
  if (saved === null || typeof saved !== 'object') throw new TrainCheckpointError(`resume: ${file}: config = ${JSON.stringify(saved)}, expected the training config object`);
  for (const k of Object.keys(now) as (keyof TrainConfig)[]) {
    if (k === 'steps' || k === 'evalEvery') continue;
    // an option added after the checkpoint was written, asked for at its default, is what that run used
    if (saved[k] === undefined && now[k] === (DEFAULT_TRAIN_CONFIG as Partial<TrainConfig>)[k]) continue;
    if (saved[k] !== now[k]) {
      throw new TrainCheckpointError(`resume: ${file} was trained with ${k} = ${JSON.stringify(saved[k])}, this run asks for ${JSON.stringify(now[k])}`);
    }
  }
}
