import { TreeError } from './errors';

/** Largest tree accepted, root included: the verify pass attends over size² mask entries. */
export const MAX_TREE_NODES = 1024;
/** Largest rank accepted in a path: a head never supplies more top-k guesses than this. */
export const MAX_RANK = 1024;

/** One row of the tree forward pass. */
export interface TreeNode {
  readonly index: number;
  /** Parent node index; -1 for the root. */
  readonly parent: number;
  /** Tokens after the root: the root is depth 0, a node at depth d is guessed by draft head d-1. */
  readonly depth: number;
  /** Rank of this guess among the parent's top-k from head depth-1; -1 for the root. */
  readonly rank: number;
  /** Child node indices, by increasing rank. */
  readonly children: readonly number[];
  /** Medusa path: the ranks from the root down to this node ([] for the root). */
  readonly path: readonly number[];
}

/** A tree file: `{ "name": "my-tree", "paths": [[0], [1], [0, 0]] }`. */
export interface CandidateTreeJSON {
  name?: string;
  paths: number[][];
}

export interface CandidateTreeOptions {
  /** Shown in errors and describe(); defaults to the file's base name, else 'custom'. */
  name?: string;
  /** The file the tree came from, named in every error about it. */
  file?: string;
  /** Accept an empty path list: the root alone, i.e. plain autoregressive decoding. */
  rootOnly?: boolean;
}

const baseName = (file: string): string => file.replace(/^.*[\\/]/, '').replace(/\.json$/i, '') || file;

const fmt = (path: readonly unknown[]): string => (path.every((r) => typeof r === 'number') ? `[${path.join(',')}]` : preview(path));

/**
 * A value for an error message, at most `max` characters. Safe on what a hostile file can hold:
 * arrays nested a million deep make JSON.stringify and join overflow the stack.
 */
function preview(value: unknown, max = 80): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = Array.isArray(value) ? '[[[…(nested too deeply)' : typeof value;
  }
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** How errors name a tree: its file when it came from one, else its name. */
function label(name: string, file: string | undefined): string {
  return file === undefined ? `tree '${name}'` : `tree file ${file}`;
}

/** What a model offers a tree: the top-k its heads can rank from, and the rows its context holds. */
export interface TreeLimits {
  /** Vocabulary size: a rank r needs r + 1 distinct tokens. */
  vocabSize: number;
  /** Context length (KV cache rows): one verify pass writes tree.size rows after the prompt. */
  contextLength: number;
  /** Tokens that must fit beside the tree (the prompt); default 1. */
  reserved?: number;
}

/**
 * Candidate continuations checked by the base model in one forward pass with tree attention.
 * Node 0 is the root (the token the base model already chose); nodes are sorted by
 * (depth, parent, rank), so every depth is a contiguous range of rows.
 */
export class CandidateTree {
  readonly name: string;
  readonly nodes: readonly TreeNode[];
  /** Rows in the verify pass, root included. */
  readonly size: number;
  /** Deepest node's depth. */
  readonly depth: number;
  /** [size] parent per node, -1 for the root. */
  readonly parents: Int32Array;
  /** [size] rank per node, -1 for the root. */
  readonly ranks: Int32Array;
  /** [size, size] row i may attend to column j iff j is i or an ancestor of i. */
  readonly attentionMask: Uint8Array;
  /** [size] position of each row relative to the root's position (= depth). */
  readonly positionOffsets: Int32Array;
  /** Nodes without children, by index. */
  readonly leaves: readonly number[];
  /** Root-to-leaf node index lists, longest first (ties by leaf index). */
  readonly retrievePaths: readonly (readonly number[])[];
  // depthStart[d] .. depthStart[d+1] are the rows at depth d.
  private readonly depthStart: Int32Array;

