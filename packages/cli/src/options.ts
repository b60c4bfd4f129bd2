// Parsing and checking of options shared by several commands. Every file an option names is
// checked before it is trusted (a regular file of bounded size), and every output path before
// any work starts, so a typo costs no training time.
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { FileSourceError, parseSafetensors, readFileChecked, WEIGHT_DTYPES, type ReadOptions, type WeightDType } from '@hydra-ts/model';
import { CandidateTree, DynamicTree, getTree, parseDynamicTree, rootOnly, TreeError } from '@hydra-ts/tree';
import { greedyVerifier, samplingVerifier, typicalVerifier, type Verifier } from '@hydra-ts/verify';
import { UsageError } from './errors';

export const DECODERS = ['ar', 'medusa', 'hydra', 'hydra++', 'eagle', 'eagle3'] as const;
export type DecoderKind = (typeof DECODERS)[number];

/** A flag's value as a number; '' and blanks are not 0. */
function asNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  const s = String(value).trim();
  return s === '' ? NaN : Number(s);
}

export function intOption(name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = asNumber(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    throw new UsageError(`--${name} ${String(value)}: expected an integer ${range}`);
  }
  return n;
}

export function numberOption(name: string, value: unknown, min: number, max = Infinity): number {
  const n = asNumber(value);
  if (!Number.isFinite(n) || n < min || n > max) {
    const range = max === Infinity ? `>= ${min}` : `in [${min}, ${max}]`;
    throw new UsageError(`--${name} ${String(value)}: expected a number ${range}`);
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

/** The bytes of the file an option names: a regular file within opts.maxBytes, else FileSourceError naming the option. */
export function inputFile(option: string, file: string, opts: ReadOptions = {}): Uint8Array {
  try {
    return readFileChecked(file, opts);
  } catch (e) {
    if (e instanceof FileSourceError) throw new FileSourceError(`--${option} ${e.message}`, { cause: e });
    throw e;
  }
}

/** A tree file is at most a few MiB (1024 nodes); refuse anything far larger unread. */
const MAX_TREE_FILE_BYTES = 16 * 2 ** 20;

/** What --tree names: a fixed tree, or a dynamic one grown each step. */
export type TreeSpec = CandidateTree | DynamicTree;

/** treeOption, or 'dynamic' / 'dynamic-<N>': a tree grown each step from the head's draft probabilities. */
export function treeSpecOption(value: unknown, option = 'tree'): TreeSpec {
  return parseDynamicTree(String(value)) ?? treeOption(value, option);
}

/**
 * A built-in tree name, chain-<n>, 'root' (the root alone: the decoder runs as AR), or a JSON tree
 * file (one with no paths, as `hydra tune --out` writes where AR is fastest, is the root alone too);
 * `option` names the flag in errors.
 */
export function treeOption(value: unknown, option = 'tree'): CandidateTree {
  const v = String(value);
  if (parseDynamicTree(v)) throw new UsageError(`--${option} ${v}: a fixed tree is needed here (a built-in name, chain-<n>, root or a tree file); dynamic trees are for decoding`);
  if (v.endsWith('.json') || existsSync(v)) {
    if (!existsSync(v)) throw new UsageError(`--${option} ${v}: file not found`);
    const bytes = inputFile(option, v, { maxBytes: MAX_TREE_FILE_BYTES, expected: 'a tree JSON file' });
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch (e) {
      throw new TreeError(`tree file ${v} is not UTF-8 text; expected a tree JSON file`, { cause: e });
    }
    if (isRootOnlyJson(text)) return rootOnly();
    return CandidateTree.fromJSON(text, { file: v });
  }
  if (v === 'root') return rootOnly();
  return getTree(v);
}

/**
 * A file the command will write: not a directory, in an existing directory it may write to.
 * Checked before any work so that a bad path does not cost a training run.
 */
export function outputFileOption(option: string, file: string): string {
  let st;
  try {
    st = statSync(file);
  } catch {
    st = null;
  }
  if (st?.isDirectory()) throw new UsageError(`--${option} ${file}: is a directory, expected a file path to write`);
  writableDirectory(option, file, path.dirname(path.resolve(file)));
  return file;
}

/**
 * A directory the command will fill (created if missing, with its parents): not an existing
 * file; one already holding `guard` (a model) is refused unless `force`.
 */
export function outputDirOption(option: string, dir: string, guard: readonly string[], force: boolean): string {
  let st;
  try {
    st = statSync(dir);
  } catch {
    st = null;
  }
  if (st && !st.isDirectory()) throw new UsageError(`--${option} ${dir}: is an existing file, expected a directory (missing or empty)`);
  if (st) {
    const present = guard.filter((f) => existsSync(path.join(dir, f)));
    if (present.length > 0 && !force) throw new UsageError(`--${option} ${dir}: already holds ${present.join(', ')}; pass --force to overwrite, or choose another directory`);
    writableDirectory(option, dir, dir);
    return dir;
  }
  // The nearest existing ancestor is where mkdir will start.
  let up = path.dirname(path.resolve(dir));
  while (!existsSync(up) && path.dirname(up) !== up) up = path.dirname(up);
  writableDirectory(option, dir, up, true);
  return dir;
}

function writableDirectory(option: string, target: string, dir: string, create = false): void {
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new UsageError(`--${option} ${target}: directory ${dir} does not exist; create it first`);
  }
  if (!st.isDirectory()) throw new UsageError(`--${option} ${target}: ${dir} is not a directory`);
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new UsageError(`--${option} ${target}: ${create ? `cannot create it in ${dir}` : `directory ${dir} is not writable`}`);
  }
}

