// What both attention kernels share: the checked call they are given (AttentionLaunch), and the
// sliding window and score soft cap in WGSL. A new row's key has its row's position; a committed
// key at cache row j has position j. Keys before `firstKey` are outside every window of row i.
// The kernel that includes WINDOW_WGSL declares `p` (with cachedLen, window, softcap) and `pos`.
import { TANH_WGSL } from '../unary';

export const WINDOW_WGSL = `
fn keyPos(j: u32) -> i32 {
  if (j < p.cachedLen) { return i32(j); }
  return pos[j - p.cachedLen];
}
fn inWindow(i: u32, j: u32) -> bool {
  return p.window == 0u || pos[i] - keyPos(j) < i32(p.window);
}
fn firstKey(i: u32) -> u32 {
  if (p.window == 0u) { return 0u; }
  return min(u32(max(pos[i] - i32(p.window) + 1, 0)), p.cachedLen);
}
${TANH_WGSL}
fn capped(s: f32) -> f32 {
  if (p.softcap <= 0.0) { return s; }
  return p.softcap * tanhSafe(s / p.softcap);
}`;

/** A checked attention call, as each kernel variant's dispatch takes it. */
export interface AttentionLaunch {
  rows: number;
  cachedLen: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  /** Row widths of q (nHeads·headDim) and of the caches (nKvHeads·headDim). */
  qW: number;
  kvW: number;
  scale: number;
  /** No mask: new row i sees new rows j ≤ i. */
  causal: boolean;
  /** The first key the mask covers (cachedLen + rows − maskWidth; cachedLen when causal) and the mask's row width. */
  maskStart: number;
  maskWidth: number;
  /** 0: no window. */
  window: number;
  /** 0: no soft cap. */
  softcap: number;
  /** q, kCache, vCache, mask, positions, out. */
  buffers: [GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer];
}