  private constructor(name: string, sortedPaths: number[][]) {
    this.name = name;
    const size = sortedPaths.length + 1;
    this.size = size;
    const index = new Map<string, number>([['', 0]]);
    const parents = new Int32Array(size);
    const ranks = new Int32Array(size);
    const depths = new Int32Array(size);
    const children: number[][] = Array.from({ length: size }, () => []);
    parents[0] = -1;
    ranks[0] = -1;
    sortedPaths.forEach((path, k) => {
      const i = k + 1;
      const parent = index.get(path.slice(0, -1).join(','))!;
      index.set(path.join(','), i);
      parents[i] = parent;
      ranks[i] = path[path.length - 1];
      depths[i] = path.length;
      children[parent].push(i);
    });
    this.parents = parents;
    this.ranks = ranks;
    this.positionOffsets = depths;
    this.depth = depths[size - 1];

    const nodes: TreeNode[] = [];
    for (let i = 0; i < size; i++) {
      nodes.push({
        index: i,
        parent: parents[i],
        depth: depths[i],
        rank: ranks[i],
        children: children[i],
        path: i === 0 ? [] : sortedPaths[i - 1],
      });
    }
    this.nodes = nodes;

    const mask = new Uint8Array(size * size);
    for (let i = 0; i < size; i++) {
      for (let j = i; j !== -1; j = parents[j]) mask[i * size + j] = 1;
    }
    this.attentionMask = mask;

    this.depthStart = new Int32Array(this.depth + 2);
    for (let i = size - 1; i >= 0; i--) this.depthStart[depths[i]] = i;
    this.depthStart[this.depth + 1] = size;

    this.leaves = nodes.filter((n) => n.children.length === 0).map((n) => n.index);
    const paths = this.leaves.map((leaf) => {
      const p: number[] = [];
      for (let j = leaf; j !== -1; j = parents[j]) p.push(j);
      return p.reverse();
    });
    this.retrievePaths = paths.sort((a, b) => b.length - a.length || a[a.length - 1] - b[b.length - 1]);
  }

  /**
   * Build a tree from Medusa path notation: each path lists ranks from the root, e.g.
   * [[0], [1], [0, 0]]. Every prefix of a path must be present too.
   */
  static fromPaths(paths: readonly (readonly number[])[], opts: CandidateTreeOptions = {}): CandidateTree {
    const name = opts.name ?? (opts.file !== undefined ? baseName(opts.file) : 'custom');
    const where = opts.file === undefined ? undefined : opts.file;
    if (typeof name !== 'string' || name.length === 0) {
      throw new TreeError(`${where === undefined ? 'tree' : `tree file ${where}:`} name must be a non-empty string, got ${preview(name)}`);
    }
    const tree = label(name, where);
    if (!Array.isArray(paths) || (paths.length === 0 && !opts.rootOnly)) {
      throw new TreeError(`${tree}: paths must be a non-empty array of rank lists like [[0], [0, 0]]`);
    }
    if (paths.length + 1 > MAX_TREE_NODES) {
      throw new TreeError(
        `${tree}: ${paths.length} paths make ${paths.length + 1} nodes with the root; ` +
          `at most ${MAX_TREE_NODES} are supported (first path past the limit: ${fmt(paths[MAX_TREE_NODES - 1] ?? [])})`,
      );
    }
    const seen = new Set<string>();
    const copies: number[][] = [];
    for (const path of paths) {
      if (!Array.isArray(path) || path.length === 0) {
        throw new TreeError(
          `${tree}: path ${preview(path)} must be a non-empty array of ranks (the root is implicit)`,
        );
      }
      for (const r of path) {
        if (typeof r !== 'number' || !Number.isInteger(r) || r < 0 || r >= MAX_RANK) {
          throw new TreeError(
            `${tree}: path ${fmt(path)} has rank ${preview(r)}; ranks must be integers in [0, ${MAX_RANK})`,
          );
        }
      }
      const key = path.join(',');
      if (seen.has(key)) throw new TreeError(`${tree}: path ${fmt(path)} appears more than once`);
      seen.add(key);
      copies.push([...path]);
    }
    for (const path of copies) {
      for (let len = 1; len < path.length; len++) {
        if (!seen.has(path.slice(0, len).join(','))) {
          throw new TreeError(
            `${tree}: path ${fmt(path)} needs its prefix ${fmt(path.slice(0, len))}, which is not in the list`,
          );
        }
      }
    }
    // (depth, parent, rank) order is (length, then lexicographic ranks), since parents are ordered the same way.
    copies.sort((a, b) => {
      if (a.length !== b.length) return a.length - b.length;
      for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return a[k] - b[k];
      return 0;
    });
    return new CandidateTree(name, copies);
  }

