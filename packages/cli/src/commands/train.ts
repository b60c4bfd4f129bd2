// hydra train: train Medusa / Hydra / Hydra++ draft heads for a base model on a corpus, with the
// base model as teacher; checkpoints (resumable), curves and τ on held-out prompts.
import { existsSync } from 'node:fs';
import { SingleBar } from 'cli-progress';
import { defaultFeatureLayers, HEAD_KINDS, type HeadKind } from '@hydra-ts/heads';
import {
  checkpointPaths,
  checkResumable,
  curvesHtml,
  DataError,
  HeadTrainer,
  measureAcceptance,
  parseCorpus,
  readCheckpoint,
  restoreOptimizer,
  saveCheckpoint,
  TeacherCache,
  TrainableHeads,
  draftCoverage,
  draftVocabulary,
  trainConfig,
  windows,
  writeFileAtomic,
  type AcceptanceResult,
  type HeadAccuracy,
  type StepStats,
  type TrainConfig,
} from '@hydra-ts/train';
import { getTree } from '@hydra-ts/tree';
import { UsageError } from '../errors';
import { inputFile, intOption, numberOption, outputFileOption } from '../options';
import { loadModel } from './generate';

export interface TrainFlags {
  /** eagle: train the draft layer the engine runs (vllm: no input norm, no fc bias; sglang: no input norm). */
  eagleEngine?: string;
  model?: string;
  head?: string;
  /** One corpus file, or several (--data given more than once): their sequences are pooled. */
  data?: string | string[];
  out?: string;
  steps?: number | string;
  batch?: number | string;
  length?: number | string;
  lr?: number | string;
  warmup?: number | string;
  finalLrMult?: number | string;
  weightDecay?: number | string;
  clip?: number | string;
  dropout?: number | string;
  heads?: number | string;
  layers?: number | string;
  sharedOutput?: boolean;
  lmWeight?: number | string;
  teacherWeight?: number | string;
  /** 'full' or k: how the teacher distribution is kept (default: full up to 256 MiB, else top-32). */
  teacherTopK?: number | string;
  featureWeight?: number | string;
  featureNoise?: number | string;
  decayHeads?: number | string;
  /** The draft vocabulary's size (the data's most frequent tokens): eagle3, medusa, hydra, hydra++. */
  draftVocab?: number | string;
  holdout?: number | string;
  seed?: number | string;
  evalEvery?: number | string;
  evalPrompts?: string;
  evalTree?: string;
  checkpointEvery?: number | string;
  resume?: boolean;
  quiet?: boolean;
  maxContext?: number | string;
  allowNonfinite?: boolean;
}

/** Corpora are read whole; Node cannot hold a file past 2 GiB in one buffer anyway. */
const MAX_CORPUS_BYTES = 2 ** 31 - 1;

/** Prompts for τ: one a line (text) from the file; these must not be in the training data. */
function evalPrompts(file: string | undefined): string[] {
  if (!file) return [];
  if (!existsSync(file)) throw new UsageError(`--eval-prompts ${file}: no such file`);
  const bytes = inputFile('eval-prompts', file, { maxBytes: 64 * 2 ** 20, expected: 'a text file of prompts, one a line' });
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e) {
    throw new UsageError(`--eval-prompts ${file}: not UTF-8 text; expected prompts, one a line`, { cause: e });
  }
  const prompts = text.split('\n').map((l) => l.trim()).filter(Boolean);
  if (prompts.length === 0) throw new UsageError(`--eval-prompts ${file}: no prompts; expected one a line`);
  return prompts;
}

/** --eagle-engine: the layer EAGLE's engines run, so `hydra export --format eagle --engine <same>` can write the head. */
/** --teacher-top-k: 'full' or an integer k in [1, 64]; undefined keeps the size rule. */
function teacherTopKOption(value: number | string | undefined): 'full' | number | undefined {
  if (value === undefined) return undefined;
  if (String(value) === 'full') return 'full';
  const k = Number(value);
  if (!/^\d+$/.test(String(value)) || k < 1 || k > 64) throw new UsageError(`--teacher-top-k ${value}: expected full or an integer k in [1, 64]`);
  return k;
}

