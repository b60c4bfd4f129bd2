// A conversation with a model: messages → the model's chat template → token ids → AR or
// speculative decoding in a DecodeSession that keeps its KV cache between turns, so each turn
// prefills only what the template adds after the cached tokens. Stop strings cut the reply exactly.
import { HydraError, OptionError } from '@hydra-ts/tensor';
import type { ChatMessage, LlamaModel, StopReason, Tokenizer } from '@hydra-ts/model';
import { samplingDefaults } from '@hydra-ts/model';
import { DecodeSession, resultStream, type GenerateResult, type SessionOptions } from '@hydra-ts/decode';
import { greedyVerifier, samplingVerifier, type SamplingOptions, type Verifier } from '@hydra-ts/verify';
import { StopText } from './stop-text';

/** A conversation the model cannot take: no chat template, or messages of the wrong shape. */
export class ChatError extends HydraError {}

export type FinishReason = 'stop' | 'length' | 'abort';

export interface ChatOptions {
  /** Most tokens in the reply; default the model's generation_config max_new_tokens, else the rest of the context. */
  maxTokens?: number;
  /** The reply ends before the first of these strings (which is not part of it). */
  stop?: string | readonly string[];
  /** Unset fields come from the model's generation_config.json (greedy when it does not sample). */
  temperature?: number;
  topP?: number;
  topK?: number;
  /** Seed of the sampler (default 0). */
  seed?: number;
  signal?: AbortSignal;
  /** Default: greedy at temperature 0, else lossless speculative sampling with the same temperature, top-k and top-p. */
  verifier?: Verifier;
  /** Extra template variables (e.g. enable_thinking), as transformers' apply_chat_template kwargs. */
  templateVariables?: Record<string, unknown>;
}

export interface ChatUsage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  /** Prompt tokens whose KV rows the session already held (not prefilled again). */
  cachedPromptTokens: number;
}

/** Streamed piece of the reply. */
export interface ChatDelta {
  /** Reply text that became final with this step ('' never streamed). */
  text: string;
}

export interface ChatResult {
  text: string;
  /** The ids the chat template produced. */
  promptTokenIds: number[];
  /** Reply ids: up to the one that completed a stop string; an EOS id is not included. */
  tokenIds: number[];
  finishReason: FinishReason;
  usage: ChatUsage;
  /** τ: mean tokens per decoding step. */
  meanAcceptedLength: number;
  tokensPerSecond: number;
  steps: number;
  acceptedPerStep: number[];
  elapsedMs: number;
  prefillMs: number;
  /** GPU dispatches per decoding step (to hold against the device's floor). */
  dispatchesPerStep: number;
  /** Time per phase of the steps (GenerateResult.timing). */
  timing: GenerateResult['timing'];
  /** What ended decoding, in the decoder's terms. */
  stopReason: StopReason | 'stop-string';
  /** The sampling the reply was drawn with (caller's options over the model's defaults). */
  sampling: SamplingOptions;
}

/** A reply being generated: iterate for its pieces; result() drains it and resolves to the summary. */
export interface ChatStream extends AsyncIterable<ChatDelta> {
  result(): Promise<ChatResult>;
}

export type ChatSessionOptions = SessionOptions;

export class ChatSession {
  readonly model: LlamaModel;
  /** The decoding session whose KV cache carries over between turns. */
  readonly decode: DecodeSession;

  constructor(model: LlamaModel, opts: ChatSessionOptions = {}) {
    this.model = model;
    this.decode = new DecodeSession(model, opts);
  }

  /** The token ids the chat template gives `messages`, ending with the assistant's header. */
  encode(messages: readonly ChatMessage[], variables?: Record<string, unknown>): number[] {
    return encodeMessages(this.model, messages, variables);
  }

  /**
   * Generates the assistant's reply to `messages` (the whole conversation so far). Checks the
   * messages and options at once (throwing OptionError or ChatError); decoding starts when the
   * stream is iterated or result() is called.
   */
  send(messages: readonly ChatMessage[], opts: ChatOptions = {}): ChatStream {
    checkOptions(opts);
    return this.stream(this.plan(this.encode(messages, opts.templateVariables), opts));
  }

