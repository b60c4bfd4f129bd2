// Plain autoregressive generation as a stream of tokens: a DecodeSession with no head (the
// decoder's root-only loop, the one AR path), sized to the request. Sampling draws the root with
// @hydra-ts/verify's sampler, as speculative sampling does, so both share one distribution.
import { HydraError, OptionError } from '@hydra-ts/tensor';
import { promptTypeProblem, samplingDefaults, TokenLimitError, type LlamaModel, type StopReason } from '@hydra-ts/model';
import { checkSamplingOptions, greedyVerifier, samplingVerifier } from '@hydra-ts/verify';
import { resultStream } from './result-stream';
import { DecodeSession } from './session';

/** A prompt that does not fit the model's context, or a text prompt without a tokenizer. */
export class GenerationError extends HydraError {}

export interface GenerationOptions {
  /** Text (encoded with the model's tokenizer, its special tokens added) or token ids used as they are. */
  prompt: string | readonly number[];
  /** Default: until the context is full. */
  maxNewTokens?: number;
  /** 0 = greedy. Unset: the model's generation_config.json (greedy unless it sets do_sample). */
  temperature?: number;
  topK?: number;
  topP?: number;
  /** Seed of the sampling generator (default 0). */
  seed?: number;
  /** Ends generation after the current step; the result's stopReason is then 'aborted'. */
  signal?: AbortSignal;
  /** Stop at every EOS id (and, for llama2.c models, at BOS as llama2.c does). Default true. */
  stopAtEos?: boolean;
}

export interface GenerationPiece {
  tokenId: number;
  /** Text that became complete with this token (may be '' mid-character). */
  text: string;
}

export interface GenerationResult {
  /** Decoded generated tokens (prompt excluded); '' without a tokenizer. */
  text: string;
  /** Generated ids, prompt excluded, stop token excluded. */
  tokenIds: number[];
  promptTokens: number;
  /** Forward passes run (the prefill counts as one). */
  steps: number;
  elapsedMs: number;
  /** Time of the prefill forward pass up to its logits being read. */
  prefillMs: number;
  /** Generated tokens per second after the prefill. */
  tokensPerSecond: number;
  stopReason: StopReason;
}

/** Streams pieces as they are generated; result() drains the stream and resolves to the summary. */
export interface Generation extends AsyncIterable<GenerationPiece> {
  result(): Promise<GenerationResult>;
}

/** Checks the request now (typed errors at the call); decoding runs as the stream is read. */
export function generate(model: LlamaModel, opts: GenerationOptions): Generation {
  const c = model.config;
  const problem = promptTypeProblem(opts.prompt);
  if (problem) throw new GenerationError(`generate: ${problem}`);
  if (typeof opts.prompt === 'string' && !model.tokenizer) throw new GenerationError('generate: a text prompt needs a model with a tokenizer; pass token ids instead');
  const ids = typeof opts.prompt === 'string' ? encodeBounded(model, opts.prompt) : [...opts.prompt];
  if (ids.length === 0) throw new GenerationError('generate: the prompt is empty; give at least one token (e.g. BOS)');
  if (ids.length > c.maxSeqLen) throw new GenerationError(`generate: the prompt has ${ids.length} tokens, more than the model's context of ${c.maxSeqLen}`);
  const maxNewTokens = opts.maxNewTokens ?? c.maxSeqLen;
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) throw new OptionError(`generate: maxNewTokens = ${maxNewTokens}, expected an integer >= 0`);
  const defaults = opts.temperature === undefined ? samplingDefaults(model.generationDefaults) : { temperature: opts.temperature };
  const sampling = { temperature: defaults.temperature, topK: opts.topK ?? defaults.topK, topP: opts.topP ?? defaults.topP };
  checkSamplingOptions(sampling);
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(seed)) throw new OptionError(`generate: seed = ${seed}, expected an integer`);

  async function* run(): AsyncGenerator<GenerationPiece, GenerationResult, void> {
    // Rows for the prompt and every generated token but the last, which is emitted unfed.
    const session = new DecodeSession(model, { capacity: Math.min(c.maxSeqLen, Math.max(2, ids.length + Math.max(0, maxNewTokens - 1))) });
    const steps = session.generate({
      prompt: ids,
      maxNewTokens,
      sampling,
      verifier: sampling.temperature === 0 ? greedyVerifier() : samplingVerifier(sampling),
      seed,
      signal: opts.signal,
      stopAtEos: opts.stopAtEos,
    });
    try {
      for (;;) {
        const next = await steps.next();
        if (next.done) {
          const r = next.value;
          return {
            text: r.text,
            tokenIds: r.tokenIds,
            promptTokens: r.promptTokens,
            steps: r.steps + 1,
            elapsedMs: r.elapsedMs,
            prefillMs: r.prefillMs,
            tokensPerSecond: r.tokensPerSecond,
            stopReason: r.stopReason,
          };
        }
        // Root-only steps: one token each (none when it was a stop token).
        for (const tokenId of next.value.tokens) yield { tokenId, text: next.value.text };
      }
    } finally {
      await steps.return(undefined as never); // a consumer that stops early ends the session's loop first
      session.dispose();
    }
  }

  return resultStream(run(), () => new GenerationError('generate: the generation was ended early by its consumer (break out of the for-await)'));
}

/** Encodes a text prompt; the context bounds it, so an over-long text is rejected before it is fully encoded. */
function encodeBounded(model: LlamaModel, prompt: string): number[] {
  try {
    return model.tokenizer!.encode(prompt, { addSpecialTokens: true, maxTokens: model.config.maxSeqLen });
  } catch (e) {
    if (!(e instanceof TokenLimitError)) throw e;
    throw new GenerationError(`generate: the prompt has at least ${e.atLeast} tokens, more than the model's context of ${model.config.maxSeqLen}`, { cause: e });
  }
}
