// hydra tune: tune the candidate tree for this device, model and heads now (tuneTree in
// @hydra-ts/decode), keep it in the tree cache the decoding commands read their default from, and
// print what was measured; --out also writes it as a tree file for --tree.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadHead } from '@hydra-ts/heads';
import type { TunedTree } from '@hydra-ts/decode';
import { bundledPromptFile } from '../paths';
import { loadModel } from './generate';
import { UsageError } from '../errors';
import { checkHeadKind, checkTreeFits, decoderOption, deviceLine, intOption, outputFileOption, treeOption } from '../options';
import { benchHead, type BenchHead, type SpeculativeKind } from './bench-parts/heads';
import { readPrompts } from './bench-parts/prompts';
import { fileFingerprint, modelFingerprint } from '../tuned-tree';
import { defaultTreeFor } from '@hydra-ts/decode';

export interface TuneFlags {
  model?: string;
  dtype?: string;
  softwareThreads?: string | number;
  decoder?: string;
  heads?: string;
  headsDir?: string;
  untrainedHeads?: boolean;
  numHeads?: number | string;
  prompts?: string;
  limit?: number | string;
  maxNewTokens?: number | string;
  calibrationTree?: string;
  rows?: string;
  maxNodes?: number | string;
  budgetMs?: number | string;
  cacheDir?: string;
  out?: string;
  maxContext?: number | string;
  allowNonfinite?: boolean;
}

export async function runTune(flags: TuneFlags): Promise<void> {
  if (flags.out) outputFileOption('out', flags.out);
  const decoder = decoderOption(flags.decoder ?? 'hydra++');
  if (decoder === 'ar') throw new UsageError('--decoder ar: AR decoding has no tree to tune; expected medusa, hydra or hydra++');
  const maxNewTokens = intOption('max-new-tokens', flags.maxNewTokens ?? 48, 2);
  const maxNodes = intOption('max-nodes', flags.maxNodes ?? 63, 1, 1023);
  const budgetMs = intOption('budget-ms', flags.budgetMs ?? 5000, 1);
  const calibrationTree = flags.calibrationTree !== undefined ? treeOption(flags.calibrationTree, 'calibration-tree') : undefined;
  const rows = flags.rows === undefined ? undefined : String(flags.rows).split(',').map((s) => intOption('rows', s.trim(), 1, 1024));
  if (rows && (rows[0] !== 1 || rows.some((r, i) => i > 0 && r <= rows[i - 1]))) throw new UsageError(`--rows ${flags.rows}: expected increasing row counts starting at 1 (the AR step)`);
  const prompts = readPrompts(flags.prompts ?? bundledPromptFile('calibration.txt'), intOption('limit', flags.limit ?? 8, 1));
  const numHeads = intOption('num-heads', flags.numHeads ?? 4, 1, 64);

  const { model, path: modelPath } = await loadModel(flags.model, flags.dtype, flags.softwareThreads ?? 0, flags);
  let h: BenchHead | null = null;
  try {
    if (calibrationTree) checkTreeFits(calibrationTree, 'calibration-tree', flags.calibrationTree, model.config);
    if (flags.heads) {
      h = { head: await loadHead(model, flags.heads), file: flags.heads };
      checkHeadKind(flags.heads, h.head.config.kind, decoder);
    } else {
      const dir = flags.headsDir ?? path.join(modelPath.endsWith('.bin') ? path.dirname(modelPath) : modelPath, 'heads');
      h = await benchHead(model, decoder as SpeculativeKind, dir, numHeads, flags.untrainedHeads ?? false);
      if (!h) throw new UsageError(`--heads-dir ${dir}: no ${decoder} heads file there; pass --heads <file>, or --untrained-heads to tune for fresh createHead heads`);
    }
    const head = h.head;
    if (calibrationTree && calibrationTree.depth > head.depth) {
      throw new UsageError(`--calibration-tree ${calibrationTree.name}: ${calibrationTree.depth} levels deep, but the heads fill only ${head.depth}`);
    }
    process.stderr.write(`device: ${deviceLine(model.device.name)}\nheads: ${h.file ?? `untrained (createHead, ${numHeads} heads)`}\n`);
    const result = await defaultTreeFor(model, head, {
      retune: true,
      cacheDir: flags.cacheDir,
      modelId: modelFingerprint(modelPath),
      headId: h.file ? fileFingerprint(h.file) : `untrained ${decoder} createHead ${numHeads} heads`,
      tune: { prompts, maxNewTokens, maxNodes, budgetMs, rows, calibrationTree, name: `tuned-${decoder}` },
      onProgress: (line) => process.stderr.write(`${line}\n`),
    });
    const t = result.record.tuning;
    process.stdout.write(formatTuning(t));
    process.stdout.write(
      result.ar
        ? `chosen: plain AR (no tree beat it here); generate/bench run ${decoder} as AR on this device\n`
        : `chosen: ${result.tree.size - 1} nodes, depth ${result.tree.depth}: ${JSON.stringify(result.tree.toJSON().paths)}\n`,
    );
    process.stdout.write(`cached as ${result.key} in ${result.where} (the default tree of generate/bench for these heads on this device)\n`);
    if (flags.out) {
      const file = { ...result.tree.toJSON(), ar: result.ar, tuning: { device: model.device.name, model: modelPath, decoder, heads: h.file ?? 'untrained (createHead)', ...t } };
      writeFileSync(flags.out, JSON.stringify(file, null, 1) + '\n');
      process.stdout.write(`wrote ${flags.out}\n`);
    }
  } finally {
    h?.head.dispose();
    model.dispose();
  }
}

