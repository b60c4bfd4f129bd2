// hydra tune: a candidate tree fitted to this device and these heads. Measures the base forward
// cost by tree rows and the heads' acceptance per (depth, rank), then keeps the node budget with
// the most expected tokens per second.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import cliProgress from 'cli-progress';
import { loadHead } from '@hydra-ts/heads';
import { bundledPromptFile } from './bench';
import { loadModel } from './generate';
import { UsageError } from '../errors';
import { checkHeadKind, checkTreeFits, decoderOption, deviceLine, intOption, outputFileOption, treeOption } from '../options';
import { benchHead, measureAcceptance, measureForwardCost, measureHeadCost, type BenchHead, type SpeculativeKind } from '../bench/calibrate';
import { readPrompts } from '../bench/prompts';
import { acceptanceFromCounts, chooseTree, monotoneCost, treeThroughput } from '../bench/tune-tree';

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
  out?: string;
  maxContext?: number | string;
  allowNonfinite?: boolean;
}

export async function runTune(flags: TuneFlags): Promise<void> {
  if (!flags.out) throw new UsageError('--out <tree.json> is required');
  outputFileOption('out', flags.out);
  const decoder = decoderOption(flags.decoder ?? 'hydra++');
  if (decoder === 'ar') throw new UsageError('--decoder ar: AR decoding has no tree to tune; expected medusa, hydra or hydra++');
  const maxNewTokens = intOption('max-new-tokens', flags.maxNewTokens ?? 128, 2);
  const maxNodes = intOption('max-nodes', flags.maxNodes ?? 63, 1, 1023);
  const calibrationTree = treeOption(flags.calibrationTree ?? 'medusa-63', 'calibration-tree');
  const rows = String(flags.rows ?? '1,2,3,4,5,6,7,8,10,12,16,20,24,32,48,64')
    .split(',')
    .map((s) => intOption('rows', s.trim(), 1, 1024));
  if (rows.some((r, i) => i > 0 && r <= rows[i - 1])) throw new UsageError(`--rows ${flags.rows}: expected increasing row counts`);
  const prompts = readPrompts(flags.prompts ?? bundledPromptFile('calibration.txt'), intOption('limit', flags.limit ?? 8, 1));
  const numHeads = intOption('num-heads', flags.numHeads ?? calibrationTree.depth, 1, 64);

  const { model, path: modelPath } = await loadModel(flags.model, flags.dtype, flags.softwareThreads ?? 0, flags);
  let h: BenchHead | null = null;
  try {
    checkTreeFits(calibrationTree, 'calibration-tree', flags.calibrationTree, model.config);
    if (flags.heads) {
      h = { head: await loadHead(model, flags.heads), file: flags.heads };
      checkHeadKind(flags.heads, h.head.config.kind, decoder);
    } else {
      const dir = flags.headsDir ?? path.join(modelPath.endsWith('.bin') ? path.dirname(modelPath) : modelPath, 'heads');
      h = await benchHead(model, decoder as SpeculativeKind, dir, numHeads, flags.untrainedHeads ?? false);
      if (!h) throw new UsageError(`--heads-dir ${dir}: no ${decoder} heads file there; pass --heads <file>, or --untrained-heads to tune for fresh createHead heads`);
    }
    const head = h.head;
    if (calibrationTree.depth > head.depth) {
      throw new UsageError(`--calibration-tree ${calibrationTree.name}: ${calibrationTree.depth} levels deep, but the heads fill only ${head.depth}`);
    }
    process.stderr.write(`device: ${deviceLine(model.device.name)}\nheads: ${h.file ?? `untrained (createHead, ${numHeads} heads)`}\n`);

    const bar = new cliProgress.SingleBar(
      { stream: process.stderr, format: 'tune [{bar}] {value}/{total} | ETA {eta_formatted} | {task}', hideCursor: true },
      cliProgress.Presets.shades_classic,
    );
    bar.start(prompts.length + 2, 0, { task: 'forward cost by rows' });
    const forward = await measureForwardCost(model, rows);
    bar.increment(1, { task: 'head cost by depth' });
    const headMs = await measureHeadCost(model, head);
    bar.increment(1, { task: `acceptance on ${prompts.length} prompts (${calibrationTree.name})` });
    const counts = await measureAcceptance(model, head, prompts, calibrationTree, maxNewTokens, () => bar.increment(1));
    bar.stop();

    const acceptProb = acceptanceFromCounts(counts.accepted, counts.seen);
    const cost = { forward: monotoneCost(forward), headMs, overheadMs: counts.overheadMs };
    const tuned = chooseTree(acceptProb, cost, { maxNodes, name: `tuned-${decoder}` });
    const reference = treeThroughput(calibrationTree, acceptProb, cost);

    const out = process.stdout;
    out.write(`forward + argmax + readback per step (ms) by tree rows:\n`);
    out.write(`  rows     ${forward.rows.map((r) => String(r).padStart(8)).join('')}\n  measured ${forward.ms.map((m) => m.toFixed(2).padStart(8)).join('')}\n  used     ${cost.forward.ms.map((m) => m.toFixed(2).padStart(8)).join('')}  (non-decreasing)\n`);
    out.write(`head propose (ms) by depth: ${headMs.map((m) => m.toFixed(2)).join(', ')}; other per-step time ${counts.overheadMs.toFixed(2)} ms\n`);
    out.write(`acceptance P(rank r accepted | parent accepted), ${counts.steps} steps:\n`);
    acceptProb.forEach((row, d) => out.write(`  depth ${d + 1}: ${row.map((p) => p.toFixed(3)).join(' ')}\n`));
    out.write(`expected tokens/s by node budget:\n`);
    for (const c of tuned.curve) {
      if (c.nodes <= 8 || c.nodes % 8 === 0 || c.nodes === tuned.best.nodes) {
        out.write(`  n=${String(c.nodes).padStart(3)} depth ${c.depth}  E[τ]=${c.expectedAcceptLength.toFixed(3)}  step ${c.stepMs.toFixed(2)} ms  ${c.tokensPerSecond.toFixed(1)} tok/s${c.nodes === tuned.best.nodes ? '  <- chosen' : ''}\n`);
      }
    }
    out.write(
      `chosen: ${tuned.best.nodes} nodes, depth ${tuned.best.depth}, E[τ] ${tuned.best.expectedAcceptLength.toFixed(3)}, ${tuned.best.tokensPerSecond.toFixed(1)} expected tok/s ` +
        `(${calibrationTree.name}: E[τ] ${reference.expectedAcceptLength.toFixed(3)}, ${reference.tokensPerSecond.toFixed(1)} expected tok/s)\n`,
    );
    // Plain AR is a candidate too: one row, no heads, and no tree to verify or compact (the
    // calibration's per-step overhead is a wide tree's), so its step is the one-row forward alone.
    // Say so when no tree pays for itself here.
    const arTokensPerSecond = 1000 / cost.forward.ms[0];
    if (forward.rows[0] === 1) {
      out.write(
        arTokensPerSecond > tuned.best.tokensPerSecond
          ? `note: plain AR (1 row, no heads) is expected to be faster on this device: ${arTokensPerSecond.toFixed(1)} tok/s\n`
          : `plain AR (1 row, no heads): ${arTokensPerSecond.toFixed(1)} expected tok/s\n`,
      );
    }
    const file = {
      ...tuned.tree.toJSON(),
      // Ignored when the tree is loaded; kept so the file says what it was fitted to.
      tuning: {
        device: model.device.name,
        model: modelPath,
        decoder,
        heads: h.file ?? 'untrained (createHead)',
        calibrationTree: calibrationTree.name,
        prompts: prompts.length,
        maxNewTokens,
        forward,
        forwardUsed: cost.forward,
        headMs,
        overheadMs: counts.overheadMs,
        acceptProb,
        expected: tuned.best,
        expectedForCalibrationTree: reference,
      },
    };
    writeFileSync(flags.out, JSON.stringify(file, null, 1) + '\n');
    out.write(`wrote ${flags.out}\n`);
  } finally {
    h?.head.dispose();
    model.dispose();
  }
}