/** --max-context: a cap on the model's context (KV cache rows). */
export function maxContextOption(value: unknown): number | undefined {
  return value === undefined ? undefined : intOption('max-context', value, 2);
}

/**
 * The kind a heads file records (metadata config.kind), or undefined when the file cannot say;
 * loadHead reports what is wrong with such a file.
 */
export function headsFileKind(file: string): string | undefined {
  try {
    const config = JSON.parse(parseSafetensors(readFileChecked(file, { expected: 'a heads file (.safetensors)' }), file).metadata.config ?? 'null');
    return typeof config?.kind === 'string' ? config.kind : undefined;
  } catch {
    return undefined;
  }
}

/** A heads file records its kind; running it as another decoder would report what did not run. */
export function checkHeadKind(file: string, kind: string, decoder: string): void {
  if (kind !== decoder) {
    throw new UsageError(`--heads ${file} holds ${kind} heads, but --decoder is ${decoder}; pass --decoder ${kind}, or a ${decoder} heads file`);
  }
}

/** The tree must be one the model can run: ranks within the vocabulary, rows within the context. */
export function checkTreeFits(tree: TreeSpec, option: string, spec: string | undefined, config: { vocabSize: number; maxSeqLen: number }): void {
  if (tree instanceof DynamicTree) {
    if (tree.topK > config.vocabSize) throw new UsageError(`--${option} ${tree.name}: top-${tree.topK} of a vocabulary of ${config.vocabSize}`);
    if (tree.maxNodes + 2 > config.maxSeqLen) throw new UsageError(`--${option} ${tree.name}: ${tree.maxNodes + 1} rows and a prompt token exceed the model's context of ${config.maxSeqLen}`);
    return;
  }
  const where = spec !== undefined && (spec.endsWith('.json') || existsSync(spec)) ? `--${option} ${spec}` : `--${option} ${tree.name}`;
  tree.checkFits({ vocabSize: config.vocabSize, contextLength: config.maxSeqLen }, where);
}

export function verifierOption(value: unknown, temperature: number, topK?: number, topP?: number): Verifier {
  switch (String(value)) {
    case 'greedy':
      // The greedy verifier takes the argmax: a temperature would sample only the first token.
      if (temperature > 0) throw new UsageError(`--verifier greedy with --temperature ${temperature}: the greedy verifier ignores the temperature; use --verifier sample, or drop --temperature`);
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

/** A tree JSON whose paths are empty: the root alone. */
function isRootOnlyJson(text: string): boolean {
  try {
    const json = JSON.parse(text) as { paths?: unknown } | null;
    return json !== null && typeof json === 'object' && Array.isArray(json.paths) && json.paths.length === 0;
  } catch {
    return false; // fromJSON says what is wrong
  }
}
