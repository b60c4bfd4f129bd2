// A decoding session: the KV cache, the committed tokens and the draft head's state, kept from
// one generation to the next. A request whose prompt extends what the session holds (a chat's next
// turn) prefills only the new tokens. Each step is propose → one tree forward → verify → commit →
// emit; `request()` checks the options before the loop, the device plumbing sits below it.
//
// Autoregressive decoding is the same loop with no head and a root-only tree.
import { argmax, concat, flags, gatherRows, HydraError, OptionError, RERANK_MAX_CANDIDATES, RERANK_MAX_NODES, rerankTree, slice, Tensor, type RerankedTree } from '@hydra-ts/tensor';
import { promptTypeProblem, TokenLimitError, type ForwardOutput, type KVCache, type LlamaModel, type StopReason } from '@hydra-ts/model';
import type { DraftHead } from '@hydra-ts/heads';
import { DynamicTree, growTree, rootOnly, treeFromLevels, type CandidateTree } from '@hydra-ts/tree';
import { argmaxOf, checkSamplingOptions, createRng, greedyVerifier, sampleFromLogits, samplingVerifier, type Rng, type SamplingOptions, type Verifier, type VerifyResult } from '@hydra-ts/verify';
import { DecodeStats } from './stats';
import { byNode, rowLayout, treeOfRows, type RowLayout } from './rows';

/** A session or a draft head asked to run two generations at once. */
export class SessionBusyError extends HydraError {}

export interface DecodeRequest {
  /** Text (encoded with the model's tokenizer, its special tokens added) or token ids used as they are. */
  prompt: string | readonly number[];
  maxNewTokens: number;
  /**
   * How drafted tokens are accepted. Default: the sampling verifier with `sampling`'s options when
   * its temperature is above 0 (every token sampled, losslessly), else the greedy verifier.
   */
  verifier?: Verifier;
  /** How tokens are drawn: the root of each step, and the defaulted verifier's target; default greedy (temperature 0). */
  sampling?: SamplingOptions;
  seed?: number;
  signal?: AbortSignal;
  /** Stop at every EOS id of the model (and, for llama2.c models, at BOS). Default true. */
  stopAtEos?: boolean;
  /** Extra ids that end generation. */
  stopTokens?: readonly number[];
}

export interface SessionOptions {
  /** Draft head; omit (or null) for plain autoregressive decoding. Its state belongs to the session between generations. */
  head?: DraftHead | null;
  /**
   * Candidate tree; required with a head, ignored without one. A DynamicTree is grown each step
   * from the head's draft probabilities (heads with draftLevels).
   */
  tree?: CandidateTree | DynamicTree;
  /**
   * Let a head that can (DraftHead.proposeOnDevice) leave its proposal on the GPU, so the verify
   * pass is recorded right behind the drafting with one read-back per step instead of two. The
   * output is the same either way. Default: flags.deviceProposals of @hydra-ts/tensor (true).
   */
  deviceProposals?: boolean;
  /** Rows of the KV cache; default the model's context (config.maxSeqLen). */
  capacity?: number;
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
  /** Prompt tokens whose KV rows the session already held (reused, not prefilled). */
  cachedPromptTokens: number;
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
  /** GPU dispatches recorded per step (after the prefill): the count the device's floor is measured for (measureDispatchFloor). */
  dispatchesPerStep: number;
}

/** A checked request. */
interface Plan {
  promptIds: number[];
  maxNewTokens: number;
  verifier: Verifier;
  sampling: SamplingOptions;
  rng: Rng;
  stop: Set<number>;
  signal?: AbortSignal;
}

/** The drafted tree for one step: tokens per node on the host, or per row still on the GPU. */
interface Draft {
  tree: CandidateTree;
  layout: RowLayout;
  root: number;
  tokens: Int32Array | null; // [size] per node
  onDevice: Tensor | null; // [size] i32 in row order
  draftProbs: Float32Array | null; // [size, vocab] per node: what a sampling head drew each token from
}