  /**
   * Parse a tree file's contents (a JSON string or an already parsed object). `opts.file` names
   * the file in every error, parse errors included.
   */
  static fromJSON(json: unknown, opts: Pick<CandidateTreeOptions, 'file'> = {}): CandidateTree {
    const where = opts.file === undefined ? 'tree file' : `tree file ${opts.file}`;
    const expected = 'an object like {"name": "my-tree", "paths": [[0], [0, 0]]}';
    let value = json;
    if (typeof json === 'string') {
      try {
        value = JSON.parse(json.charCodeAt(0) === 0xfeff ? json.slice(1) : json); // a UTF-8 BOM is not an error
      } catch (e) {
        throw new TreeError(`${where} is not valid JSON (${(e as Error).message}); expected ${expected}`, { cause: e });
      }
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new TreeError(`${where} must be ${expected}, got ${preview(value, 40)}`);
    }
    const { name, paths } = value as Record<string, unknown>;
    if (name !== undefined && (typeof name !== 'string' || name.length === 0)) {
      throw new TreeError(`${where} field "name" must be a string (non-empty), got ${preview(name)}`);
    }
    if (!Array.isArray(paths)) {
      throw new TreeError(`${opts.file === undefined && name ? `tree file '${name}'` : where} needs a "paths" array of rank lists, got ${preview(paths)}`);
    }
    return CandidateTree.fromPaths(paths as number[][], { name: name as string | undefined, file: opts.file });
  }

  /** The tree file form; paths in node order (root excluded). */
  toJSON(): CandidateTreeJSON {
    return { name: this.name, paths: this.nodes.slice(1).map((n) => [...n.path]) };
  }

  /** Node indices at depth d (a contiguous range; depth 0 is [0]). */
  nodesAtDepth(d: number): number[] {
    this.checkDepth(d, 0);
    const out: number[] = [];
    for (let i = this.depthStart[d]; i < this.depthStart[d + 1]; i++) out.push(i);
    return out;
  }

  /**
   * Top-k that draft head d-1 must supply for depth d: one more than the largest rank used
   * at that depth.
   */
  maxRankAtDepth(d: number): number {
    this.checkDepth(d, 1);
    let k = 0;
    for (let i = this.depthStart[d]; i < this.depthStart[d + 1]; i++) k = Math.max(k, this.ranks[i] + 1);
    return k;
  }

  /**
   * Throws TreeError unless every rank is one of `limits.vocabSize` tokens and the tree's rows fit
   * the context beside `reserved` tokens. A decoder shrinks a tree that does not fit to the root
   * alone, so a tree too big for the model would otherwise run as plain AR without a word.
   */
  checkFits(limits: TreeLimits, where = `tree '${this.name}'`): void {
    let rank = -1;
    for (const r of this.ranks) rank = Math.max(rank, r);
    if (rank >= limits.vocabSize) {
      const node = this.nodes.find((n) => n.rank === rank)!;
      throw new TreeError(`${where}: path ${fmt(node.path)} asks for rank ${rank}, but the vocabulary has ${limits.vocabSize} tokens; expected ranks below ${limits.vocabSize}`);
    }
    const reserved = limits.reserved ?? 1;
    if (this.size + reserved > limits.contextLength) {
      throw new TreeError(`${where}: ${this.size} rows (root included) and ${reserved} prompt token${reserved === 1 ? '' : 's'} exceed the model's context of ${limits.contextLength}; expected a tree of at most ${limits.contextLength - reserved} rows`);
    }
  }

  /** A short human-readable summary: rows, depth, nodes and top-k per depth. */
  describe(): string {
    const lines = [`tree '${this.name}': ${this.size} rows (root + ${this.size - 1} candidates), depth ${this.depth}, ${this.leaves.length} leaves`];
    for (let d = 1; d <= this.depth; d++) {
      const n = this.depthStart[d + 1] - this.depthStart[d];
      lines.push(`  depth ${d}: ${n} node${n === 1 ? '' : 's'}, top-${this.maxRankAtDepth(d)} from head ${d - 1}`);
    }
    return lines.join('\n');
  }

  private checkDepth(d: number, min: number): void {
    if (!Number.isInteger(d) || d < min || d > this.depth) {
      throw new TreeError(`tree '${this.name}': depth ${d} out of range; expected an integer in [${min}, ${this.depth}]`);
    }
  }
}
