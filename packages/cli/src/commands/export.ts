// hydra export: draft heads -> the files a serving engine loads (vLLM, TGI, SGLang); see docs/serving.md.
// Heads of a kind the format cannot hold are refused by exportHead (HeadExportError, status 2) saying why.
import { existsSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { EAGLE_ENGINES, ENGINE_FORMATS, exportHead, loadHead, type EagleEngine, type EngineFormat } from '@hydra-ts/heads';
import { UsageError } from '../errors';
import { loadModel } from './generate';

export interface ExportFlags {
  model?: string;
  heads?: string;
  format?: string;
  out?: string;
  baseModel?: string;
  dtype?: string;
  engine?: string;
}

const DTYPES = { f32: 'F32', f16: 'F16', bf16: 'BF16' } as const;

export async function runExport(flags: ExportFlags): Promise<void> {
  if (!flags.heads) throw new UsageError('--heads <file> is required (a heads file from `hydra train`, or an engine\'s heads directory)');
  if (!flags.format || !(ENGINE_FORMATS as readonly string[]).includes(flags.format)) throw new UsageError(`--format ${flags.format ?? '(missing)'}: expected one of ${ENGINE_FORMATS.join(', ')}`);
  if (!flags.out) throw new UsageError('--out <dir> is required');
  const dtype = DTYPES[(flags.dtype ?? 'f32') as keyof typeof DTYPES];
  if (!dtype) throw new UsageError(`--dtype ${flags.dtype}: expected one of ${Object.keys(DTYPES).join(', ')}`);
  if (flags.engine !== undefined && flags.format !== 'eagle') throw new UsageError(`--engine is an option of --format eagle (vllm or sglang), not of ${flags.format}`);
  if (flags.engine !== undefined && !(EAGLE_ENGINES as readonly string[]).includes(flags.engine)) throw new UsageError(`--engine ${flags.engine}: expected one of ${EAGLE_ENGINES.join(', ')}`);
  const engine = flags.engine as EagleEngine | undefined;
  const { model, path: modelPath } = await loadModel(flags.model);
  const head = await loadHead(model, flags.heads); // checked against the base model
  // TGI starts the base model from base_model_name_or_path: a Hugging Face directory is a usable default
  const hfDir = statSync(modelPath).isDirectory() && existsSync(path.join(modelPath, 'config.json'));
  const baseModel = flags.baseModel ?? (hfDir ? path.resolve(modelPath) : undefined);
  const { files } = await exportHead(head, flags.format as EngineFormat, { baseModel, dtype, engine });
  mkdirSync(flags.out, { recursive: true });
  for (const [name, bytes] of files) {
    const dest = path.join(flags.out, name);
    writeFileSync(dest + '.tmp', bytes);
    renameSync(dest + '.tmp', dest);
  }
  const e3 = head.config.eagle3;
  const what =
    flags.format === 'eagle' ? `an EAGLE draft model for ${engine ?? 'vllm'}`
    : flags.format === 'eagle3' && e3 ? `an EAGLE-3 draft model for vLLM and SGLang: draft vocabulary ${e3.draftVocabSize} of ${head.config.vocabSize}, features of base layers ${e3.featureLayers.join(', ')}`
    : `${head.config.kind}, ${head.config.numHeads} heads`;
  process.stderr.write(`wrote ${[...files.keys()].join(', ')} (${what}) to ${flags.out} as ${flags.format}\n`);
  // TGI reads base_model_name_or_path; vLLM and SGLang take the target model on their command line
  if (baseModel === undefined && flags.format !== 'vllm-medusa' && flags.format !== 'eagle' && flags.format !== 'eagle3') {
    process.stderr.write('note: no --base-model given, so config.json has no base_model_name_or_path; TGI needs it (add it, or export again with --base-model <hub id or path>)\n');
  }
  head.dispose();
  model.dispose();
}