/** A dynamic tree built on the GPU (rerankTree): the tree itself comes back with the verify pass's read. */
interface BuiltDraft {
  built: RerankedTree;
  root: number;
  name: string;
}

/** One tree forward's outputs, read back for the verifier. */
interface TreePass {
  tree: CandidateTree;
  layout: RowLayout;
  fwd: ForwardOutput;
  tokens: Int32Array; // [size] per node
  draftProbs: Float32Array | null; // [size, vocab] per node
  argmax?: Int32Array; // [size] per node
  logits?: Float32Array; // [size, vocab] per node
}

const ROOT_ONLY = rootOnly();

/** Sessions and heads in a generation right now. */
const generating = new WeakSet<object>();
/** The session whose tokens a head's state describes. */
const headOwner = new WeakMap<DraftHead, DecodeSession>();

export class DecodeSession {
  readonly model: LlamaModel;
  readonly head: DraftHead | null;
  readonly tree: CandidateTree | DynamicTree;
  readonly deviceProposals: boolean;
  private readonly cache: KVCache;
  /** The tokens whose KV rows the cache holds: cache row i is tokens[i]. */
  private committed: number[] = [];
  private disposed = false;

  constructor(model: LlamaModel, opts: SessionOptions = {}) {
    this.model = model;
    this.head = opts.head ?? null;
    if (opts.deviceProposals !== undefined && typeof opts.deviceProposals !== 'boolean') {
      throw new OptionError(`options.deviceProposals must be true or false, got ${String(opts.deviceProposals)}`);
    }
    this.deviceProposals = opts.deviceProposals ?? flags.deviceProposals;
    this.tree = ROOT_ONLY;
    if (this.head) {
      if (!opts.tree) throw new OptionError('a draft head needs a candidate tree (options.tree)');
      if (opts.tree instanceof DynamicTree) {
        if (!this.head.draftLevels) {
          throw new OptionError(`tree '${opts.tree.name}' is dynamic: head '${this.head.name}' must give its draft probabilities level by level (DraftHead.draftLevels); pick a fixed tree for it`);
        }
      } else if (opts.tree.depth > this.head.depth) {
        throw new OptionError(`tree '${opts.tree.name}' is ${opts.tree.depth} deep but head '${this.head.name}' proposes only ${this.head.depth} levels`);
      }
      this.tree = opts.tree;
    }
    const capacity = opts.capacity ?? model.config.maxSeqLen;
    if (!Number.isInteger(capacity) || capacity < 2 || capacity > model.config.maxSeqLen) {
      throw new OptionError(`capacity = ${capacity}; expected an integer in [2, ${model.config.maxSeqLen}] (the model's context)`);
    }
    this.cache = model.createCache(capacity);
  }

  /** Tokens the session holds KV rows for (the prompt and generated tokens fed through the model). */
  get tokens(): readonly number[] {
    return this.committed;
  }

  get capacity(): number {
    return this.cache.capacity;
  }

  /** Whether a generation is running. */
  get busy(): boolean {
    return generating.has(this);
  }

  /** Forgets the held tokens (the next request prefills everything). */
  reset(): void {
    this.checkIdle('reset');
    this.forget();
  }

  dispose(): void {
    if (this.disposed) return;
    this.checkIdle('dispose');
    this.forget();
    this.disposed = true;
    this.cache.dispose();
  }

  /** Runs to completion and returns the text and statistics. */
  async run(req: DecodeRequest): Promise<GenerateResult> {
    const it = this.generate(req);
    for (;;) {
      const r = await it.next();
      if (r.done) return r.value;
    }
  }