function eagleEngineOption(value: string | undefined, kind: HeadKind): { inputNorm?: boolean; fcBias?: boolean } {
  if (value === undefined) return {};
  if (kind !== 'eagle') throw new UsageError(`--eagle-engine is an option of --head eagle, not of --head ${kind}`);
  if (value !== 'vllm' && value !== 'sglang') throw new UsageError(`--eagle-engine ${value}: expected vllm or sglang`);
  // both engines run EAGLE's layer 0 without an input norm; vLLM's fc has no bias
  return { inputNorm: false, fcBias: value === 'sglang' };
}

/** The record of a checkpoint set, for messages. */
const path_ = (from: string): string => (from.endsWith('.safetensors') ? checkpointPaths(from).record : `${from}/train.json`);

export async function runTrain(flags: TrainFlags): Promise<void> {
  if (!flags.head || !HEAD_KINDS.includes(flags.head as HeadKind)) throw new UsageError(`--head ${flags.head ?? '(missing)'}: expected one of ${HEAD_KINDS.join(', ')}`);
  const teacherTopK = teacherTopKOption(flags.teacherTopK);
  const dataFiles = flags.data === undefined ? [] : [flags.data].flat().map(String);
  if (dataFiles.length === 0) throw new UsageError('--data <corpus> is required (a token file from `hydra distill`, JSONL or text)');
  for (const f of dataFiles) if (!existsSync(f)) throw new UsageError(`--data ${f}: no such file`);
  if (!flags.out) throw new UsageError('--out <heads.safetensors> is required');
  outputFileOption('out', flags.out);
  const kind = flags.head as HeadKind;
  const opt = <T>(v: T | undefined, f: (v: T) => number) => (v === undefined ? undefined : f(v));
  const config: TrainConfig = trainConfig({
    kind,
    numHeads: opt(flags.heads, (v) => intOption('heads', v, 1, 64)),
    layers: opt(flags.layers, (v) => intOption('layers', v, 1, 64)),
    sharedOutput: flags.sharedOutput, // unset: the kind's default (eagle heads always share the base output layer)
    steps: opt(flags.steps, (v) => intOption('steps', v, 1)),
    batch: opt(flags.batch, (v) => intOption('batch', v, 1, 4096)),
    length: opt(flags.length, (v) => intOption('length', v, 3)),
    lr: opt(flags.lr, (v) => numberOption('lr', v, 0)),
    warmup: opt(flags.warmup, (v) => intOption('warmup', v, 0)),
    finalLrMult: opt(flags.finalLrMult, (v) => numberOption('final-lr-mult', v, 0, 1)),
    weightDecay: opt(flags.weightDecay, (v) => numberOption('weight-decay', v, 0)),
    clip: opt(flags.clip, (v) => numberOption('clip', v, 0)),
    dropout: opt(flags.dropout, (v) => numberOption('dropout', v, 0, 0.99)),
    lmWeight: opt(flags.lmWeight, (v) => numberOption('lm-weight', v, 0)),
    teacherWeight: opt(flags.teacherWeight, (v) => numberOption('teacher-weight', v, 0)),
    featureWeight: opt(flags.featureWeight, (v) => numberOption('feature-weight', v, 0)),
    featureNoise: opt(flags.featureNoise, (v) => numberOption('feature-noise', v, 0)),
    ...eagleEngineOption(flags.eagleEngine, kind),
    decayHeads: opt(flags.decayHeads, (v) => numberOption('decay-heads', v, 0, 1)),
    draftVocabSize: opt(flags.draftVocab, (v) => intOption('draft-vocab', v, 1)),
    holdout: opt(flags.holdout, (v) => numberOption('holdout', v, 0, 0.9)),
    seed: opt(flags.seed, (v) => intOption('seed', v, 0, 2 ** 31 - 1)),
    evalEvery: opt(flags.evalEvery, (v) => intOption('eval-every', v, 0)),
  } as Partial<TrainConfig> & { kind: HeadKind });
  const checkpointEvery = intOption('checkpoint-every', flags.checkpointEvery ?? 100, 0);
  const prompts = evalPrompts(flags.evalPrompts);
  const tree = getTree(flags.evalTree ?? 'cpu-16');
  if (prompts.length > 0 && tree.depth > config.numHeads) throw new UsageError(`--eval-tree ${tree.name} has depth ${tree.depth}, deeper than --heads ${config.numHeads}`);
  const log = (s: string) => process.stderr.write(s + '\n');

  // Read every corpus (and the checkpoint to resume) before the model: a bad file costs nothing.
  const dataBytes = dataFiles.map((f) => inputFile('data', f, { maxBytes: MAX_CORPUS_BYTES, expected: 'a corpus file (token file, JSONL or text)' }));
  const resumed = flags.resume ? readCheckpoint(flags.out) : null;
  if (resumed) checkResumable(resumed.record.config, config, path_(resumed.from));
  const { model, path } = await loadModel(flags.model, undefined, undefined, flags);
  const parts = dataFiles.map((f, i) => parseCorpus(dataBytes[i], f, model.config.vocabSize, model.tokenizer));
  const corpus = { vocabSize: model.config.vocabSize, sequences: parts.flatMap((c) => c.sequences) };
  if (config.length > model.config.maxSeqLen) throw new UsageError(`--length ${config.length}: the model's context is ${model.config.maxSeqLen}`);
  const wins = windows(corpus, config.length);
  // The trainer would find this only after the teacher cache is built.
  if (wins.length === 0) throw new DataError(`--data ${dataFiles.join(', ')}: no sequence of at least 3 tokens to train on (${corpus.sequences.length} sequences)`);
  log(`data: ${corpus.sequences.length} sequences -> ${wins.length} windows of <= ${config.length} tokens (${wins.reduce((a, w) => a + w.length, 0)} tokens)`);

  if (config.draftVocabSize > model.config.vocabSize) throw new UsageError(`--draft-vocab ${config.draftVocabSize}: the model's vocabulary has ${model.config.vocabSize} tokens`);
  // The draft vocabulary (the file's when resuming, else the data's most frequent tokens; EAGLE-3's
  // always, the other kinds' with --draft-vocab) and EAGLE-3's feature layers
  const resumedHeads = resumed ? await TrainableHeads.fromFile(model, resumed.heads) : null;
  const all = Int32Array.from(wins.flatMap((w) => Array.from(w)));
  const vocabSize = kind === 'eagle3' ? config.draftVocabSize || Math.min(model.config.vocabSize, 32000) : config.draftVocabSize;
  const vocabulary = resumed ? resumedHeads!.draftVocabulary : vocabSize > 0 ? draftVocabulary(all, model.config.vocabSize, vocabSize) : null;
  const featureLayers = kind === 'eagle3' ? [...(resumedHeads?.config.eagle3!.featureLayers ?? defaultFeatureLayers(model.config.nLayers))] as [number, number, number] : null;
  const features = featureLayers ? `features from base layers ${featureLayers.join(', ')}` : null;
  if (vocabulary) log(`draft vocabulary: ${vocabulary.length} of ${model.config.vocabSize} tokens, covering ${(100 * draftCoverage(all, vocabulary)).toFixed(1)} % of the data${features ? `; ${features}` : ''}`);
  else if (features) log(features);

  let t0 = performance.now();
  const teacher = await TeacherCache.build(model, wins, { topK: teacherTopK, ...(featureLayers ? { capture: featureLayers } : {}), ...(vocabulary ? { vocabulary } : {}) });
  log(`teacher: base hidden states and distributions for every position in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  log(`teacher mode: ${teacher.mode.topK === 'full' ? 'full' : `top-${teacher.mode.topK}`} (${teacher.mode.reason}), ${(teacher.mode.bytes / 2 ** 20).toFixed(1)} MiB on the GPU`);

  let history: StepStats[] = [];
  let evals: HeadAccuracy[] = [];
  let trainMs = 0;
  let heads: TrainableHeads;
  if (resumed && resumedHeads) {
    if (resumed.warning) log(`warning: ${resumed.warning}`);
    heads = resumedHeads;
    history = resumed.record.history ?? [];
    evals = resumed.record.evals ?? [];
    trainMs = resumed.record.trainMs ?? 0;
  } else {
    const eagle = kind === 'eagle' ? { inputNorm: config.inputNorm, fcBias: config.fcBias } : featureLayers ? { featureLayers } : {};
    heads = await TrainableHeads.create(model, { kind, numHeads: config.numHeads, layers: config.layers, sharedOutput: config.sharedOutput, seed: config.seed, ...eagle, ...(vocabulary ? { draftVocabulary: vocabulary } : {}) });
  }
  const trainer = new HeadTrainer(heads, teacher, config);
  if (resumed) {
    restoreOptimizer(resumed, trainer);
    log(`resumed at step ${trainer.step} of ${config.steps}`);
  }
  const paths = checkpointPaths(flags.out);
  const title = kind === 'eagle' || kind === 'eagle3' ? `${kind} head (one decoder layer, ${kind === 'eagle3' ? `unrolled ${config.numHeads} steps in training, ` : ''}drafting up to depth ${config.numHeads}) on ${path}` : `${kind} heads (${config.numHeads} heads, ${config.layers} layer${config.layers > 1 ? 's' : ''} each) on ${path}`;
  let acceptance: Record<string, AcceptanceResult> | undefined;
  const save = async () => {
    const record = { data: dataFiles.length === 1 ? dataFiles[0] : dataFiles, model: path, history, evals, trainMs, acceptance: acceptance as Record<string, unknown> | undefined };
    await saveCheckpoint(flags.out!, trainer, record);
    const notes = [`data ${dataFiles.join(' + ')}; ${config.steps} steps of ${config.batch} × ${config.length} tokens; lr ${config.lr}; teacher weight ${config.teacherWeight}, lm weight ${config.lmWeight}${kind === 'eagle' ? `, feature weight ${config.featureWeight}, feature noise ${config.featureNoise}` : ''}${vocabulary ? `, draft vocabulary ${vocabulary.length}` : ''}`];
    if (acceptance) for (const a of Object.values(acceptance)) notes.push(`τ (greedy, tree ${a.tree}, ${prompts.length} held-out prompts): ${a.meanAcceptedLength.toFixed(3)}`);
    writeFileAtomic(paths.chart, curvesHtml(title, history, evals, notes));
  };

  const bar = flags.quiet ? null : new SingleBar({ format: `${kind} [{bar}] {value}/{total} | loss {loss} | {tps} tokens/s | lr {lr} | ETA {eta_formatted}`, etaBuffer: 50 });
  bar?.start(config.steps, trainer.step, { loss: '-', tps: '-', lr: '-' });
  if (config.evalEvery > 0 && trainer.step === 0) evals.push(await trainer.evaluate()); // the untrained heads, for the curves
  let recent = 0; // exponential mean of the loss, bias-corrected for the first steps
  let seen = 0;
  while (!trainer.done) {
    t0 = performance.now();
    const s = await trainer.trainStep();
    const dt = performance.now() - t0;
    trainMs += dt;
    history.push({ ...s, loss: Number(s.loss.toFixed(5)) });
    recent = 0.9 * recent + 0.1 * s.loss;
    seen++;
    bar?.update(trainer.step, { loss: (recent / (1 - 0.9 ** seen)).toFixed(3), tps: ((s.tokens / dt) * 1000).toFixed(0), lr: s.lr.toExponential(2) });
    if ((config.evalEvery > 0 && trainer.step % config.evalEvery === 0) || trainer.done) {
      const e = await trainer.evaluate();
      evals.push(e);
      if (!bar) log(`step ${e.step}: held-out loss ${e.loss.toFixed(3)}, top-1 ${e.top1.map((x) => x.toFixed(2)).join('/')}, greedy agreement ${e.greedy.map((x) => x.toFixed(2)).join('/')}`);
    }
    if ((checkpointEvery > 0 && trainer.step % checkpointEvery === 0) || trainer.done) await save();
  }
  bar?.stop();
  const last = evals[evals.length - 1];
  if (last) log(`held-out: loss ${last.loss.toFixed(3)}; per head top-1 ${last.top1.map((x) => x.toFixed(3)).join(' ')}, top-5 ${last.top5.map((x) => x.toFixed(3)).join(' ')}, = base greedy ${last.greedy.map((x) => x.toFixed(3)).join(' ')}`);
  const trained = history.reduce((a, h) => a + h.tokens, 0);
  log(`training time ${(trainMs / 1000).toFixed(1)} s (${trainMs > 0 ? ((trained / trainMs) * 1000).toFixed(0) : '-'} tokens/s); peak GPU tensor memory ${(model.device.peakBytes / 2 ** 20).toFixed(1)} MiB (the model included)`);

  if (prompts.length > 0) {
    const head = await heads.toHead();
    acceptance = {};
    for (const t of [tree]) {
      const a = await measureAcceptance(model, head, prompts, t, 128);
      acceptance[t.name] = a;
      log(`τ (greedy, tree ${t.name}, ${prompts.length} held-out prompts, 128 new tokens): ${a.meanAcceptedLength.toFixed(3)}`);
    }
    head.dispose();
    await save();
  }
  log(`wrote ${paths.heads}, ${paths.record}, ${paths.chart} and the checkpoint in ${paths.sets}`);
  trainer.dispose();
  heads.dispose();
  teacher.dispose();
  model.dispose();
}
