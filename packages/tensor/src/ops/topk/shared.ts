// What the top-k kernels share: the list length every invocation keeps, the launch each variant's
// dispatch takes, and the WGSL of sorted insertion and of the workgroup merge rounds (which the
// fused head kernel, mlp-topk.ts, also uses).

/** The largest k of any top-k kernel: the private lists are always this long, so one pipeline serves every k. */
export const TOPK_MAX_K = 64;

/** A checked top-k call: x [rows, n] to values and indices [rows, k]. */
export interface TopkLaunch {
  rows: number;
  n: number;
  k: number;
  /** x, values, indices. */
  buffers: [GPUBuffer, GPUBuffer, GPUBuffer];
}

/**
 * WGSL declarations the merge rounds need: the list heads of a workgroup of `wg` in workgroup
 * memory, and the order of (value, index) pairs (larger value first, then lower index).
 */
export function topkMergeDeclsWgsl(wg: number): string {
  return `const NONE = 0xffffffffu;
var<workgroup> hv: array<f32, ${wg}>;
var<workgroup> hi: array<u32, ${wg}>;

// (av, ai) ranks before (bv, bi): larger value first, then lower index; NONE ranks last.
fn before(av: f32, ai: u32, bv: f32, bi: u32) -> bool {
  if (ai == NONE) { return false; }
  if (bi == NONE) { return true; }
  return av > bv || (av == bv && ai < bi);
}`;
}

/**
 * WGSL statement: puts (value `v`, index `j`) into the invocation's sorted list lv / li of c
 * entries, at most k. Indices must rise from call to call, so strict > keeps equal values in
 * index order.
 */
export function topkInsertWgsl(v: string, j: string): string {
  return `if (c < k || ${v} > lv[k - 1u]) {
      var q = min(c, k - 1u);
      loop {
        if (q == 0u || !(${v} > lv[q - 1u])) { break; }
        lv[q] = lv[q - 1u];
        li[q] = li[q - 1u];
        q -= 1u;
      }
      lv[q] = ${v};
      li[q] = ${j};
      c = min(c + 1u, k);
    }`;
}

/**
 * WGSL: k rounds of a workgroup arg-best over the heads of the invocations' lists (lv, li, c),
 * writing the k best of the workgroup to values / indices at row `row`. Every invocation of the
 * workgroup of `wg` must run it (it has barriers). `shift`: a WGSL expression subtracted from each
 * value written (mlpTopK's logsumexp, for log-probabilities).
 */
export function topkMergeWgsl(wg: number, shift = ''): string {
  return `var head = 0u;
  for (var r = 0u; r < k; r++) {
    if (head < c) {
      hv[lid] = lv[head];
      hi[lid] = li[head];
    } else {
      hv[lid] = 0.0;
      hi[lid] = NONE;
    }
    workgroupBarrier();
    for (var s = ${wg / 2}u; s > 0u; s >>= 1u) {
      if (lid < s && before(hv[lid + s], hi[lid + s], hv[lid], hi[lid])) {
        hv[lid] = hv[lid + s];
        hi[lid] = hi[lid + s];
      }
      workgroupBarrier();
    }
    let win = hi[0];
    if (lid == 0u) {
      values[row * k + r] = hv[0]${shift ? ` - ${shift}` : ''};
      indices[row * k + r] = i32(win);
    }
    if (head < c && li[head] == win) { head += 1u; }
    workgroupBarrier();
  }`;
}