  /**
   * Streams one event per step; the generator's return value is the result. The session keeps the
   * prompt and the generated tokens afterwards (also when the consumer stops early), so a next
   * prompt that starts with them prefills only the rest.
   */
  async *generate(req: DecodeRequest): AsyncGenerator<StepEvent, GenerateResult, void> {
    const plan = this.request(req);
    this.acquire();
    const { model, cache, head } = this;
    const tokenizer = model.tokenizer;
    const stats = new DecodeStats(this.maxDepth);
    const decoder = tokenizer?.createStreamDecoder(plan.promptIds); // the first piece decodes in context
    const out: number[] = [];
    const started = now();
    let stopReason: StopReason = 'max-tokens';
    let cachedPromptTokens = 0;
    let text = ''; // what was streamed
    let dispatchesBefore = model.device.stats.dispatches;

    try {
      cachedPromptTokens = this.reuse(plan.promptIds);
      let root = await this.prefill(plan.promptIds.slice(cachedPromptTokens), plan);
      stats.prefillMs = now() - started;
      dispatchesBefore = model.device.stats.dispatches;

      while (out.length < plan.maxNewTokens) {
        if (plan.signal?.aborted) {
          stopReason = 'aborted';
          break;
        }
        const remaining = plan.maxNewTokens - out.length;
        if (plan.stop.has(root)) {
          stopReason = 'eos';
          break;
        }
        const full = cache.length >= cache.capacity;
        if (remaining === 1 || full) {
          // The root is already decided: emitting it needs no forward pass (and at the end of the context none fits).
          if (full && remaining > 1) stopReason = 'context';
          out.push(root);
          const piece = decoder?.push(root) ?? '';
          text += piece;
          yield { tokens: [root], text: piece, acceptedLength: 1, step: stats.steps };
          break;
        }
        // Near the end of the context the tree shrinks to what fits.
        const tree = cache.length + this.maxRows <= cache.capacity ? this.tree : ROOT_ONLY;

        const { accepted, next } = await this.step(root, tree, plan, stats);

        // emit
        stats.record(accepted.length);
        let emit = accepted;
        const stopAt = emit.findIndex((t) => plan.stop.has(t));
        if (stopAt >= 0) {
          emit = emit.slice(0, stopAt);
          stopReason = 'eos';
        }
        if (emit.length > remaining) {
          emit = emit.slice(0, remaining);
          stopReason = 'max-tokens';
        }
        out.push(...emit);
        let piece = '';
        if (decoder) for (const t of emit) piece += decoder.push(t);
        text += piece;
        yield { tokens: emit, text: piece, acceptedLength: accepted.length, step: stats.steps };
        if (stopAt >= 0) break;
        root = next;
      }
      text += decoder?.flush() ?? '';
    } catch (e) {
      // The cache and the head may hold rows of a half-done step: start over next time.
      this.forget();
      throw e;
    } finally {
      // Also reached when the consumer stops at a yield: between steps, the state is whole.
      this.release();
    }

    const elapsedMs = now() - started;
    const decodeMs = elapsedMs - stats.prefillMs;
    return {
      text,
      tokenIds: out,
      promptTokens: plan.promptIds.length,
      cachedPromptTokens,
      steps: stats.steps,
      acceptedPerStep: stats.acceptedPerStep,
      meanAcceptedLength: stats.meanAcceptedLength,
      acceptanceByDepth: stats.acceptanceByDepth(),
      stopReason,
      elapsedMs,
      prefillMs: stats.prefillMs,
      tokensPerSecond: decodeMs > 0 ? (out.length / decodeMs) * 1000 : 0,
      timing: { baseMs: stats.baseMs, headMs: stats.headMs, verifyMs: stats.verifyMs, commitMs: stats.commitMs },
      dispatchesPerStep: stats.steps > 0 ? (model.device.stats.dispatches - dispatchesBefore) / stats.steps : 0,
    };
  }

  /** Deepest level a step drafts. */
  private get maxDepth(): number {
    return this.tree instanceof DynamicTree ? this.tree.depthFor(this.head!.depth) : this.tree.depth;
  }

  /** Most rows a step's verify pass has (root included). */
  private get maxRows(): number {
    return this.tree instanceof DynamicTree ? this.tree.maxNodes + 1 : this.tree.size;
  }

