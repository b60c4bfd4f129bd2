// hydra chat: talk to a model through its chat template. On a terminal (or with --interactive) a
// REPL keeps one ChatSession, so each turn prefills only what it adds; with --messages (or
// messages JSON on stdin) it answers once, as text or with --json as one JSON object.
import { readFileSync, existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { ChatMessage, LlamaModel } from '@hydra-ts/model';
import { ChatSession, type ChatOptions, type ChatResult } from '@hydra-ts/chat';
import type { DraftHead } from '@hydra-ts/heads';
import { UsageError } from '../errors';
import { decoderOption, deviceLine, headsFileKind, intOption, numberOption, treeSpecOption } from '../options';
import { defaultHeadFile } from '../paths';
import { withDefaultTree } from '../tuned-tree';
import { headFor, lastValues, loadModel } from './generate';

export interface ChatFlags {
  model?: string;
  dtype?: string;
  softwareThreads?: string | number;
  messages?: string;
  system?: string;
  maxTokens?: number | string;
  stop?: string | string[];
  temperature?: number | string;
  topK?: number | string;
  topP?: number | string;
  seed?: number | string;
  decoder?: string;
  heads?: string;
  tree?: string;
  json?: boolean;
  interactive?: boolean;
}

export async function runChat(rawFlags: ChatFlags): Promise<void> {
  const stops = rawFlags.stop === undefined ? [] : ([] as unknown[]).concat(rawFlags.stop).map(String); // repeatable
  const flags = lastValues(rawFlags);
  const opts: ChatOptions = {
    maxTokens: flags.maxTokens !== undefined ? intOption('max-tokens', flags.maxTokens, 1) : undefined,
    temperature: flags.temperature !== undefined ? numberOption('temperature', flags.temperature, 0) : undefined,
    topK: flags.topK !== undefined ? intOption('top-k', flags.topK, 1) : undefined,
    topP: flags.topP !== undefined ? numberOption('top-p', flags.topP, Number.MIN_VALUE, 1) : undefined,
    seed: flags.seed !== undefined ? intOption('seed', flags.seed, 0) : undefined,
    stop: stops.length > 0 ? stops : undefined,
  };
  // Without --decoder, heads decode as the kind their file records.
  const decoder = decoderOption(flags.decoder ?? (flags.heads ? (headsFileKind(flags.heads) ?? 'hydra') : 'ar'));
  const givenTree = flags.tree ? treeSpecOption(flags.tree) : null;
  const interactive = Boolean(flags.interactive) || (flags.messages === undefined && Boolean(process.stdin.isTTY));
  if (interactive && flags.messages !== undefined) throw new UsageError('--interactive and --messages: give one of them');
  // Read the messages before loading anything, so a bad file fails fast.
  const messages = interactive ? null : readMessages(flags.messages);

  const { model, path } = await loadModel(flags.model, flags.dtype, flags.softwareThreads ?? 0);
  let head: DraftHead | null = null;
  let chat: ChatSession | null = null;
  try {
    head = await headFor(model, path, decoder, flags.heads);
    // Without --tree, the tree tuned for these heads on this device (cached); where no tree beats AR, AR.
    const chosen = await withDefaultTree(model, path, head, givenTree, { tree: flags.tree, headFile: flags.heads ?? defaultHeadFile(path, decoder) });
    head = chosen.head;
    const tree = chosen.tree;
    chat = new ChatSession(model, { head, tree });
    const describe = { decoder: head ? decoder : 'ar', tree: tree?.name ?? null, device: model.device.name };
    if (messages) await answerOnce(chat, messages, opts, Boolean(flags.json), describe);
    else await repl(chat, model, opts, flags.system);
  } finally {
    chat?.dispose();
    head?.dispose?.();
    model.dispose();
  }
}

/** --messages <file> ("-" for stdin), or stdin when it is not a terminal. */
function readMessages(file: string | undefined): ChatMessage[] {
  let text: string;
  let where: string;
  if (file === undefined || file === '-') {
    if (process.stdin.isTTY && file === undefined) throw new UsageError('no messages: pass --messages <file.json> or pipe the messages JSON to stdin');
    text = readFileSync(0, 'utf8');
    where = 'stdin';
    if (text.trim() === '') {
      throw new UsageError('stdin is not a terminal and holds no messages: pipe a JSON array of { role, content } (or { "messages": [...] }), pass --messages <file.json>, or --interactive for the REPL');
    }
  } else {
    if (!existsSync(file)) throw new UsageError(`--messages ${file}: no such file`);
    text = readFileSync(file, 'utf8');
    where = `--messages ${file}`;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${where}: not valid JSON (${(e as Error).message}); expected an array of { role, content } or { "messages": [...] }`);
  }
  const list = Array.isArray(json) ? json : (json as { messages?: unknown })?.messages;
  if (!Array.isArray(list)) throw new UsageError(`${where}: expected an array of { role, content } or an object with a "messages" array`);
  return list as ChatMessage[];
}

async function answerOnce(chat: ChatSession, messages: ChatMessage[], opts: ChatOptions, json: boolean, describe: Record<string, unknown>): Promise<void> {
  const reply = chat.send(messages, opts);
  if (!json) for await (const d of reply) process.stdout.write(d.text);
  const r = await reply.result();
  if (json) {
    const { text, promptTokenIds, tokenIds, finishReason, usage, meanAcceptedLength, tokensPerSecond, steps, acceptedPerStep, elapsedMs, prefillMs, stopReason, sampling } = r;
    process.stdout.write(JSON.stringify({ text, promptTokenIds, tokenIds, finishReason, usage, meanAcceptedLength, tokensPerSecond, steps, acceptedPerStep, elapsedMs, prefillMs, stopReason, sampling, ...describe }) + '\n');
  } else {
    process.stdout.write('\n');
    process.stderr.write(statsLine(r, String(describe.decoder)) + `\ndevice: ${deviceLine(String(describe.device))}\n`);
  }
}

/** One conversation, a line per user turn; /reset starts over, /exit or end of input ends. */
async function repl(chat: ChatSession, model: LlamaModel, opts: ChatOptions, system: string | undefined): Promise<void> {
  const tty = Boolean(process.stdin.isTTY);
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: tty, prompt: '> ' });
  const start = (): ChatMessage[] => (system ? [{ role: 'system', content: system }] : []);
  let messages = start();
  let generating: AbortController | null = null;
  rl.on('SIGINT', () => {
    if (generating) generating.abort(); // Ctrl-C ends the reply, a second one the chat
    else rl.close();
  });
  process.stderr.write(`chatting on ${model.device.name}; /reset starts over, /exit or Ctrl-D ends\n`);
  rl.prompt();
  for await (const line of rl) {
    const text = line.trim();
    if (text === '/exit') break;
    if (text === '/reset') {
      messages = start();
      chat.decode.reset();
      process.stderr.write('(new conversation)\n');
      rl.prompt();
      continue;
    }
    if (text === '') {
      rl.prompt();
      continue;
    }
    messages.push({ role: 'user', content: text });
    generating = new AbortController();
    try {
      const reply = chat.send(messages, { ...opts, signal: generating.signal });
      for await (const d of reply) process.stdout.write(d.text);
      const r = await reply.result();
      process.stdout.write('\n');
      messages.push({ role: 'assistant', content: r.text });
      process.stderr.write(statsLine(r, chat.decode.head?.name ?? 'ar') + '\n');
    } finally {
      generating = null;
    }
    rl.prompt();
  }
  rl.close();
}

function statsLine(r: ChatResult, decoder: string): string {
  const u = r.usage;
  return (
    `[${decoder}] ${u.completionTokens} tokens (${r.finishReason}), τ = ${r.meanAcceptedLength.toFixed(2)}, ${r.tokensPerSecond.toFixed(1)} tokens/s; ` +
    `prompt ${u.promptTokens} tokens, ${u.cachedPromptTokens} from the cache`
  );
}
