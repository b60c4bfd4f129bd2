import fc from 'fast-check';
import { CandidateTree } from '@hydra-ts/tree';

/** Random prefix-closed trees: each step hangs a child of some rank under an existing node. */
export const randomTrees = (maxNodes = 30, maxRank = 3) =>
  fc.array(fc.tuple(fc.nat(), fc.nat({ max: maxRank })), { minLength: 1, maxLength: maxNodes }).map((steps) => {
    const paths: number[][] = [];
    const seen = new Set<string>();
    for (const [p, r] of steps) {
      const k = p % (paths.length + 1);
      const path = [...(k === 0 ? [] : paths[k - 1]), r];
      if (!seen.has(path.join(','))) {
        seen.add(path.join(','));
        paths.push(path);
      }
    }
    return CandidateTree.fromPaths(paths);
  });

/** Node indices from the root to i, found by walking the node records (not the verifier's helper). */
export function ancestry(tree: CandidateTree, i: number): number[] {
  const chain = [i];
  while (tree.nodes[chain[0]].parent !== -1) chain.unshift(tree.nodes[chain[0]].parent);
  return chain;
}