  /** One speculative step from a chosen root: propose → one tree forward → verify → commit. */
  private async step(root: number, shape: CandidateTree | DynamicTree, plan: Plan, stats: DecodeStats): Promise<{ accepted: number[]; next: number }> {
    let t0 = now();
    const draft = shape instanceof DynamicTree ? await this.grow(root, shape) : await this.propose(root, shape);
    stats.headMs += now() - t0;

    t0 = now();
    const pass = 'built' in draft ? await this.forwardBuilt(draft, plan.verifier) : await this.forwardTree(draft, plan.verifier);
    stats.baseMs += now() - t0;

    t0 = now();
    const result = this.verify(pass, plan);
    stats.verifyMs += now() - t0;

    t0 = now();
    const accepted = this.commit(pass, result);
    stats.commitMs += now() - t0;
    return { accepted, next: result.next };
  }

  // ---- validation ----

  /** Checks a request against the model and the session; throws OptionError naming the option. */
  private request(req: DecodeRequest): Plan {
    this.checkLive();
    const { config } = this.model;
    const sampling: SamplingOptions = req.sampling ?? { temperature: 0 };
    checkSamplingOptions(sampling);
    if (!Number.isInteger(req.maxNewTokens) || req.maxNewTokens < 0) {
      throw new OptionError(`maxNewTokens = ${req.maxNewTokens}; expected an integer >= 0`);
    }
    const problem = promptTypeProblem(req.prompt);
    if (problem) throw new OptionError(problem);
    const promptIds = typeof req.prompt === 'string' ? this.encode(req.prompt) : [...req.prompt];
    if (promptIds.length === 0) throw new OptionError('prompt has no tokens; expected at least one (e.g. BOS)');
    for (const id of promptIds) {
      if (!Number.isInteger(id) || id < 0 || id >= config.vocabSize) {
        throw new OptionError(`prompt token ${id} out of range; expected ids in [0, ${config.vocabSize})`);
      }
    }
    if (promptIds.length > this.cache.capacity) {
      throw new OptionError(`prompt has ${promptIds.length} tokens, more than the context of ${this.cache.capacity}`);
    }
    const stop = new Set<number>(req.stopTokens ?? []);
    if (req.stopAtEos ?? true) {
      for (const id of this.model.eosIds) stop.add(id);
      if (this.model.format === 'llama2c') stop.add(config.bosId);
    }
    return {
      promptIds,
      maxNewTokens: req.maxNewTokens,
      verifier: req.verifier ?? (sampling.temperature > 0 ? samplingVerifier(sampling) : greedyVerifier()),
      sampling,
      rng: createRng(req.seed ?? 0),
      stop,
      signal: req.signal,
    };
  }

  private encode(prompt: string): number[] {
    if (!this.model.tokenizer) throw new OptionError('model has no tokenizer; pass the prompt as token ids');
    // The context bounds the prompt: an over-long text is rejected before it is fully encoded.
    const limit = this.cache.capacity;
    try {
      return this.model.tokenizer.encode(prompt, { addSpecialTokens: true, maxTokens: limit });
    } catch (e) {
      if (!(e instanceof TokenLimitError)) throw e;
      throw new OptionError(`prompt has at least ${e.atLeast} tokens, more than the context of ${limit}`, { cause: e });
    }
  }

  // ---- state across generations ----

  /**
   * Keeps the longest run of held tokens that starts the prompt (leaving at least one prompt token
   * to prefill, whose logits give the first root) and forgets the rest. Returns how many it kept:
   * none with a head that cannot roll back (DraftHead.rollback), which then sees the whole prompt.
   */
  private reuse(promptIds: readonly number[]): number {
    const head = this.head;
    if (head && headOwner.get(head) !== this) {
      // Another session (or a plain generate) moved the head on: its state is not ours to extend.
      this.forget();
    }
    let common = 0;
    const limit = head && !head.rollback ? 0 : Math.min(this.committed.length, promptIds.length - 1);
    while (common < limit && this.committed[common] === promptIds[common]) common++;
    this.cache.rollback(common);
    this.committed.length = common;
    if (head) {
      if (common === 0) head.reset();
      else head.rollback!(common);
      headOwner.set(head, this);
    }
    return common;
  }

