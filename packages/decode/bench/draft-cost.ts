// What drafting costs at a real vocabulary, and what a reduced draft vocabulary saves: the time of
// one propose() (every depth of a tree, its read-back included) for Medusa and Hydra heads scoring
// the whole vocabulary or a draft vocabulary of n ids (here the first n: with random weights which
// ids does not matter for cost; trained heads take the data's most frequent), against one AR step of the same model
// (the decoder's own, measured interleaved in the same run). Random-weight checkpoints of real
// shapes; the figures are cost, not acceptance.
//
//   pnpm --filter @hydra-ts/decode bench:draft-cost [-- --shapes smollm2,qwen3] [--tree cpu-16] [--reps 5] [--html out.html]
// --html draws the proposal's cost in AR steps per head and vocabulary (bench-results/draft-cost.html).
import { writeFileSync } from 'node:fs';
import { getDevice } from '@hydra-ts/tensor';
import { LlamaModel, RANDOM_SHAPES, randomCheckpoint, type RandomShapeName } from '@hydra-ts/model';
import { createHead, type Heads } from '@hydra-ts/heads';
import { getTree } from '@hydra-ts/tree';
import { SpeculativeDecoder } from '../src/index';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const shapes = arg('shapes', 'smollm2').split(',');
const tree = getTree(arg('tree', 'cpu-16'));
const REPS = Number(arg('reps', '5'));
const htmlOut = arg('html', '');
const SHAPES: Array<[string, RandomShapeName]> = [['smollm2', 'smollm2-135m'], ['qwen3', 'qwen3-0.6b'], ['llama3', 'llama3.2-1b']];

interface Run {
  kind: 'medusa' | 'hydra';
  sharedOutput: boolean;
  draftVocab: number | null;
}

/** One measured proposal: its cost in AR steps, for the chart. */
const measured: Array<{ shape: string; head: string; vocab: string; ratio: number }> = [];

const device = await getDevice();
console.log(`adapter: ${device.name}; tree ${tree.name} (${tree.size} nodes, depth ${tree.depth}); median of ${REPS} proposals after one warm-up`);
console.log('| shape | head | scored vocabulary | propose ms | ms per depth | AR step ms | propose / AR step |');
console.log('|---|---|---:|---:|---:|---:|---:|');
for (const [key, name] of SHAPES) {
  if (!shapes.includes(key)) continue;
  const c = RANDOM_SHAPES[name];
  const model = LlamaModel.fromWeights(device, c, randomCheckpoint(name, 1).weights);
  const decoder = new SpeculativeDecoder(model);
  const vocabs = [null, 32000, 8192].filter((v) => v === null || v < c.vocabSize);
  // own lm_heads only where four of them fit comfortably (4 × vocab × dim f32)
  const runs: Run[] = [];
  for (const draftVocab of vocabs) {
    for (const sharedOutput of [true, false]) {
      if (!sharedOutput && 4 * 4 * (draftVocab ?? c.vocabSize) * c.dim > 512 * 2 ** 20) continue;
      runs.push({ kind: 'medusa', sharedOutput, draftVocab });
    }
    runs.push({ kind: 'hydra', sharedOutput: true, draftVocab });
  }
  const arStep = async () => {
    const r = await decoder.generate({ prompt: [1, 2, 3, 4], maxNewTokens: 5, head: null });
    return (r.elapsedMs - r.prefillMs) / Math.max(1, r.steps);
  };
  await arStep(); // pipelines compiled
  for (const run of runs) {
    let head: Heads | null = null;
    try {
      head = await createHead(model, { kind: run.kind, numHeads: tree.depth, sharedOutput: run.sharedOutput, ...(run.draftVocab ? { draftVocabSize: run.draftVocab } : {}) });
      const h = device.tensor(new Float32Array(c.dim).map((_, i) => Math.sin(i)), [1, c.dim]);
      head.observe(h, 0);
      h.dispose();
      await head.propose({ tree, root: 5, context: [] }); // warm-up
      const propose: number[] = [];
      const ar: number[] = [];
      for (let r = 0; r < REPS; r++) {
        const t0 = performance.now();
        await head.propose({ tree, root: 5 + r, context: [] });
        propose.push(performance.now() - t0);
        ar.push(await arStep()); // interleaved
      }
      const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
      const p = med(propose);
      const a = med(ar);
      const label = `${run.kind}, ${tree.depth} heads, ${run.sharedOutput ? 'shared output' : 'own lm_heads'}`;
      console.log(`| ${name} | ${label} | ${run.draftVocab ?? `${c.vocabSize} (whole)`} | ${p.toFixed(1)} | ${(p / tree.depth).toFixed(1)} | ${a.toFixed(1)} | ${(p / a).toFixed(2)} |`);
      measured.push({ shape: name, head: label, vocab: run.draftVocab ? `${run.draftVocab} draft ids` : `whole ${c.vocabSize}`, ratio: p / a });
    } catch (e) {
      console.log(`| ${name} | ${run.kind} | ${run.draftVocab ?? 'whole'} | failed: ${(e as Error).name}: ${(e as Error).message.split('\n')[0].slice(0, 160)} | | | |`);
    } finally {
      head?.dispose();
    }
  }
  model.dispose();
}
if (htmlOut) writeFileSync(htmlOut, chartPage());
process.exit(0);

