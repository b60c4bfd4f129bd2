// Checkpoint sets against a kill at every point of a save: whichever file operation a save dies
// before, the checkpoint left behind resumes, at the old step or the new one, never a mix.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseSafetensors, serializeSafetensors } from '@hydra-ts/model';
import { afterAll, describe, expect, it } from 'vitest';
import { checkpointPaths, readCheckpoint, writeCheckpointSet, type CheckpointFs, type CheckpointSet } from './checkpoint';
import { TrainCheckpointError } from './errors';
import { DEFAULT_TRAIN_CONFIG } from './trainer';

const root = mkdtempSync(path.join(tmpdir(), 'hydra-ckpt-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A set whose three files all say `step` (heads values = step, so a mix would show). */
function set(step: number): CheckpointSet {
  const config = { ...DEFAULT_TRAIN_CONFIG, kind: 'medusa' };
  return {
    heads: serializeSafetensors({ w: { shape: [2], data: new Float32Array([step, step]) } }, { 'train.step': String(step) }),
    optim: serializeSafetensors({ 'm.w': { shape: [2], data: new Float32Array(2) } }, { step: String(step), t: String(step) }),
    record: JSON.stringify({ format: 'hydra-ts-train', version: 1, step, config, history: [], evals: [], trainMs: 0 }),
  };
}

/** Node's fs, dying (throwing) at operation number `killAt`. */
function dyingFs(killAt: number): CheckpointFs & { ops: number } {
  const real: CheckpointFs = {
    writeFile: (f, d) => writeFileSync(f, d),
    rename: (a, b) => renameSync(a, b),
    mkdir: (d) => mkdirSync(d, { recursive: true }),
    remove: (t) => rmSync(t, { recursive: true, force: true }),
  };
  const fs = { ops: 0 } as CheckpointFs & { ops: number };
  for (const op of ['writeFile', 'rename', 'mkdir', 'remove'] as const) {
    (fs as unknown as Record<string, unknown>)[op] = (...args: unknown[]) => {
      if (fs.ops++ === killAt) throw new Error(`killed before ${op} ${String(args[0])}`);
      (real[op] as (...a: unknown[]) => void)(...args);
    };
  }
  return fs;
}

function resumedStep(out: string): number {
  const c = readCheckpoint(out);
  const heads = parseSafetensors(c.heads).tensors.get('w')!.data;
  const optimStep = Number(parseSafetensors(c.optim).metadata.step);
  // One set: the heads' values, their metadata, the optimiser and the record all agree.
  expect(heads[0]).toBe(c.record.step);
  expect(optimStep).toBe(c.record.step);
  return c.record.step;
}

describe('checkpoint sets', () => {
  it('a kill before any file operation of a save leaves a set that resumes, old or new', () => {
    let completed = false;
    let cases = 0;
    for (let killAt = 0; !completed; killAt++) {
      const out = path.join(root, `k${killAt}`, 'heads.safetensors');
      writeCheckpointSet(out, 10, set(10));
      writeCheckpointSet(out, 20, set(20));
      const fs = dyingFs(killAt);
      try {
        writeCheckpointSet(out, 30, set(30), fs);
        completed = true;
      } catch (e) {
        expect((e as Error).message).toMatch(/^killed before/);
      }
      const step = resumedStep(out);
      expect([20, 30]).toContain(step);
      // The manifest is renamed into place at operation 5 (mkdir, three writes, manifest write, rename).
      expect(step).toBe(killAt > 5 || completed ? 30 : 20);
      cases++;
    }
    expect(cases).toBeGreaterThanOrEqual(11);
  });

  it('keeps the last good set beside the latest, and resumes from it when the latest is damaged', () => {
    const out = path.join(root, 'keep', 'h.safetensors');
    for (const step of [1, 2, 3, 4]) writeCheckpointSet(out, step, set(step));
    const { sets, manifest } = checkpointPaths(out);
    expect(readdirSync(sets).filter((e) => e.startsWith('step-')).sort().map((e) => e.slice(0, 13))).toEqual(['step-00000003', 'step-00000004']);
    expect(existsSync(manifest)).toBe(true);
    const latest = readCheckpoint(out).from;
    writeFileSync(path.join(latest, 'heads.safetensors'), 'garbage');
    const c = readCheckpoint(out);
    expect(c.record.step).toBe(3);
    expect(c.warning).toMatch(/heads\.safetensors is not a safetensors file.*resuming from the set before it, .*step-00000003.* \(step 3\)/);
    // The same step saved twice (after τ is measured) makes a new set, never rewrites the one the manifest names.
    writeCheckpointSet(out, 4, set(4));
    writeCheckpointSet(out, 4, set(4));
    expect(resumedStep(out)).toBe(4);
  });

  it('refuses a damaged manifest, a record whose config is null, and a directory as a file', () => {
    const out = path.join(root, 'bad', 'h.safetensors');
    writeCheckpointSet(out, 5, set(5));
    const { manifest } = checkpointPaths(out);
    const good = readCheckpoint(out).from;
    writeFileSync(manifest, '{"format": "hydra-ts-train-checkpoints", "version": 1, "step": 5, "set": "../../etc", "previous": null}');
    expect(() => readCheckpoint(out)).toThrow(/latest\.json is not a checkpoint manifest/);
    writeFileSync(manifest, JSON.stringify({ format: 'hydra-ts-train-checkpoints', version: 1, step: 5, set: path.basename(good), previous: null }));
    const rec = JSON.parse(set(5).record);
    writeFileSync(path.join(good, 'train.json'), JSON.stringify({ ...rec, config: null }));
    expect(() => readCheckpoint(out)).toThrow(new TrainCheckpointError(`resume: ${path.join(good, 'train.json')}: config = null, expected the training config object`));
    rmSync(path.join(good, 'train.json'));
    mkdirSync(path.join(good, 'train.json'));
    expect(() => readCheckpoint(out)).toThrow(/train\.json: is a directory, expected a training checkpoint file/);
  });
});
