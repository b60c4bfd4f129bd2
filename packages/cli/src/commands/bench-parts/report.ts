// Benchmark figures: per-run numbers, their per-decoder summary and the text table.
import type { GenerateResult } from '@hydra-ts/decode';

/** One decoder on one prompt. */
export interface RunFigures {
  prompt: number;
  tokens: number;
  steps: number;
  tau: number;
  tokensPerSecond: number;
  decodeMs: number;
  prefillMs: number;
  baseMs: number;
  headMs: number;
  verifyMs: number;
  commitMs: number;
  acceptanceByDepth: number[];
  /** Greedy: same tokens as AR on this prompt; null when not checked (sampling, or AR itself). */
  sameAsAr: boolean | null;
}

/** One decoder (with one tree) over all prompts. */
export interface DecoderSummary {
  label: string;
  decoder: string;
  tree: string | null;
  /** Where the heads came from: a file, 'untrained (createHead)', or null for AR. */
  heads: string | null;
  runs: RunFigures[];
  tokens: number;
  steps: number;
  tau: number;
  tokensPerSecond: number;
  speedup: number | null;
  baseMsPerStep: number;
  headMsPerStep: number;
  verifyMsPerStep: number;
  commitMsPerStep: number;
  /** Fraction of steps that accepted a candidate at depth d (index d-1), over all prompts. */
  acceptanceByDepth: number[];
  /** Prompts whose output matched AR, of those checked; null when not checked. */
  identical: { same: number; of: number } | null;
}

export interface BenchReport {
  device: string;
  model: string;
  /** The base model's weight storage (--dtype); absent in reports from before it existed: f32. */
  weights?: string;
  promptFile: string;
  prompts: string[];
  maxNewTokens: number;
  verifier: string;
  /** Where the heads' tokens went before the verify pass: 'device' (default) or 'host'. */
  proposals?: 'device' | 'host';
  /** LP_NUM_THREADS of the llvmpipe software driver during the run ('default': unset). */
  softwareThreads?: string;
  date: string;
  decoders: DecoderSummary[];
  /** Each decoder's step cost over the device floor at its dispatch count (absent in older reports). */
  floor?: FloorRow[];
  /** Set when the figures are estimates (replayed heads), saying of what. */
  estimate?: string;
}

/** One decoder's decode step against a step of as many trivial dispatches and one read-back. */
export interface FloorRow {
  label: string;
  /** Mean over the timed runs' decode steps (prefill excluded). */
  dispatchesPerStep: number;
  readbacksPerStep: number;
  /** Decode wall time per step. */
  stepMs: number;
  /** The floor at round(dispatchesPerStep) dispatches. */
  floorMs: number;
  overFloor: number;
}

export function runFigures(prompt: number, r: GenerateResult, sameAsAr: boolean | null): RunFigures {
  const decodeMs = r.elapsedMs - r.prefillMs;
  return {
    prompt,
    tokens: r.tokenIds.length,
    steps: r.steps,
    tau: r.meanAcceptedLength,
    tokensPerSecond: r.tokensPerSecond,
    decodeMs,
    prefillMs: r.prefillMs,
    baseMs: r.timing.baseMs,
    headMs: r.timing.headMs,
    verifyMs: r.timing.verifyMs,
    commitMs: r.timing.commitMs,
    acceptanceByDepth: r.acceptanceByDepth,
    sameAsAr,
  };
}

/** Totals over prompts: τ = accepted length per step and tokens/s = tokens per decode second, both pooled. */
export function summarize(label: string, decoder: string, tree: string | null, heads: string | null, runs: RunFigures[]): DecoderSummary {
  const sum = (f: (r: RunFigures) => number) => runs.reduce((a, r) => a + f(r), 0);
  const steps = sum((r) => r.steps);
  const tokens = sum((r) => r.tokens);
  const decodeMs = sum((r) => r.decodeMs);
  const perStep = (ms: number) => (steps ? ms / steps : 0);
  const depth = Math.max(0, ...runs.map((r) => r.acceptanceByDepth.length));
  const acceptanceByDepth = Array.from({ length: depth }, (_, d) =>
    steps ? runs.reduce((a, r) => a + (r.acceptanceByDepth[d] ?? 0) * r.steps, 0) / steps : 0,
  );
  const checked = runs.filter((r) => r.sameAsAr !== null);
  return {
    label,
    decoder,
    tree,
    heads,
    runs,
    tokens,
    steps,
    tau: steps ? sum((r) => r.tau * r.steps) / steps : 0,
    tokensPerSecond: decodeMs > 0 ? (tokens / decodeMs) * 1000 : 0,
    speedup: null,
    baseMsPerStep: perStep(sum((r) => r.baseMs)),
    headMsPerStep: perStep(sum((r) => r.headMs)),
    verifyMsPerStep: perStep(sum((r) => r.verifyMs)),
    commitMsPerStep: perStep(sum((r) => r.commitMs)),
    acceptanceByDepth,
    identical: checked.length ? { same: checked.filter((r) => r.sameAsAr).length, of: checked.length } : null,
  };
}

/** Fills in speedup over the 'ar' entry, if there is one. */
export function withSpeedups(decoders: DecoderSummary[]): DecoderSummary[] {
  const ar = decoders.find((d) => d.decoder === 'ar');
  return decoders.map((d) => ({ ...d, speedup: ar && ar.tokensPerSecond > 0 ? d.tokensPerSecond / ar.tokensPerSecond : null }));
}

/** A plain-text (Markdown) table, one row per decoder. */
export function formatTable(report: BenchReport): string {
  const depth = Math.max(0, ...report.decoders.map((d) => d.acceptanceByDepth.length));
  const header = ['decoder', 'tree', 'τ', 'tokens/s', 'speedup', 'base ms/step', 'head ms/step', 'verify ms/step'];
  for (let d = 1; d <= depth; d++) header.push(`acc d${d}`);
  header.push('= AR');
  const rows = report.decoders.map((s) => {
    const row = [
      s.decoder,
      s.tree ?? '-',
      s.tau.toFixed(2),
      s.tokensPerSecond.toFixed(1),
      s.speedup === null ? '-' : `${s.speedup.toFixed(2)}×`,
      s.baseMsPerStep.toFixed(2),
      s.headMsPerStep.toFixed(2),
      s.verifyMsPerStep.toFixed(3),
    ];
    for (let d = 0; d < depth; d++) row.push(s.acceptanceByDepth[d] === undefined ? '-' : s.acceptanceByDepth[d].toFixed(2));
    row.push(s.identical === null ? '-' : s.identical.same === s.identical.of ? `yes ${s.identical.same}/${s.identical.of}` : `NO ${s.identical.same}/${s.identical.of}`);
    return row;
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i < 2 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

/** The floor table: dispatches and read-backs per step, step ms, floor ms and their ratio. */
export function formatFloor(rows: readonly FloorRow[]): string {
  const header = ['decoder', 'dispatches/step', 'read-backs/step', 'step ms', 'floor ms', 'step / floor'];
  const body = rows.map((r) => [r.label, r.dispatchesPerStep.toFixed(1), r.readbacksPerStep.toFixed(2), r.stepMs.toFixed(3), r.floorMs.toFixed(3), `${r.overFloor.toFixed(2)}×`]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(header), rule, ...body.map(line)].join('\n');
}