  /**
   * Continues a prompt given as token ids (a rendered conversation, or plain text a caller
   * encoded), with the same options, stop strings and statistics as send(). The session's KV
   * cache is reused for the longest prefix it holds.
   */
  complete(promptTokenIds: readonly number[], opts: ChatOptions = {}): ChatStream {
    checkOptions(opts);
    if (!this.model.tokenizer) throw new ChatError('the model has no tokenizer; a reply is streamed as text');
    return this.stream(this.plan([...promptTokenIds], opts));
  }

  private stream(plan: ReplyPlan): ChatStream {
    return resultStream(this.reply(plan), () => new ChatError('ChatSession.send: the reply was ended early by its consumer (break out of the for-await); its summary is not available'));
  }

  dispose(): void {
    this.decode.dispose();
  }

  private plan(promptTokenIds: number[], opts: ChatOptions): ReplyPlan {
    const room = this.decode.capacity - promptTokenIds.length;
    if (room < 1) throw new OptionError(`the conversation has ${promptTokenIds.length} tokens; the context holds ${this.decode.capacity}, leaving no room for a reply`);
    const maxTokens = Math.min(opts.maxTokens ?? this.model.generationDefaults.maxNewTokens ?? room, room);
    const defaults = samplingDefaults(this.model.generationDefaults);
    const temperature = opts.temperature ?? defaults.temperature;
    const sampling: SamplingOptions = temperature === 0 ? { temperature: 0 } : { temperature, topK: opts.topK ?? defaults.topK, topP: opts.topP ?? defaults.topP };
    const verifier = opts.verifier ?? (temperature === 0 ? greedyVerifier() : samplingVerifier(sampling));
    const stops = opts.stop === undefined ? [] : typeof opts.stop === 'string' ? [opts.stop] : [...opts.stop];
    return { promptTokenIds, maxTokens, sampling, verifier, stops, seed: opts.seed ?? 0, signal: opts.signal };
  }

  /** Decodes the reply, cutting it at a stop string; returns the summary. */
  private async *reply(plan: ReplyPlan): AsyncGenerator<ChatDelta, ChatResult> {
    const stopText = new StopText(plan.stops);
    const pieces = this.model.tokenizer!.createStreamDecoder(plan.promptTokenIds); // per token, for the stop-string cut
    // A stop string ends decoding through this signal, so the session still returns its statistics.
    const cut = new AbortController();
    const signal = plan.signal ? AbortSignal.any([plan.signal, cut.signal]) : cut.signal;
    const steps = this.decode.generate({ prompt: plan.promptTokenIds, maxNewTokens: plan.maxTokens, sampling: plan.sampling, verifier: plan.verifier, seed: plan.seed, signal });
    const tokenIds: number[] = [];
    let text = '';
    let decoded: GenerateResult;
    try {
      for (;;) {
        const next = await steps.next();
        if (next.done) {
          decoded = next.value;
          break;
        }
        if (stopText.stopped) continue; // tokens of the step that ran past the stop string
        let released = '';
        for (const id of next.value.tokens) {
          tokenIds.push(id);
          released += stopText.push(pieces.push(id));
          if (stopText.stopped) {
            cut.abort();
            break;
          }
        }
        text += released;
        if (released) yield { text: released };
      }
    } finally {
      await steps.return(undefined as never); // a consumer that stops early frees the session
    }
    let finishReason: FinishReason;
    let stopReason: ChatResult['stopReason'];
    if (stopText.stopped) {
      finishReason = 'stop';
      stopReason = 'stop-string';
    } else {
      const tail = stopText.push(pieces.flush()) + stopText.flush();
      text += tail;
      if (tail) yield { text: tail };
      // A stop string decided only at the end (a longer one could still have begun earlier).
      stopReason = stopText.stopped ? 'stop-string' : decoded.stopReason;
      finishReason = stopReason === 'eos' || stopReason === 'stop-string' ? 'stop' : stopReason === 'aborted' ? 'abort' : 'length';
    }
    const promptTokens = plan.promptTokenIds.length;
    return {
      text,
      promptTokenIds: plan.promptTokenIds,
      tokenIds,
      finishReason,
      usage: { promptTokens, completionTokens: tokenIds.length, totalTokens: promptTokens + tokenIds.length, cachedPromptTokens: decoded.cachedPromptTokens },
      meanAcceptedLength: decoded.meanAcceptedLength,
      tokensPerSecond: decoded.tokensPerSecond,
      steps: decoded.steps,
      acceptedPerStep: decoded.acceptedPerStep,
      elapsedMs: decoded.elapsedMs,
      prefillMs: decoded.prefillMs,
      dispatchesPerStep: decoded.dispatchesPerStep,
      timing: decoded.timing,
      stopReason,
      sampling: plan.sampling,
    };
  }
}

