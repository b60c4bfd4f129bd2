import type { Rng } from './rng';
import { checkInput, pathTo, type Verifier, type VerifyInput, type VerifyResult } from './verifier';

/**
 * Accepts the longest path whose every token is the base model's argmax at its parent row
 * (the earliest such path on ties). Lossless: the output is exactly greedy decoding's.
 */
export function greedyVerifier(): Verifier {
  const self: Verifier = {
    kind: 'greedy',
    needs: 'argmax',
    verify(input: VerifyInput, _rng: Rng): VerifyResult {
      checkInput(input, self);
      const { tree, tokens } = input;
      const argmax = input.argmax!;
      // Nodes come parents-first, so one forward sweep decides every node.
      const ok = new Uint8Array(tree.size);
      ok[0] = 1;
      let best = 0;
      for (let i = 1; i < tree.size; i++) {
        const parent = tree.parents[i];
        if (ok[parent] && tokens[i] === argmax[parent]) {
          ok[i] = 1;
          if (tree.positionOffsets[i] > tree.positionOffsets[best]) best = i;
        }
      }
      const path = pathTo(tree, best);
      return { path, next: argmax[best], acceptedLength: path.length };
    },
  };
  return self;
}
