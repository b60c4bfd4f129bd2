// CPU twin of rerankTree: every candidate's parent and path score (f32 sums, as the kernel adds),
// a stable sort, best first, ties to the lower candidate, then the kept nodes laid out depth-first
// by recursion, children in kept order.

export interface RerankedTreeCpu {
  tokens: Int32Array;
  positions: Int32Array;
  parents: Int32Array;
  mask: Uint32Array;
}

export function rerankTreeCpu(ids: ArrayLike<number>, logq: ArrayLike<number>, picks: ArrayLike<number>, o: { k: number; depth: number; nodes: number; root: number; start: number }): RerankedTreeCpu {
  const { k, depth, nodes, root, start } = o;
  const parent: number[] = []; // -1: the root
  const level: number[] = [];
  const score: number[] = [];
  const add = (up: number, l: number) => {
    const n = parent.length;
    const q = Math.min(logq[n], 0);
    parent.push(up);
    level.push(l);
    score.push(Math.fround((up < 0 ? 0 : score[up]) + q));
  };
  for (let j = 0; j < k; j++) add(-1, 1);
  let prevStart = 0;
  for (let l = 2; l <= depth; l++) {
    const levelStart = parent.length;
    for (let r = 0; r < k; r++) {
      const up = prevStart + picks[(l - 2) * k + r];
      for (let j = 0; j < k; j++) add(up, l);
    }
    prevStart = levelStart;
  }
  const order = score.map((_, n) => n).sort((a, b) => score[b] - score[a] || a - b);
  const kept = order.slice(0, nodes);
  const rows = nodes + 1;
  const tokens = new Int32Array(rows);
  const positions = new Int32Array(rows);
  const parents = new Int32Array(rows);
  tokens[0] = root;
  positions[0] = start;
  parents[0] = -1;
  let next = 1;
  const visit = (n: number, parentRow: number) => {
    const row = next++;
    tokens[row] = ids[n];
    positions[row] = start + level[n];
    parents[row] = parentRow;
    for (const c of kept) if (parent[c] === n) visit(c, row);
  };
  for (const n of kept) if (parent[n] < 0) visit(n, 0);
  const mask = new Uint32Array(rows * rows);
  for (let r = 0; r < rows; r++) for (let a = r; ; a = parents[a]) {
    mask[r * rows + a] = 1;
    if (a === 0) break;
  }
  return { tokens, positions, parents, mask };
}
