// Where each tree node sits among the rows of the verify pass. The tree numbers its nodes depth
// by depth; the verify pass lays them out depth-first with children in rank order instead, so the
// rank-0 chain (root, its best child, that child's best child, ...) is a leading run of rows. An
// accepted path along that chain, the most common outcome, is then already where the KV cache
// keeps it, and committing it moves no rows (KVCache.commit copies only rows out of place).
import { CandidateTree, TreeError } from '@hydra-ts/tree';

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

/**
 * The tree whose verify rows are laid out as rowLayout lays them (depth-first, children in rank
 * order) with these parent rows (parents[0] = −1, the root; every other an earlier row), e.g. a
 * tree built on the GPU (rerankTree). A row's rank is its place among its parent's children.
 */
export function treeOfRows(parents: ArrayLike<number>, name: string): { tree: CandidateTree; layout: RowLayout } {
  const n = parents.length;
  if (n < 1 || parents[0] !== -1) throw new TreeError(`tree '${name}': row 0 has parent ${n < 1 ? 'none' : parents[0]}; expected the root (-1)`);
  const paths: number[][] = [[]];
  const children = new Array<number>(n).fill(0);
  for (let r = 1; r < n; r++) {
    const p = parents[r];
    if (!(Number.isInteger(p) && p >= 0 && p < r)) throw new TreeError(`tree '${name}': row ${r} has parent row ${p}; expected an earlier row (rows are depth-first)`);
    paths.push([...paths[p], children[p]++]);
  }
  const tree = CandidateTree.fromPaths(paths.slice(1), { name, rootOnly: true });
  const layout = rowLayout(tree);
  for (let r = 0; r < n; r++) {
    if (tree.nodes[layout.nodeOf[r]].path.join() !== paths[r].join()) throw new TreeError(`tree '${name}': row ${r} is not where a depth-first layout puts it (siblings out of rank order)`);
  }
  return { tree, layout };
}

/** Per-node values from per-row ones ([rows, width] in row order -> [size, width] in node order). */
export function byNode<T extends Int32Array | Float32Array>(layout: RowLayout, byRow: T, width: number): T {
  if (layout.identity) return byRow;
  const out = new (byRow.constructor as { new (n: number): T })(byRow.length);
  layout.rowOf.forEach((row, node) => out.set(byRow.subarray(row * width, row * width + width), node * width));
  return out;
}