  /** Feeds the prompt's new tokens, commits them and picks the first root. */
  private async prefill(ids: readonly number[], plan: Plan): Promise<number> {
    const start = this.cache.length;
    const pre = this.model.forward(this.cache, { tokens: ids, logits: 'last', capture: this.capture });
    try {
      this.cache.commit();
      this.committed.push(...ids);
      this.head?.observe(pre.hidden, start, pre.features);
      const last = (await pre.logits!.read()) as Float32Array; // [vocab]
      return plan.sampling.temperature === 0 ? argmaxOf(last) : sampleFromLogits(last, plan.sampling, plan.rng);
    } finally {
      pre.hidden.dispose();
      pre.logits!.dispose();
      pre.features?.dispose();
    }
  }

  /** The base layers whose inputs the head drafts from (DraftHead.featureLayers), captured in every pass; undefined for none. */
  private get capture(): readonly number[] | undefined {
    const layers = this.head?.featureLayers;
    return layers && layers.length > 0 ? layers : undefined;
  }

  private forget(): void {
    this.cache.rollback(0);
    this.committed = [];
    if (this.head && headOwner.get(this.head) === this) {
      this.head.reset();
      headOwner.delete(this.head);
    }
  }

  private acquire(): void {
    if (generating.has(this)) throw new SessionBusyError('this session is already generating; await it or use another session');
    if (this.head && generating.has(this.head)) {
      throw new SessionBusyError(`draft head '${this.head.name}' is already generating in another session; await it or give each session its own head`);
    }
    generating.add(this);
    if (this.head) generating.add(this.head);
  }

  private release(): void {
    generating.delete(this);
    if (this.head) generating.delete(this.head);
  }

  private checkIdle(op: string): void {
    if (generating.has(this)) throw new SessionBusyError(`DecodeSession.${op}: this session is generating; await it first`);
  }

  private checkLive(): void {
    if (this.disposed) throw new OptionError('DecodeSession: the session was disposed');
  }

  // ---- the step's phases, with their device plumbing ----

  /** 1. propose: the head fills the tree (leaving it on the GPU when it can), or the root alone. */
  private async propose(root: number, tree: CandidateTree): Promise<Draft> {
    const head = this.head;
    const layout = rowLayout(tree); // the verify pass's rows, depth-first (rows.ts)
    const n = tree.size;
    if (!head || tree === ROOT_ONLY) return { tree, layout, root, tokens: Int32Array.of(root), onDevice: null, draftProbs: null };
    const context = this.committed;
    if (this.deviceProposals && head.proposeOnDevice) {
      const onDevice = head.proposeOnDevice({ tree, root, context, order: layout.nodeOf });
      if (onDevice) {
        if (!(onDevice instanceof Tensor) || onDevice.dtype !== 'i32' || onDevice.shape.length !== 1 || onDevice.shape[0] !== n) {
          const got = onDevice instanceof Tensor ? onDevice.describe() : String(onDevice);
          if (onDevice instanceof Tensor) onDevice.dispose();
          throw new OptionError(`head '${head.name}'.proposeOnDevice returned ${got}; expected an i32 tensor [${n}] (one token per tree node)`);
        }
        return { tree, layout, root, tokens: null, onDevice, draftProbs: null };
      }
    }
    const { tokens, draftProbs } = await head.propose({ tree, root, context });
    if (!(tokens instanceof Int32Array) || tokens.length !== n || tokens[0] !== root) {
      const got = tokens instanceof Int32Array ? `${tokens.length} tokens with root ${tokens[0]}` : String(tokens);
      throw new OptionError(`head '${head.name}' proposed ${got}; expected an Int32Array of ${n} tokens with root ${root}`);
    }
    const rows = n * this.model.config.vocabSize;
    if (draftProbs != null && (!(draftProbs instanceof Float32Array) || draftProbs.length !== rows)) {
      const got = draftProbs instanceof Float32Array ? `${draftProbs.length} values` : String(draftProbs);
      throw new OptionError(`head '${head.name}' proposed draftProbs of ${got}; expected a Float32Array [tree.size = ${n}, vocab = ${this.model.config.vocabSize}] (or null)`);
    }
    return { tree, layout, root, tokens, onDevice: null, draftProbs: draftProbs ?? null };
  }