/** Grouped horizontal bars: for each shape and head, one bar per scored vocabulary, its length the proposal's cost in AR steps. */
function chartPage(): string {
  const esc = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const vocabs = [...new Set(measured.map((m) => m.vocab.startsWith('whole') ? 'whole vocabulary' : m.vocab))];
  const colour = (v: string) => ['#7f7f7f', '#1f77b4', '#2ca02c', '#ff7f0e'][vocabs.indexOf(v) % 4];
  const groups = [...new Set(measured.map((m) => `${m.shape}: ${m.head}`))];
  const bar = 14;
  const left = 330;
  const scale = 300; // px per AR step
  let y = 40;
  const body: string[] = [];
  for (const g of groups) {
    const rows = measured.filter((m) => `${m.shape}: ${m.head}` === g);
    body.push(`<text x="${left - 8}" y="${y + (rows.length * bar) / 2 + 4}" font-size="12" text-anchor="end">${esc(g)}</text>`);
    for (const m of rows) {
      const v = m.vocab.startsWith('whole') ? 'whole vocabulary' : m.vocab;
      body.push(`<rect x="${left}" y="${y}" width="${(m.ratio * scale).toFixed(1)}" height="${bar - 2}" fill="${colour(v)}"/>`);
      body.push(`<text x="${(left + m.ratio * scale + 5).toFixed(1)}" y="${y + bar - 4}" font-size="11">${m.ratio.toFixed(2)} (${esc(m.vocab)})</text>`);
      y += bar;
    }
    y += 10;
  }
  const x1 = left + scale;
  body.push(`<line x1="${x1}" y1="30" x2="${x1}" y2="${y}" stroke="#d62728" stroke-dasharray="4 3"/><text x="${x1 + 4}" y="${y + 12}" font-size="11" fill="#d62728">one AR step</text>`);
  const legend = vocabs.map((v, k) => `<rect x="${left + k * 150}" y="${y + 22}" width="12" height="12" fill="${colour(v)}"/><text x="${left + k * 150 + 16}" y="${y + 32}" font-size="12">${esc(v)}</text>`).join('');
  const width = left + scale * 1.6;
  const height = y + 44;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Drafting cost at real vocabularies</title>
<style>body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }</style></head><body>
<h1>Drafting cost at real vocabularies</h1>
<p>One propose() on tree ${esc(tree.name)} (every depth, read-back included), as a multiple of one AR step of the same model, on ${esc(device.name)}; random-weight checkpoints (cost, not acceptance). pnpm --filter @hydra-ts/decode bench:draft-cost.</p>
<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="drafting cost in AR steps">
<text x="0" y="18" font-size="15" font-weight="bold">Proposal cost (AR steps), by head and scored vocabulary</text>
${body.join('\n')}
${legend}
</svg></body></html>
`;
}
