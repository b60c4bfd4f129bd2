// hydra distill: the frozen base model samples the corpus its draft heads are trained on.
import { existsSync } from 'node:fs';
import { SingleBar } from 'cli-progress';
import { encodeMessages, parseConversations } from '@hydra-ts/chat';
import { distillCorpus, encodeTokenFile, parseCorpus, writeFileAtomic } from '@hydra-ts/train';
import { UsageError } from '../errors';
import { inputFile, intOption, numberOption, outputFileOption } from '../options';
import { loadModel } from './generate';

export interface DistillFlags {
  model?: string;
  out?: string;
  sequences?: number | string;
  length?: number | string;
  temperature?: number | string;
  sampledTokens?: number | string;
  seed?: number | string;
  prompts?: string;
  /** --prompts holds conversations (ShareGPT, MT-Bench, messages), rendered with the model's chat template. */
  chat?: boolean;
  concurrency?: number | string;
  quiet?: boolean;
  maxContext?: number | string;
  allowNonfinite?: boolean;
}

/** Distillation prompts are openings, not a corpus: refuse a file far larger than any prompt list unread. */
const MAX_PROMPTS_BYTES = 256 * 2 ** 20;

/** A rendered chat prompt must leave this many tokens of the sequence for the reply. */
const MIN_REPLY_TOKENS = 8;

export async function runDistill(flags: DistillFlags): Promise<void> {
  if (!flags.out) throw new UsageError('--out <corpus.bin> is required');
  outputFileOption('out', flags.out);
  const sequences = intOption('sequences', flags.sequences ?? 256, 1);
  const length = intOption('length', flags.length ?? 128, 2);
  const temperature = numberOption('temperature', flags.temperature ?? 1, 0);
  const sampledTokens = flags.sampledTokens === undefined ? undefined : intOption('sampled-tokens', flags.sampledTokens, 0);
  const seed = intOption('seed', flags.seed ?? 0, 0);
  const concurrency = intOption('concurrency', flags.concurrency ?? 8, 1, 256);
  if (flags.prompts && !existsSync(flags.prompts)) throw new UsageError(`--prompts ${flags.prompts}: no such file`);
  if (flags.chat && !flags.prompts) throw new UsageError('--chat needs --prompts <file> of conversations (ShareGPT JSON, MT-Bench or messages JSONL)');
  const promptBytes = flags.prompts ? inputFile('prompts', flags.prompts, { maxBytes: MAX_PROMPTS_BYTES, expected: 'a prompt file (text, JSONL or a token file)' }) : undefined;
  const { model } = await loadModel(flags.model, undefined, undefined, flags);
  if (length > model.config.maxSeqLen) throw new UsageError(`--length ${length}: the model's context is ${model.config.maxSeqLen}`);
  const prompts = !promptBytes
    ? undefined
    : flags.chat
      ? chatPrompts(model, promptBytes, flags.prompts!, length)
      : parseCorpus(promptBytes, flags.prompts!, model.config.vocabSize, model.tokenizer).sequences.map((s) => [...s.subarray(0, length - 1)]);
  const bar = flags.quiet ? null : new SingleBar({ format: 'distill [{bar}] {value}/{total} sequences | {tokens} tokens | {rate} tokens/s | ETA {eta_formatted}' });
  const t0 = performance.now();
  bar?.start(sequences, 0, { tokens: 0, rate: '0' });
  const corpus = await distillCorpus(model, {
    sequences, length, temperature, sampledTokens, seed, prompts, concurrency,
    onSequence: (done, tokens) => bar?.update(done, { tokens, rate: (tokens / ((performance.now() - t0) / 1000)).toFixed(1) }),
  });
  bar?.stop();
  writeFileAtomic(flags.out, encodeTokenFile(corpus));
  const total = corpus.sequences.reduce((a, s) => a + s.length, 0);
  process.stderr.write(`wrote ${corpus.sequences.length} sequences, ${total} tokens to ${flags.out} in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  model.dispose();
}

/**
 * The conversations of a prompt file, each rendered by the model's chat template with the
 * assistant's turn opened (what a chat user sends); those that leave fewer than MIN_REPLY_TOKENS of
 * `length` are skipped, and the count is printed.
 */
function chatPrompts(model: Parameters<typeof encodeMessages>[0], bytes: Uint8Array, file: string, length: number): number[][] {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e) {
    throw new UsageError(`--prompts ${file}: not UTF-8 text; expected conversations (ShareGPT JSON, MT-Bench or messages JSONL)`, { cause: e });
  }
  const conversations = parseConversations(text, file);
  const rendered = conversations.map((m) => encodeMessages(model, m));
  const fit = rendered.filter((ids) => ids.length + MIN_REPLY_TOKENS <= length);
  process.stderr.write(`chat prompts: ${conversations.length} conversations from ${file} through the chat template; ${fit.length} leave ${MIN_REPLY_TOKENS}+ of --length ${length} tokens for the reply\n`);
  if (fit.length === 0) {
    const shortest = Math.min(...rendered.map((r) => r.length));
    throw new UsageError(`--prompts ${file}: no rendered conversation fits --length ${length} with ${MIN_REPLY_TOKENS} reply tokens (the shortest is ${shortest} tokens); raise --length`);
  }
  return fit;
}
