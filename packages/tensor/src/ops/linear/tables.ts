// The linear family's tuning tables: register blocks by row count and width, and the workgroup
// widths they are fitted to. Every figure here was measured on llvmpipe (Mesa's software Vulkan
// driver, 2 cores), the device class this project is tuned on; hardware GPUs take the same
// blocks until a table of their own is measured (on them the k-split kernel, see select.ts, takes
// the one-row products). bench/tune-linear.ts measures them.
import type { ColumnConfig } from './shared';

/**
 * Register block by row count, measured on llvmpipe: one row streams w with two columns per
 * invocation; more rows reuse each weight load for up to 8 rows × 4 columns. A narrow one-row
 * product (`n` outputs, when given) gets 32-wide workgroups so both CPU threads find work. When
 * `n` is given the workgroup width is then fitted to it (fitWidth).
 */
export function columnConfig(rows: number, n = Infinity, share = false): ColumnConfig {
  return fitWidth(blockFor(rows, n, share), n);
}

function blockFor(rows: number, n: number, share: boolean): ColumnConfig {
  if (rows <= 1) return { wg: n < 4096 ? 32 : 64, tm: 1, tc: 2 };
  // Shared rows cost a broadcast, not a load, so blocks of 8 and 16 rows pay off: on lavapipe
  // 64×288·288→768 2.1× and 8×288·288→288 2.2× faster than per-lane loads (bench/tune-linear.ts).
  // Two columns a lane compile 2-3× faster than four and ran as fast or faster.
  if (share) return { wg: 32, tm: rows <= 4 ? 4 : rows < 16 ? 8 : 16, tc: 2, share };
  // Narrow products (small models, draft heads): smaller blocks give both CPU threads work. From
  // 16 rows and 256 columns on there are blocks enough for 8 rows × 4 columns an invocation, which
  // loads each weight once for twice the rows (64×288·288→288: 2.77 → 2.48 ms, 64×288·288→768:
  // 6.5 → 5.2 ms, 1024×64·64→512: 18.0 → 10.4 ms on lavapipe; fewer columns leave lanes idle).
  if (n < 1024) return rows >= 16 && n >= 256 ? { wg: 32, tm: 8, tc: 4 } : { wg: 32, tm: 4, tc: 2 };
  if (rows <= 4) return { wg: 64, tm: 4, tc: 4 };
  return { wg: 64, tm: 8, tc: 4 };
}

/** Workgroup widths fitWidth picks from: whole SIMD groups of a 256-bit CPU driver (8 lanes). */
const FIT_WIDTHS = [8, 16, 24, 32, 40, 48, 56, 64];

/**
 * The block with its workgroup width changed to the one that pads `n` least, nearest the block's
 * own width on ties (the narrower of two as near). Every invocation of the last column workgroup
 * runs whether its columns exist or not, so the padding is work thrown away: 64×288·288→288 with
 * 32 × 4 columns a workgroup computes 384 columns, with 24 × 4 exactly 288 (3.4 → 2.7 CPU-ms on
 * lavapipe, bench/tune-linear.ts, interleaved; int8 weights 3.6 → 2.7 ms, 4-bit 2.9 → 2.5 ms). One-row
 * products measured the same either way.
 */
export function fitWidth(c: ColumnConfig, n: number): ColumnConfig {
  if (!Number.isFinite(n) || c.lanes === 'rows') return c;
  const padded = (wg: number) => Math.ceil(n / (wg * c.tc)) * wg * c.tc;
  const order = [...FIT_WIDTHS].sort((a, b) => Math.abs(a - c.wg) - Math.abs(b - c.wg) || a - b);
  let wg = c.wg;
  for (const w of order) if (padded(w) < padded(wg)) wg = w;
  return wg === c.wg ? c : { ...c, wg };
}

/**
 * Register block of the quantized kernels: columnConfig's, except that a wide one-row product of
 * 4-bit weights takes 4 columns an invocation (1×288·288→32000 on lavapipe: 1.9 ms against 2.5 ms
 * with 2); either way fitted to `n`.
 */
export function quantConfig(bits: 8 | 4, rows: number, n: number, share = false): ColumnConfig {
  return fitWidth(bits === 4 && rows <= 1 && n >= 4096 ? { wg: 64, tm: 1, tc: 4 } : blockFor(rows, n, share), n);
}
