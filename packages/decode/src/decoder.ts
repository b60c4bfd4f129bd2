// The speculative decoder: propose → one base forward over the tree → verify → commit → emit.
// Autoregressive decoding is the same loop with no head and a root-only tree.

import { argmax, concat, gatherRows, OptionError, slice, Tensor } from '@hydra-ts/tensor';
import { promptTypeProblem, type LlamaModel, type StopReason } from '@hydra-ts/model';
import type { DraftHead } from '@hydra-ts/heads';
import { rootOnly, type CandidateTree } from '@hydra-ts/tree';
import {
  checkSamplingOptions,
  createRng,
  greedyVerifier,
  sampleFromLogits,
  argmaxOf,
  type Rng,
  type SamplingOptions,
  type Verifier,
} from '@hydra-ts/verify';
import { DecodeStats } from './stats';
import { rowLayout } from './rows';

export interface GenerateOptions {
  /** Text (encoded with the model's tokenizer, BOS prepended) or token ids used as they are. */
  prompt: string | readonly number[];
  maxNewTokens: number;
  /** Draft head; omit (or null) for plain autoregressive decoding. */
  head?: DraftHead | null;
  /** Candidate tree; required with a head, ignored without one. */
  tree?: CandidateTree;
  /** Default: greedy. */
  verifier?: Verifier;
  /** How the root token (and AR tokens) are drawn; default greedy (temperature 0). */
  sampling?: SamplingOptions;
  seed?: number;
  signal?: AbortSignal;
  /** Stop at the tokenizer's EOS (and, for llama2.c models, at BOS). Default true. */
  stopAtEos?: boolean;
  /** Extra ids that end generation. */
  stopTokens?: readonly number[];
  /**
   * Let a head that can (DraftHead.proposeOnDevice) leave its proposal on the GPU, so the verify
   * pass is recorded right behind the drafting with one read-back per step instead of two. The
   * output is the same either way. Default true.
   */
  deviceProposals?: boolean;
}

/** One decoding step's output, as streamed. */
export interface StepEvent {
  /** Tokens this step adds (accepted path: root plus accepted candidates, truncated at a stop). */
  tokens: number[];
  /** Decoded text of those tokens (UTF-8 safe across steps). */
  text: string;
  /** path length before truncation: τ's sample for this step. */
  acceptedLength: number;
  step: number;
}

export interface GenerateResult {
  text: string;
  tokenIds: number[];
  promptTokens: number;
  /** Base forward passes after the prompt's prefill. */
  steps: number;
  acceptedPerStep: number[];
  /** τ: mean tokens per step. */
  meanAcceptedLength: number;
  /** Fraction of steps that accepted a candidate at depth d (index d-1). */
  acceptanceByDepth: number[];
  stopReason: StopReason;
  elapsedMs: number;
  prefillMs: number;
  tokensPerSecond: number;
  /**
   * Time per phase, summed over steps. With device proposals the heads' GPU work runs while the
   * verify pass is recorded and waited for, so headMs is the time to record the drafting and its
   * GPU time falls in baseMs.
   */
  timing: { baseMs: number; headMs: number; verifyMs: number; commitMs: number };
}

const ROOT_ONLY = rootOnly();

export class SpeculativeDecoder {
  constructor(readonly model: LlamaModel) {}

  /** Runs to completion and returns the text and statistics. */
  async generate(opts: GenerateOptions): Promise<GenerateResult> {
    const it = this.stream(opts);
    for (;;) {
      const r = await it.next();
      if (r.done) return r.value;
    }
  }

