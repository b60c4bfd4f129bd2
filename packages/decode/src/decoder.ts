// The speculative decoder for one-off generations: each call runs in a fresh DecodeSession
// (session.ts holds the loop: propose → one base forward over the tree → verify → commit → emit)
// and drops its cache afterwards. Autoregressive decoding is the same loop with no head.
import type { LlamaModel } from '@hydra-ts/model';
import { DecodeSession, type DecodeRequest, type GenerateResult, type SessionOptions, type StepEvent } from './session';
import { DynamicTree } from '@hydra-ts/tree';
import { defaultTreeFor, type DefaultTreeOptions } from './tune/default-tree';
import { dynamicTreeFor } from './tune/dynamic-tree';

export type { GenerateResult, StepEvent } from './session';

export interface GenerateOptions extends DecodeRequest, Omit<SessionOptions, 'capacity'> {
  /**
   * With a head and no `tree`: how the default tree is found — tuned for this device, model and
   * head on first use (a few seconds), then read from the tree cache (defaultTreeFor). Where no
   * tree beats AR the generation runs without the head. A measured DynamicTree ('dynamic') takes
   * its step cost from the same tuning.
   */
  defaultTree?: DefaultTreeOptions;
}

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

  /** Streams one event per step; the generator's return value is the result. The head is reset afterwards. */
  async *stream(opts: GenerateOptions): AsyncGenerator<StepEvent, GenerateResult, void> {
    let { head, tree } = opts;
    if (head && !tree) {
      const tuned = await defaultTreeFor(this.model, head, opts.defaultTree);
      tree = tuned.tree;
      if (tuned.ar) head = null;
    } else if (head && tree instanceof DynamicTree && tree.measured && !tree.stepMs) {
      tree = await dynamicTreeFor(this.model, head, tree, opts.defaultTree);
    }
    const session = new DecodeSession(this.model, { head, tree, deviceProposals: opts.deviceProposals });
    try {
      return yield* session.generate(opts);
    } finally {
      session.dispose();
    }
  }

  /** A session that keeps its KV cache and head state from one generation to the next. */
  session(opts: SessionOptions = {}): DecodeSession {
    return new DecodeSession(this.model, opts);
  }
}