/** The measurements and the choice, as text. */
export function formatTuning(t: Omit<TunedTree, 'tree'>): string {
  const lines: string[] = [];
  for (const f of t.cost.forward) {
    lines.push(`forward + argmax + read-back per step (ms) by tree rows, after ${f.context} tokens:`);
    lines.push(`  rows ${f.rows.map((r) => String(r).padStart(7)).join('')}`);
    lines.push(`  ms   ${f.ms.map((m) => m.toFixed(2).padStart(7)).join('')}`);
  }
  lines.push(`head drafting (ms) by depth: ${t.cost.headMs.map((m) => m.toFixed(2)).join(', ')}; other per-step time ${t.cost.overheadMs.toFixed(2)} ms`);
  if (t.calibration) lines.push(`acceptance P(rank r accepted | parent accepted), ${t.calibration.prompts} prompts × ${t.calibration.maxNewTokens} tokens on ${t.calibration.tree}:`);
  else lines.push('acceptance P(rank r accepted | parent accepted), as given:');
  t.acceptProb.forEach((row, d) => lines.push(`  depth ${d + 1}: ${row.map((p) => p.toFixed(3)).join(' ')}`));
  const ctx = t.cost.forward.map((f) => f.context).join(' / ');
  lines.push(`timed against AR (expected speed-up at contexts ${ctx}; measured median tokens/s and paired speed-up on short prompts; predicted speed-up at each context):`);
  for (const c of t.checked) {
    lines.push(
      `  ${c.nodes === 0 ? 'AR         ' : `${String(c.nodes).padStart(2)} nodes d${c.depth}`}  expected ${c.expected.speedup.map((s) => `${s.toFixed(2)}×`).join(' / ')}` +
        `  measured ${c.measuredTokensPerSecond.toFixed(1)} tok/s (${c.measuredSpeedup.toFixed(2)}× AR)  predicted ${c.predictedSpeedup.map((s) => `${s.toFixed(2)}×`).join(' / ')}`,
    );
  }
  lines.push(`tuned in ${(t.elapsedMs / 1000).toFixed(1)} s`);
  return lines.join('\n') + '\n';
}