  /** Streams one event per step; the generator's return value is the result. */
  async *stream(opts: GenerateOptions): AsyncGenerator<StepEvent, GenerateResult, void> {
    const model = this.model;
    const { config, tokenizer } = model;
    const head = opts.head ?? null;
    const sampling: SamplingOptions = opts.sampling ?? { temperature: 0 };
    checkSamplingOptions(sampling);
    if (!Number.isInteger(opts.maxNewTokens) || opts.maxNewTokens < 0) {
      throw new OptionError(`maxNewTokens = ${opts.maxNewTokens}; expected an integer >= 0`);
    }
    const verifier = opts.verifier ?? greedyVerifier();
    const deviceProposals = opts.deviceProposals ?? true;
    let tree = ROOT_ONLY;
    if (head) {
      if (!opts.tree) throw new OptionError('a draft head needs a candidate tree (options.tree)');
      tree = opts.tree;
      if (tree.depth > head.depth) {
        throw new OptionError(`tree '${tree.name}' is ${tree.depth} deep but head '${head.name}' proposes only ${head.depth} levels`);
      }
    }
    const rng: Rng = createRng(opts.seed ?? 0);

    const problem = promptTypeProblem(opts.prompt);
    if (problem) throw new OptionError(problem);
    const promptIds = typeof opts.prompt === 'string' ? encodePrompt(model, opts.prompt) : [...opts.prompt];
    if (promptIds.length === 0) throw new OptionError('prompt has no tokens; expected at least one (e.g. BOS)');
    for (const id of promptIds) {
      if (!Number.isInteger(id) || id < 0 || id >= config.vocabSize) {
        throw new OptionError(`prompt token ${id} out of range; expected ids in [0, ${config.vocabSize})`);
      }
    }
    const capacity = config.maxSeqLen;
    if (promptIds.length >= capacity) {
      throw new OptionError(`prompt has ${promptIds.length} tokens; the context holds ${capacity}, leaving no room to generate`);
    }
    const stop = new Set<number>(opts.stopTokens ?? []);
    if (opts.stopAtEos ?? true) {
      for (const id of model.eosIds) stop.add(id);
      if (model.format === 'llama2c') stop.add(config.bosId);
    }

    const stats = new DecodeStats(tree.depth);
    const decoder = tokenizer?.createStreamDecoder(promptIds);
    const out: number[] = [];
    const cache = model.createCache(capacity);
    const started = now();
    let stopReason: StopReason = 'max-tokens';

    try {
      // Prefill: commit the prompt, let the head see its hidden states, pick the first root.
      const pre = model.forward(cache, { tokens: promptIds, logits: 'last' });
      cache.commit();
      head?.observe(pre.hidden, 0);
      const lastLogits = (await pre.logits!.read()) as Float32Array;
      pre.hidden.dispose();
      pre.logits!.dispose();
      let root = pickToken(lastLogits, sampling, rng);
      stats.prefillMs = now() - started;
      const context = [...promptIds];

      while (out.length < opts.maxNewTokens) {
        if (opts.signal?.aborted) {
          stopReason = 'aborted';
          break;
        }
        const remaining = opts.maxNewTokens - out.length;
        const L = cache.length;
        if (L + 1 > capacity) {
          stopReason = 'context';
          break;
        }
        if (stop.has(root)) {
          stopReason = 'eos';
          break;
        }
        if (remaining === 1) {
          // The root is already decided: emitting it needs no forward pass.
          out.push(root);
          yield { tokens: [root], text: decoder?.push(root) ?? '', acceptedLength: 1, step: stats.steps };
          break;
        }
        // Near the end of the context the tree shrinks to what fits.
        const stepTree = L + tree.size <= capacity ? tree : ROOT_ONLY;

        // 1. propose
        let t0 = now();
        const layout = rowLayout(stepTree); // the verify pass's rows, depth-first (rows.ts)
        const n = stepTree.size;
        let tokens: Int32Array | null = null; // per node; with a device proposal, known after the read-back
        let onDevice: Tensor | null = null; // [n] i32 in row order
        if (head && stepTree !== ROOT_ONLY) {
          if (deviceProposals && head.proposeOnDevice) {
            onDevice = head.proposeOnDevice({ tree: stepTree, root, context, order: layout.nodeOf });
            if (onDevice && (!(onDevice instanceof Tensor) || onDevice.dtype !== 'i32' || onDevice.shape.length !== 1 || onDevice.shape[0] !== n)) {
              const got = onDevice instanceof Tensor ? onDevice.describe() : String(onDevice);
              onDevice = null;
              throw new OptionError(`head '${head.name}'.proposeOnDevice returned ${got}; expected an i32 tensor [${n}] (one token per tree node)`);
            }
          }
          if (!onDevice) {
            const proposal = await head.propose({ tree: stepTree, root, context });
            tokens = proposal.tokens;
            if (tokens.length !== n || tokens[0] !== root) {
              throw new OptionError(`head '${head.name}' proposed ${tokens.length} tokens with root ${tokens[0]}; expected ${n} with root ${root}`);
            }
          }
        } else {
          tokens = Int32Array.of(root);
        }
        stats.headMs += now() - t0;

        // 2. one base forward over the tree
        t0 = now();
        const positions = new Int32Array(n);
        for (let r = 0; r < n; r++) positions[r] = L + layout.positionOffsets[r];
        let fwd: ReturnType<LlamaModel['forward']>;
        try {
          fwd = model.forward(cache, {
            tokens: onDevice ?? (layout.identity ? tokens! : Int32Array.from(layout.nodeOf, (node) => tokens![node])),
            positions,
            mask: n > 1 ? layout.mask : undefined,
            logits: 'all',
          });
        } catch (e) {
          onDevice?.dispose();
          throw e;
        }
        const logits = fwd.logits!;
        let argmaxIds: Int32Array | undefined; // per node
        let logitRows: Float32Array | undefined; // [node, vocab]
        const byNode = <T extends Int32Array | Float32Array>(byRow: T, width: number): T => {
          if (layout.identity) return byRow;
          const out = new (byRow.constructor as { new (n: number): T })(byRow.length);
          layout.rowOf.forEach((row, node) => out.set(byRow.subarray(row * width, row * width + width), node * width));
          return out;
        };
        try {
          if (verifier.needs === 'argmax') {
            const am = argmax(logits); // [n]
            // with a device proposal, its tokens come back in the same read as the argmax
            const both = onDevice ? concat([onDevice, am], 0) : am;
            const read = (await both.read()) as Int32Array;
            if (both !== am) both.dispose();
            am.dispose();
            if (onDevice) tokens = byNode(read.slice(0, n), 1);
            argmaxIds = byNode(read.slice(read.length - n), 1);
          } else {
            if (onDevice) tokens = byNode((await onDevice.read()) as Int32Array, 1);
            logitRows = byNode((await logits.read()) as Float32Array, config.vocabSize);
          }
        } finally {
          onDevice?.dispose();
        }
        if (tokens![0] !== root) throw new OptionError(`head '${head!.name}'.proposeOnDevice put token ${tokens![0]} at the root, expected ${root}`);
        stats.baseMs += now() - t0;

        // 3. verify
        t0 = now();
        const result = verifier.verify(
          { tree: stepTree, tokens: tokens!, vocabSize: config.vocabSize, argmax: argmaxIds, logits: logitRows },
          rng,
        );
        stats.verifyMs += now() - t0;

        // 4. commit the accepted rows (base cache, then head state)
        t0 = now();
        const rows = result.path.map((node) => layout.rowOf[node]);
        cache.commit(rows);
        if (head) {
          // the usual path is the leading rows (rows.ts): a copy then, not a gather dispatch
          const leading = rows.every((r, i) => r === i);
          const accepted: Tensor = leading ? slice(fwd.hidden, 0, 0, rows.length) : gatherRows(fwd.hidden, Int32Array.from(rows));
          head.observe(accepted, L);
          accepted.dispose();
        }
        fwd.hidden.dispose();
        logits.dispose();
        stats.commitMs += now() - t0;

        // 5. emit
        const accepted = result.path.map((node) => tokens![node]);
        stats.record(result.path.length);
        let emit = accepted;
        const stopAt = emit.findIndex((t) => stop.has(t));
        if (stopAt >= 0) {
          emit = emit.slice(0, stopAt);
          stopReason = 'eos';
        }
        if (emit.length > remaining) {
          emit = emit.slice(0, remaining);
          stopReason = 'max-tokens';
        }
        out.push(...emit);
        context.push(...accepted);
        let text = '';
        if (decoder) for (const t of emit) text += decoder.push(t);
        yield { tokens: emit, text, acceptedLength: result.path.length, step: stats.steps };
        if (stopAt >= 0) break;
        root = result.next;
      }
    } finally {
      cache.dispose();
      head?.reset();
    }

    const elapsedMs = now() - started;
    const text = tokenizer ? tokenizer.decode(out) : '';
    const decodeMs = elapsedMs - stats.prefillMs;
    return {
      text,
      tokenIds: out,
      promptTokens: promptIds.length,
      steps: stats.steps,
      acceptedPerStep: stats.acceptedPerStep,
      meanAcceptedLength: stats.meanAcceptedLength,
      acceptanceByDepth: stats.acceptanceByDepth(),
      stopReason,
      elapsedMs,
      prefillMs: stats.prefillMs,
      tokensPerSecond: decodeMs > 0 ? (out.length / decodeMs) * 1000 : 0,
      timing: { baseMs: stats.baseMs, headMs: stats.headMs, verifyMs: stats.verifyMs, commitMs: stats.commitMs },
    };
  }
}

function encodePrompt(model: LlamaModel, prompt: string): number[] {
  if (!model.tokenizer) throw new OptionError('model has no tokenizer; pass the prompt as token ids');
  return model.tokenizer.encode(prompt, { addSpecialTokens: true, maxTokens: model.config.maxSeqLen - 1 });
}

function pickToken(logits: Float32Array, sampling: SamplingOptions, rng: Rng): number {
  return sampling.temperature === 0 ? argmaxOf(logits) : sampleFromLogits(logits, sampling, rng);
}

function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}