interface ReplyPlan {
  promptTokenIds: number[];
  maxTokens: number;
  sampling: SamplingOptions;
  verifier: Verifier;
  stops: string[];
  seed: number;
  signal?: AbortSignal;
}

/** The chat template's token ids for `messages`, with the assistant's header opened. */
export function encodeMessages(model: LlamaModel, messages: readonly ChatMessage[], variables?: Record<string, unknown>): number[] {
  checkMessages(messages);
  const tokenizer = model.tokenizer;
  if (!tokenizer) throw new ChatError('the model has no tokenizer; a chat needs one with a chat template');
  if (!hasChatTemplate(tokenizer)) throw new ChatError("the model's tokenizer has no chat template (tokenizer_config.json chat_template); use generate with a text prompt instead");
  return tokenizer.encodeChat!(messages, { addGenerationPrompt: true, variables });
}

/**
 * Whether the tokenizer renders conversations with a chat template of its own. HfTokenizer has
 * encodeChat whether or not tokenizer_config.json has a template: its chatTemplate says.
 */
export function hasChatTemplate(tokenizer: Tokenizer): boolean {
  if (!tokenizer.encodeChat) return false;
  if (!tokenizer.applyChatTemplate || !('chatTemplate' in tokenizer)) return true;
  return typeof (tokenizer as { chatTemplate?: unknown }).chatTemplate === 'string';
}

function checkMessages(messages: readonly ChatMessage[]): void {
  if (!Array.isArray(messages) || messages.length === 0) throw new OptionError(`messages = ${JSON.stringify(messages)}; expected a non-empty array of { role, content }`);
  messages.forEach((m, i) => {
    if (typeof m !== 'object' || m === null) throw new OptionError(`messages[${i}] = ${JSON.stringify(m)}; expected an object { role, content }`);
    if (typeof m.role !== 'string' || m.role === '') throw new OptionError(`messages[${i}].role = ${JSON.stringify(m.role)}; expected a string such as "system", "user" or "assistant"`);
    if (typeof m.content !== 'string') throw new OptionError(`messages[${i}].content = ${JSON.stringify(m.content)}; expected a string`);
  });
}

function checkOptions(opts: ChatOptions): void {
  const num = (name: string, v: unknown, ok: (x: number) => boolean, expected: string) => {
    if (v !== undefined && (typeof v !== 'number' || !ok(v))) throw new OptionError(`${name} = ${JSON.stringify(v)}; expected ${expected}`);
  };
  num('maxTokens (max_tokens)', opts.maxTokens, (x) => Number.isInteger(x) && x >= 1, 'an integer >= 1');
  num('temperature', opts.temperature, (x) => Number.isFinite(x) && x >= 0, 'a number >= 0');
  num('topP (top_p)', opts.topP, (x) => x > 0 && x <= 1, 'a number in (0, 1]');
  num('topK (top_k)', opts.topK, (x) => Number.isInteger(x) && x >= 1, 'an integer >= 1');
  num('seed', opts.seed, (x) => Number.isInteger(x), 'an integer');
  if (opts.stop !== undefined && typeof opts.stop !== 'string' && !Array.isArray(opts.stop)) {
    throw new OptionError(`stop = ${JSON.stringify(opts.stop)}; expected a string or an array of strings`);
  }
}
