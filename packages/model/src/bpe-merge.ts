// The merge loop of byte-pair encoding, shared by the llama2.c tokenizer (highest score first)
// and long words of Hugging Face BPE models (lowest merge rank first): repeatedly replace the
// best adjacent pair by its merge, the leftmost pair on ties, until no pair merges.
//
// Pairs wait in a binary heap ordered by (score, position) over a linked list of symbols; a
// symbol's version changes whenever it does, which marks its heap entries stale. Each merge
// costs O(log n), so a word of n symbols takes O(n log n), where a scan per merge takes O(n²).

/** A pair that can merge: its priority (higher first) and the symbol it becomes. */
export interface PairMerge<T> {
  score: number;
  merged: T;
}

export function mergeBestPairs<T>(symbols: readonly T[], pair: (left: T, right: T) => PairMerge<T> | undefined): T[] {
  const n = symbols.length;
  if (n < 2) return [...symbols];
  const sym = [...symbols];
  const next = new Int32Array(n); // -1 after the last symbol
  const prev = new Int32Array(n); // -1 before the first
  const version = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    next[i] = i + 1 < n ? i + 1 : -1;
    prev[i] = i - 1;
  }
  const heap = new PairHeap<T>();
  const offer = (i: number) => {
    const j = next[i];
    if (j < 0) return;
    const m = pair(sym[i], sym[j]);
    if (m !== undefined) heap.push(m.score, i, j, version[i], version[j], m.merged);
  };
  for (let i = 0; i < n - 1; i++) offer(i);
  while (heap.size > 0) {
    const e = heap.pop();
    const i = heap.left[e];
    const j = heap.right[e];
    if (next[i] !== j || version[i] !== heap.leftVersion[e] || version[j] !== heap.rightVersion[e]) continue; // stale
    sym[i] = heap.merged[e];
    version[i]++;
    version[j]++;
    const k = next[j];
    next[i] = k;
    if (k >= 0) prev[k] = i;
    if (prev[i] >= 0) offer(prev[i]);
    offer(i);
  }
  const out: T[] = [];
  for (let i = 0; i >= 0; i = next[i]) out.push(sym[i]);
  return out;
}

/**
 * Max-heap of candidate merges: entry e is the pair (left[e], right[e]) of symbols at those
 * versions, merging into merged[e] with score[e]; higher scores first, then the leftmost pair.
 */
class PairHeap<T> {
  readonly score: number[] = [];
  readonly left: number[] = [];
  readonly right: number[] = [];
  readonly leftVersion: number[] = [];
  readonly rightVersion: number[] = [];
  readonly merged: T[] = [];
  private readonly order: number[] = []; // heap of entry indices
  private readonly free: number[] = [];

  get size(): number {
    return this.order.length;
  }

  private before(a: number, b: number): boolean {
    return this.score[a] > this.score[b] || (this.score[a] === this.score[b] && this.left[a] < this.left[b]);
  }

  push(score: number, left: number, right: number, leftVersion: number, rightVersion: number, merged: T): void {
    const e = this.free.length > 0 ? this.free.pop()! : this.score.length;
    this.score[e] = score;
    this.left[e] = left;
    this.right[e] = right;
    this.leftVersion[e] = leftVersion;
    this.rightVersion[e] = rightVersion;
    this.merged[e] = merged;
    const h = this.order;
    let c = h.length;
    h.push(e);
    while (c > 0) {
      const p = (c - 1) >> 1;
      if (!this.before(e, h[p])) break;
      h[c] = h[p];
      c = p;
    }
    h[c] = e;
  }

  /** Removes the first entry and returns its index, whose fields stay valid until the next push. */
  pop(): number {
    const h = this.order;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      let c = 0;
      for (;;) {
        const l = 2 * c + 1;
        if (l >= h.length) break;
        const m = l + 1 < h.length && this.before(h[l + 1], h[l]) ? l + 1 : l;
        if (!this.before(h[m], last)) break;
        h[c] = h[m];
        c = m;
      }
      h[c] = last;
    }
    this.free.push(top);
    return top;
  }
}
