// The Engine over this repository's decoder: a base model, optionally a draft head and its
// candidate tree, decoding through one ChatSession, so a request that continues the previous
// one (the next turn of a conversation) prefills only what is new. Greedy requests verify
// greedily (lossless: the AR tokens), sampled ones with the lossless tree sampler.
import { ChatSession, encodeMessages, hasChatTemplate } from '@hydra-ts/chat';
import type { DraftHead } from '@hydra-ts/heads';
import type { LlamaModel } from '@hydra-ts/model';
import { OptionError } from '@hydra-ts/tensor';
import type { CandidateTree, DynamicTree } from '@hydra-ts/tree';
import { typicalVerifier } from '@hydra-ts/verify';
import type { Engine, EngineChunk, EngineInput, EngineRequest, EngineResult } from './engine';

export interface DecoderEngineOptions {
  /** The name clients use in `model`. */
  id: string;
  /** Draft head (and its tree); omit for autoregressive decoding. */
  head?: DraftHead | null;
  tree?: CandidateTree | DynamicTree;
  /** Verifier at temperature > 0: 'sample' (lossless, the default) or 'typical'. */
  sampledVerifier?: 'sample' | 'typical';
  /** Reported by /health (e.g. { decoder: 'hydra++' }). */
  info?: Record<string, string | number | null>;
}

export class DecoderEngine implements Engine {
  readonly id: string;
  readonly contextLength: number;
  readonly info: Record<string, string | number | null>;
  private readonly session: ChatSession;

  constructor(
    readonly model: LlamaModel,
    private readonly opts: DecoderEngineOptions,
  ) {
    // The session checks head and tree (a head without a tree is an OptionError).
    this.session = new ChatSession(model, opts.head ? { head: opts.head, tree: opts.tree } : {});
    this.id = opts.id;
    this.contextLength = model.config.maxSeqLen;
    this.info = { decoder: opts.head ? opts.head.name : 'ar', tree: opts.head ? opts.tree!.name : null, ...opts.info };
  }

  /**
   * The prompt's token ids. A conversation goes through the tokenizer's chat template when it has
   * one; a model without one (a base model such as stories260K) continues the messages' text,
   * joined by blank lines.
   */
  promptIds(input: EngineInput): number[] {
    const tokenizer = this.model.tokenizer;
    if (!tokenizer) throw new OptionError(`model ${this.id} has no tokenizer: it cannot read text prompts`);
    if (input.kind === 'chat' && hasChatTemplate(tokenizer)) return encodeMessages(this.model, input.messages);
    const text = input.kind === 'text' ? input.prompt : input.messages.map((m) => m.content).join('\n\n');
    // The context bounds the prompt: an over-long text is a TokenLimitError before it is fully encoded.
    return tokenizer.encode(text, { addSpecialTokens: true, maxTokens: this.contextLength });
  }

  countPromptTokens(input: EngineInput): number {
    return this.promptIds(input).length;
  }

  async *generate(request: EngineRequest, signal: AbortSignal): AsyncGenerator<EngineChunk, EngineResult, void> {
    const prompt = this.promptIds(request.input);
    const room = this.contextLength - prompt.length;
    const maxTokens = Math.min(request.maxTokens ?? room, room);
    const promptTokens = prompt.length;
    if (maxTokens < 1) {
      return { text: '', finishReason: 'length', promptTokens, completionTokens: 0, cachedPromptTokens: 0, meanAcceptedLength: 0, tokensPerSecond: 0, steps: 0, elapsedMs: 0 };
    }
    // An unset temperature follows the model's generation_config.json when it says how to sample, else OpenAI's default of 1.
    const temperature = request.temperature ?? (this.model.generationDefaults.doSample === undefined ? 1 : undefined);
    const reply = this.session.complete(prompt, {
      maxTokens,
      stop: request.stop,
      temperature,
      topK: request.topK,
      topP: request.topP,
      seed: request.seed ?? 0,
      signal,
      verifier: temperature !== undefined && temperature > 0 && this.opts.sampledVerifier === 'typical' ? typicalVerifier({ temperature }) : undefined,
    });
    for await (const delta of reply) yield { text: delta.text };
    const r = await reply.result();
    return {
      text: r.text,
      finishReason: r.finishReason === 'length' ? 'length' : 'stop',
      promptTokens,
      completionTokens: r.usage.completionTokens,
      cachedPromptTokens: r.usage.cachedPromptTokens,
      meanAcceptedLength: r.meanAcceptedLength,
      tokensPerSecond: r.tokensPerSecond,
      steps: r.steps,
      elapsedMs: r.elapsedMs,
    };
  }

  dispose(): void {
    this.session.dispose();
  }
}
