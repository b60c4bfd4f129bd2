// Parsing and checking of options shared by several commands.
import { readFileSync, existsSync } from 'node:fs';
import { WEIGHT_DTYPES, type WeightDType } from '@hydra-ts/model';
import { CandidateTree, getTree, rootOnly } from '@hydra-ts/tree';
import { greedyVerifier, samplingVerifier, typicalVerifier, type Verifier } from '@hydra-ts/verify';
import { UsageError } from './errors';

export const DECODERS = ['ar', 'medusa', 'hydra', 'hydra++'] as const;
export type DecoderKind = (typeof DECODERS)[number];

export function intOption(name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} ${String(value)}: expected an integer in [${min}, ${max === Number.MAX_SAFE_INTEGER ? '∞' : max}]`);
  }
  return n;
}

export function numberOption(name: string, value: unknown, min: number, max = Infinity): number {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isFinite(n) || n < min || n > max) {
    throw new UsageError(`--${name} ${String(value)}: expected a number in [${min}, ${max}]`);
  }
  return n;
}

/** --dtype: how the base model stores its weight matrices. */
export function dtypeOption(value: unknown): WeightDType {
  const v = String(value);
  if (!(WEIGHT_DTYPES as readonly string[]).includes(v)) throw new UsageError(`--dtype ${v}: expected one of ${WEIGHT_DTYPES.join(', ')}`);
  return v as WeightDType;
}

export function decoderOption(value: unknown): DecoderKind {
  const v = String(value);
  if (!(DECODERS as readonly string[]).includes(v)) {
    throw new UsageError(`--decoder ${v}: expected one of ${DECODERS.join(', ')}`);
  }
  return v as DecoderKind;
}

/**
 * A built-in tree name, chain-<n>, 'root' (the root alone: the decoder runs as AR), or a JSON tree
 * file (one with no paths, as `hydra tune --out` writes where AR is fastest, is the root alone too).
 */
export function treeOption(value: unknown): CandidateTree {
  const v = String(value);
  if (v.endsWith('.json') || existsSync(v)) {
    if (!existsSync(v)) throw new UsageError(`--tree ${v}: file not found`);
    const json = JSON.parse(readFileSync(v, 'utf8'));
    if (json && Array.isArray(json.paths) && json.paths.length === 0) return rootOnly();
    return CandidateTree.fromJSON(json);
  }
  if (v === 'root') return rootOnly();
  return getTree(v);
}

export function verifierOption(value: unknown, temperature: number, topK?: number, topP?: number): Verifier {
  switch (String(value)) {
    case 'greedy':
      return greedyVerifier();
    case 'typical':
      return typicalVerifier({ temperature });
    case 'sample':
      return samplingVerifier({ temperature, topK, topP });
    default:
      throw new UsageError(`--verifier ${String(value)}: expected greedy, typical or sample`);
  }
}

/** The adapter's name, with the software driver's LP_NUM_THREADS when the adapter is llvmpipe. */
export function deviceLine(name: string, threads = process.env.LP_NUM_THREADS ?? 'default'): string {
  return name + threadsNote(name, threads);
}

/** ' (LP_NUM_THREADS n)' for the llvmpipe adapter when `threads` is known, else ''. */
export function threadsNote(name: string, threads: string | undefined): string {
  return threads && /llvmpipe/.test(name) ? ` (LP_NUM_THREADS ${threads})` : '';
}
