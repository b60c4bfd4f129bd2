// A draft head that needs no weights: it looks up the latest n-gram ending at the root token
// earlier in the context and proposes what followed it there. Candidates at rank r come from
// the r-th most recent match, so a tree can try several continuations at once.
//
// Everything it touches is public API: the DraftHead contract from @hydra-ts/heads and the
// CandidateTree it is handed. No package of the library was changed to plug it in, and it
// implements only the members the decoder requires (name, depth, observe, propose, reset).
import type { Tensor } from '@hydra-ts/tensor';
import type { DraftHead, Proposal, ProposeRequest } from '@hydra-ts/heads';

export interface PromptLookupOptions {
  /** Longest n-gram tried first; shorter ones are tried when it finds nothing. Default 3. */
  maxNgram?: number;
  /** Deepest tree level proposed. Default 4. */
  depth?: number;
}

export class PromptLookupHead implements DraftHead {
  readonly name = 'prompt-lookup';
  readonly depth: number;
  private readonly maxNgram: number;

  constructor(opts: PromptLookupOptions = {}) {
    this.depth = opts.depth ?? 4;
    this.maxNgram = opts.maxNgram ?? 3;
  }

  // Works on tokens alone: hidden states are not needed.
  observe(_hidden: Tensor, _start: number): void {}

  async propose({ tree, root, context }: ProposeRequest): Promise<Proposal> {
    const seq = [...context, root];
    const continuations = this.matches(seq, tree.depth);
    const tokens = new Int32Array(tree.size);
    tokens[0] = root;
    // Node i at depth d, reached by ranks r1..rd: take continuation r1 (the path's first rank picks
    // the match), falling back to repeating the root when there are fewer matches than ranks.
    for (let i = 1; i < tree.size; i++) {
      const path = tree.nodes[i].path;
      const cont = continuations[path[0]];
      const d = tree.positionOffsets[i];
      tokens[i] = cont && d - 1 < cont.length && path.slice(1).every((r) => r === 0) ? cont[d - 1] : root;
    }
    return { tokens, draftProbs: null };
  }

  // Keeps no state between requests: nothing to forget. (The optional rollback, proposeOnDevice
  // and dispose are left out; without rollback a session prefills each prompt from its start.)
  reset(): void {}

  /** Up to `depth` following tokens for each earlier occurrence of the suffix, latest first. */
  private matches(seq: number[], depth: number): number[][] {
    const out: number[][] = [];
    const seen = new Set<string>();
    for (let n = Math.min(this.maxNgram, seq.length - 1); n >= 1; n--) {
      const suffix = seq.slice(seq.length - n);
      for (let start = seq.length - n - 1; start >= 0; start--) {
        let hit = true;
        for (let k = 0; k < n && hit; k++) hit = seq[start + k] === suffix[k];
        if (!hit) continue;
        const cont = seq.slice(start + n, start + n + depth);
        const key = cont.join(',');
        if (cont.length > 0 && !seen.has(key)) {
          seen.add(key);
          out.push(cont);
        }
      }
      if (out.length > 0) break;
    }
    return out;
  }
}
