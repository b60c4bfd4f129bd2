// Plain autoregressive generation: prefill the prompt in one forward pass, then one token per
// step. Sampling goes through @hydra-ts/verify's warpLogits/sampleFromLogits, the same code the
// speculative verifiers draw with, so AR and speculative sampling share one distribution.
import { argmax, HydraError, OptionError } from '@hydra-ts/tensor';
import { checkSamplingOptions, createRng, sampleFromLogits } from '@hydra-ts/verify';
import { samplingDefaults } from './generation-config';
import type { LlamaModel } from './model';

/** A prompt that does not fit the model's context, or a string prompt without a tokenizer. */
export class GenerationError extends HydraError {}

export interface GenerateOptions {
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

export type StopReason = 'eos' | 'max-tokens' | 'context' | 'aborted';

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
  /** Generated tokens per second over the whole run. */
  tokensPerSecond: number;
  stopReason: StopReason;
}

/** Streams pieces as they are generated; result() drains the stream and resolves to the summary. */
export interface Generation extends AsyncIterable<GenerationPiece> {
  result(): Promise<GenerationResult>;
}

/**
 * What is wrong with a prompt that is neither text nor token ids (untyped callers, parsed
 * arguments), or null when it is one of them. Each caller throws it as its own error class.
 */
export function promptTypeProblem(prompt: unknown): string | null {
  if (typeof prompt === 'string' || Array.isArray(prompt) || ArrayBuffer.isView(prompt)) return null;
  return `prompt is ${prompt === null ? 'null' : typeof prompt}; expected a string or an array of token ids`;
}

function promptIds(model: LlamaModel, prompt: string | readonly number[]): number[] {
  const problem = promptTypeProblem(prompt);
  if (problem) throw new GenerationError(`generate: ${problem}`);
  if (typeof prompt !== 'string') return [...prompt];
  if (!model.tokenizer) throw new GenerationError('generate: a text prompt needs a model with a tokenizer; pass token ids instead');
  return model.tokenizer.encode(prompt, { addSpecialTokens: true });
}

export function generate(model: LlamaModel, opts: GenerateOptions): Generation {
  const c = model.config;
  const ids = promptIds(model, opts.prompt);
  if (ids.length === 0) throw new GenerationError('generate: the prompt is empty; give at least one token (e.g. BOS)');
  if (ids.length > c.maxSeqLen) {
    throw new GenerationError(`generate: the prompt has ${ids.length} tokens, more than the model's context of ${c.maxSeqLen}`);
  }
  const maxNew = opts.maxNewTokens ?? c.maxSeqLen;
  if (!Number.isInteger(maxNew) || maxNew < 0) throw new OptionError(`generate: maxNewTokens = ${maxNew}, expected an integer >= 0`);
  const defaults = opts.temperature === undefined ? samplingDefaults(model.generationDefaults) : { temperature: opts.temperature };
  const sampling = { temperature: defaults.temperature, topK: opts.topK ?? defaults.topK, topP: opts.topP ?? defaults.topP };
  checkSamplingOptions(sampling);
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(seed)) throw new OptionError(`generate: seed = ${seed}, expected an integer`);
  const stopAtEos = opts.stopAtEos ?? true;
  const stops = new Set(stopAtEos ? [...model.eosIds, ...(model.format === 'llama2c' ? [c.bosId] : [])] : []);

  let summary: GenerationResult | null = null;
  async function* run(): AsyncGenerator<GenerationPiece> {
    const t0 = performance.now();
    const rng = createRng(seed);
    const decoder = model.tokenizer?.createStreamDecoder(ids); // the first piece decodes in context
    // Positions 0..maxSeqLen-1 can be fed; the token sampled at the last one is still emitted.
    const cache = model.createCache(Math.min(c.maxSeqLen, ids.length + Math.max(0, maxNew - 1)));
    const tokenIds: number[] = [];
    let text = '';
    let steps = 0;
    let prefillMs = 0;
    let stopReason: StopReason = 'max-tokens';
    try {
      let input = ids;
      while (tokenIds.length < maxNew) {
        if (opts.signal?.aborted) {
          stopReason = 'aborted';
          break;
        }
        const { hidden, logits } = model.forward(cache, { tokens: input, logits: 'last' });
        hidden.dispose();
        cache.commit();
        steps++;
        let next: number;
        if (sampling.temperature === 0) {
          // Greedy reads back one id instead of a row of the vocabulary.
          const best = argmax(logits!); // [1]
          next = (await best.read())[0];
          best.dispose();
        } else {
          next = sampleFromLogits(await logits!.read(), sampling, rng);
        }
        logits!.dispose();
        if (steps === 1) prefillMs = performance.now() - t0;
        if (stops.has(next)) {
          stopReason = 'eos';
          break;
        }
        tokenIds.push(next);
        const piece = decoder ? decoder.push(next) : '';
        text += piece;
        yield { tokenId: next, text: piece };
        if (cache.length >= c.maxSeqLen) {
          stopReason = tokenIds.length < maxNew ? 'context' : 'max-tokens';
          break;
        }
        input = [next];
      }
      if (decoder) {
        const tail = decoder.flush();
        text += tail;
      }
    } finally {
      cache.dispose();
    }
    const elapsedMs = performance.now() - t0;
    summary = {
      text,
      tokenIds,
      promptTokens: ids.length,
      steps,
      elapsedMs,
      prefillMs,
      tokensPerSecond: tokenIds.length / (elapsedMs / 1000),
      stopReason,
    };
  }

  const stream = run();
  return {
    [Symbol.asyncIterator]: () => stream,
    async result() {
      while (!(await stream.next()).done) {
        /* drain */
      }
      if (!summary) throw new GenerationError('generate: the generation was ended early by its consumer (break out of the for-await)');
      return summary;
    },
  };
}
