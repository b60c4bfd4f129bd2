// The Engine over this repository's SpeculativeDecoder: a base model, optionally a draft head and
// its candidate tree; greedy requests verify greedily (lossless: the AR tokens), sampled ones with
// the lossless tree sampler.
import { SpeculativeDecoder, type GenerateResult } from '@hydra-ts/decode';
import type { DraftHead } from '@hydra-ts/heads';
import { HfTokenizer, type LlamaModel } from '@hydra-ts/model';
import { OptionError } from '@hydra-ts/tensor';
import type { CandidateTree } from '@hydra-ts/tree';
import { greedyVerifier, samplingVerifier, typicalVerifier, type Verifier } from '@hydra-ts/verify';
import type { Engine, EngineChunk, EngineInput, EngineRequest, EngineResult, FinishReason } from './engine';
import { StopMatcher } from './stop';

export interface DecoderEngineOptions {
  /** The name clients use in `model`. */
  id: string;
  /** Draft head (and its tree); omit for autoregressive decoding. */
  head?: DraftHead | null;
  tree?: CandidateTree;
  /** Verifier at temperature > 0: 'sample' (lossless, the default) or 'typical'. */
  sampledVerifier?: 'sample' | 'typical';
  /** Reported by /health (e.g. { decoder: 'hydra++' }). */
  info?: Record<string, string | number | null>;
}

export class DecoderEngine implements Engine {
  readonly id: string;
  readonly contextLength: number;
  readonly info: Record<string, string | number | null>;
  private readonly decoder: SpeculativeDecoder;

  constructor(
    readonly model: LlamaModel,
    private readonly opts: DecoderEngineOptions,
  ) {
    if (opts.head && !opts.tree) throw new OptionError('DecoderEngine: a draft head needs a candidate tree (options.tree)');
    this.id = opts.id;
    this.contextLength = model.config.maxSeqLen;
    this.info = { decoder: opts.head ? opts.head.name : 'ar', tree: opts.head ? opts.tree!.name : null, ...opts.info };
    this.decoder = new SpeculativeDecoder(model);
  }

  /**
   * The prompt's token ids. A conversation goes through the tokenizer's chat template when it has
   * one; a model without one (a base model such as stories260K) continues the messages' text,
   * joined by blank lines.
   */
  promptIds(input: EngineInput): number[] {
    const tokenizer = this.model.tokenizer;
    if (!tokenizer) throw new OptionError(`model ${this.id} has no tokenizer: it cannot read text prompts`);
    if (input.kind === 'text') return tokenizer.encode(input.prompt, { bos: true });
    if (tokenizer instanceof HfTokenizer && tokenizer.chatTemplate !== undefined) {
      // Templates write the BOS token themselves.
      return tokenizer.encode(tokenizer.applyChatTemplate(input.messages, { addGenerationPrompt: true }), { bos: false });
    }
    return tokenizer.encode(input.messages.map((m) => m.content).join('\n\n'), { bos: true });
  }

  countPromptTokens(input: EngineInput): number {
    return this.promptIds(input).length;
  }

  private verifierFor(request: EngineRequest): Verifier {
    if (request.temperature === 0) return greedyVerifier();
    return this.opts.sampledVerifier === 'typical'
      ? typicalVerifier({ temperature: request.temperature })
      : samplingVerifier({ temperature: request.temperature, topK: request.topK, topP: request.topP });
  }

  async *generate(request: EngineRequest, signal: AbortSignal): AsyncGenerator<EngineChunk, EngineResult, void> {
    const prompt = this.promptIds(request.input);
    const room = this.contextLength - prompt.length;
    const maxTokens = Math.min(request.maxTokens ?? room, room);
    const head = this.opts.head ?? null;
    // Stop strings end the decoder through its own signal, so it returns its statistics.
    const stopped = new AbortController();
    const onAbort = () => stopped.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    const stops = new StopMatcher(request.stop);
    let text = '';
    let tokens = 0;
    let stopString = false;
    let result: GenerateResult;
    try {
      const it = this.decoder.stream({
        prompt,
        maxNewTokens: Math.max(0, maxTokens),
        head,
        tree: head ? this.opts.tree : undefined,
        verifier: this.verifierFor(request),
        sampling: { temperature: request.temperature, topK: request.topK, topP: request.topP },
        seed: request.seed ?? 0,
        signal: stopped.signal,
      });
      for (;;) {
        const step = await it.next();
        if (step.done) {
          result = step.value;
          break;
        }
        if (stopString) continue; // the decoder ends at its next check of the signal
        tokens += step.value.tokens.length;
        const piece = stops.push(step.value.text);
        if (piece.text) {
          text += piece.text;
          yield { text: piece.text };
        }
        if (piece.stopped) {
          stopString = true;
          stopped.abort();
        }
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    if (!stopString) {
      const rest = stops.flush();
      if (rest) {
        text += rest;
        yield { text: rest };
      }
    }
    const finishReason: FinishReason = stopString || result.stopReason === 'eos' ? 'stop' : 'length';
    return {
      text,
      finishReason,
      promptTokens: prompt.length,
      completionTokens: stopString ? tokens : result.tokenIds.length,
      meanAcceptedLength: result.meanAcceptedLength,
      tokensPerSecond: result.tokensPerSecond,
      steps: result.steps,
      elapsedMs: result.elapsedMs,
    };
  }
}
