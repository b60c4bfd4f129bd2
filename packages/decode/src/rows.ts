// Where each tree node sits among the rows of the verify pass. The tree numbers its nodes depth
// by depth; the verify pass lays them out depth-first with children in rank order instead, so the
// rank-0 chain (root, its best child, that child's best child, ...) is a leading run of rows. An
// accepted path along that chain, the most common outcome, is then already where the KV cache
// keeps it, and committing it moves no rows (KVCache.commit copies only rows out of place).
import type { CandidateTree } from '@hydra-ts/tree';

export interface RowLayout {
  /** [size] node of each row. */
  readonly nodeOf: Int32Array;
  /** [size] row of each node. */
  readonly rowOf: Int32Array;
  /** [size, size] the tree's attention mask in row order. */
  readonly mask: Uint8Array;
  /** [size] position offset (depth) of each row. */
  readonly positionOffsets: Int32Array;
  /** Rows are in node order (chains, the root alone): nothing to permute. */
  readonly identity: boolean;
}

const layouts = new WeakMap<CandidateTree, RowLayout>();

/** The depth-first row layout of a tree (computed once per tree). */
export function rowLayout(tree: CandidateTree): RowLayout {
  let layout = layouts.get(tree);
  if (layout) return layout;
  const n = tree.size;
  const nodeOf = new Int32Array(n);
  let next = 0;
  const visit = (node: number): void => {
    nodeOf[next++] = node;
    const children = [...tree.nodes[node].children].sort((a, b) => tree.ranks[a] - tree.ranks[b]);
    for (const c of children) visit(c);
  };
  visit(0);
  const rowOf = new Int32Array(n);
  nodeOf.forEach((node, row) => (rowOf[node] = row));
  const mask = new Uint8Array(n * n);
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) mask[r * n + c] = tree.attentionMask[nodeOf[r] * n + nodeOf[c]];
  const positionOffsets = Int32Array.from(nodeOf, (node) => tree.positionOffsets[node]);
  layout = { nodeOf, rowOf, mask, positionOffsets, identity: nodeOf.every((node, row) => node === row) };
  layouts.set(tree, layout);
  return layout;
}