  /**
   * 1'. propose with a dynamic tree: grown from the head's level-by-level top-k. With a fixed
   * budget and a head that records every level on the GPU, the tree is reranked there too
   * (rerankTree) and the verify pass is recorded behind it: one read-back a step, as for a fixed
   * tree. Otherwise the levels come back and growTree / treeFromLevels rerank them here.
   */
  private async grow(root: number, spec: DynamicTree): Promise<Draft | BuiltDraft> {
    const head = this.head!;
    const depth = spec.depthFor(head.depth);
    const drafting = head.draftLevels!({ root, context: this.committed, depth });
    try {
      const k = spec.topK;
      const candidates = k + (depth - 1) * k * k;
      const nodes = Math.min(spec.maxNodes, candidates);
      const onGpu = this.deviceProposals && !spec.stepMs && nodes <= RERANK_MAX_NODES && candidates <= RERANK_MAX_CANDIDATES;
      const levels = onGpu ? drafting.record?.(k) : null;
      if (levels) {
        const built = rerankTree(levels.ids, levels.logProbs, levels.picks, { k, depth, nodes, root, start: this.cache.length });
        return { built, root, name: spec.name };
      }
      // every level recorded at once where the head picks the frontiers itself (on the GPU), else level by level
      const all = drafting.all?.(k);
      const { tree, tokens } = all ? treeFromLevels(root, spec, await all) : await growTree(root, spec, depth, drafting.expand);
      return { tree, layout: rowLayout(tree), root, tokens, onDevice: null, draftProbs: null };
    } finally {
      drafting.dispose();
    }
  }

  /** 2. one base forward over the tree rows, and the read-back the verifier needs. */
  private async forwardTree(draft: Draft, verifier: Verifier): Promise<TreePass> {
    const { model, cache } = this;
    const { tree, layout, onDevice } = draft;
    const n = tree.size;
    const L = cache.length;
    const positions = Int32Array.from(layout.positionOffsets, (d) => L + d); // [n]
    let fwd: ForwardOutput;
    try {
      fwd = model.forward(cache, {
        tokens: onDevice ?? (layout.identity ? draft.tokens! : Int32Array.from(layout.nodeOf, (node) => draft.tokens![node])),
        positions,
        mask: n > 1 ? layout.mask : undefined,
        logits: 'all',
        capture: this.capture,
      });
    } catch (e) {
      onDevice?.dispose();
      throw e;
    }
    const logits = fwd.logits!; // [n, vocab]
    let tokens = draft.tokens;
    const pass: TreePass = { tree, layout, fwd, tokens: tokens!, draftProbs: draft.draftProbs };
    try {
      if (verifier.needs === 'argmax') {
        const am = argmax(logits); // [n]
        // with a device proposal, its tokens come back in the same read as the argmax
        const both = onDevice ? concat([onDevice, am], 0) : am;
        const read = (await both.read()) as Int32Array;
        if (both !== am) both.dispose();
        am.dispose();
        if (onDevice) tokens = byNode(layout, read.slice(0, n), 1);
        pass.argmax = byNode(layout, read.slice(read.length - n), 1);
      } else {
        if (onDevice) tokens = byNode(layout, (await onDevice.read()) as Int32Array, 1);
        pass.logits = byNode(layout, (await logits.read()) as Float32Array, model.config.vocabSize);
      }
      if (tokens![0] !== draft.root) throw new OptionError(`head '${this.head!.name}'.proposeOnDevice put token ${tokens![0]} at the root, expected ${draft.root}`);
    } catch (e) {
      fwd.hidden.dispose();
      fwd.features?.dispose();
      logits.dispose();
      throw e;
    } finally {
      onDevice?.dispose();
    }
    pass.tokens = tokens!;
    return pass;
  }

  /** 2'. the verify pass over a tree built on the GPU; the tree's rows (tokens, parents) come back in the verifier's read. */
  private async forwardBuilt(draft: BuiltDraft, verifier: Verifier): Promise<TreePass> {
    const { built } = draft;
    const n = built.tokens.size;
    const release = () => [built.tokens, built.positions, built.parents, built.mask].forEach((t) => t.dispose());
    let fwd: ForwardOutput;
    try {
      fwd = this.model.forward(this.cache, { tokens: built.tokens, positions: built.positions, mask: built.mask, logits: 'all', capture: this.capture });
    } catch (e) {
      release();
      throw e;
    }
    const logits = fwd.logits!; // [n, vocab] in row order
    try {
      let rows: Int32Array; // [2n]: each row's token, then each row's parent row
      let argmaxRows: Int32Array | null = null;
      let logitRows: Float32Array | null = null;
      if (verifier.needs === 'argmax') {
        const am = argmax(logits); // [n]
        const all = concat([built.tokens, built.parents, am], 0);
        const read = (await all.read()) as Int32Array;
        all.dispose();
        am.dispose();
        rows = read.subarray(0, 2 * n);
        argmaxRows = read.slice(2 * n);
      } else {
        const both = concat([built.tokens, built.parents], 0);
        const [read, l] = await Promise.all([both.read() as Promise<Int32Array>, logits.read() as Promise<Float32Array>]);
        both.dispose();
        rows = read;
        logitRows = l;
      }
      const { tree, layout } = treeOfRows(rows.subarray(n, 2 * n), draft.name);
      const pass: TreePass = { tree, layout, fwd, tokens: byNode(layout, rows.slice(0, n), 1), draftProbs: null };
      if (argmaxRows) pass.argmax = byNode(layout, argmaxRows, 1);
      if (logitRows) pass.logits = byNode(layout, logitRows, this.model.config.vocabSize);
      return pass;
    } catch (e) {
      fwd.hidden.dispose();
      fwd.features?.dispose();
      logits.dispose();
      throw e;
    } finally {
      release();
    }
  }

  /** 3. verify: the accepted path through the tree and the next root. */
  private verify(pass: TreePass, plan: Plan): VerifyResult {
    const { tree, tokens, draftProbs, argmax, logits } = pass;
    return plan.verifier.verify({ tree, tokens, draftProbs, vocabSize: this.model.config.vocabSize, argmax, logits }, plan.rng);
  }

  /** 4. commit the accepted rows: base cache, held tokens, then the head's state. Returns the path's tokens. */
  private commit(pass: TreePass, result: VerifyResult): number[] {
    const { fwd, layout } = pass;
    try {
      const L = this.cache.length;
      const rows = result.path.map((node) => layout.rowOf[node]);
      this.cache.commit(rows);
      const accepted = result.path.map((node) => pass.tokens[node]);
      this.committed.push(...accepted);
      if (this.head) {
        // the usual path is the leading rows (rows.ts): a copy then, not a gather dispatch
        const leading = rows.every((r, i) => r === i);
        const pick = (t: Tensor): Tensor => (leading ? slice(t, 0, 0, rows.length) : gatherRows(t, Int32Array.from(rows)));
        const hidden = pick(fwd.hidden); // [path, dim]
        const features = fwd.features ? pick(fwd.features) : undefined; // [path, layers · dim]
        try {
          this.head.observe(hidden, L, features);
        } finally {
          hidden.dispose();
          features?.dispose();
        }
      }
      return accepted;
    } finally {
      fwd.hidden.dispose();
      fwd.logits!.dispose();
      fwd.features?.dispose();
    }
  }
}

function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}

/** One generation in a fresh session, its cache dropped afterwards (what one-off callers need). */
export async function decodeOnce(model: LlamaModel, opts: DecodeRequest & SessionOptions): Promise<GenerateResult> {
  const session = new DecodeSession(model, opts);
  try {
    return await session.run(opts);
  } finally {
    session.dispose();
  }
}
