// A self-contained benchmark page: the table and three SVG charts drawn here (no scripts, no
// network): throughput and τ per decoder, and acceptance by tree depth.
import { formatTable, type BenchReport, type DecoderSummary } from './report';
import { threadsNote } from '../../options';

const COLORS = ['#7f7f7f', '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22'];

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

const fmt = (x: number, digits: number): string => x.toFixed(digits);

/** The k-th series colour: the palette, then golden-angle hues, so no two series share one. */
function colorOf(k: number): string {
  return k < COLORS.length ? COLORS[k] : `hsl(${Math.round((k * 137.5) % 360)}, 55%, 45%)`;
}

/** Rough width in pixels of the longest label at 12 px (7 px a character). */
function textWidth(labels: string[]): number {
  return 7 * Math.max(0, ...labels.map((l) => l.length));
}

/** Horizontal bars, one per decoder, labelled with their values. */
export function barChart(title: string, items: Array<{ label: string; value: number; note?: string }>, digits: number): string {
  const barH = 22;
  const gap = 8;
  const values = items.map((i) => `${fmt(i.value, digits)}${i.note ? ' ' + i.note : ''}`);
  const left = Math.max(170, 16 + textWidth(items.map((i) => i.label))); // labels never clipped
  const plotW = 360;
  const width = left + plotW + 14 + textWidth(values); // nor the values after the longest bar
  const top = 34;
  const height = top + items.length * (barH + gap) + 10;
  const max = Math.max(1e-9, ...items.map((i) => i.value));
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(title)}">`,
    `<text x="0" y="18" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
  ];
  items.forEach((item, k) => {
    const y = top + k * (barH + gap);
    const w = Math.max(1, (item.value / max) * plotW);
    parts.push(
      `<text x="${left - 8}" y="${y + barH * 0.7}" font-size="12" text-anchor="end">${escapeXml(item.label)}</text>`,
      `<rect x="${left}" y="${y}" width="${fmt(w, 1)}" height="${barH}" fill="${colorOf(k)}"/>`,
      `<text x="${fmt(left + w + 6, 1)}" y="${y + barH * 0.7}" font-size="12">${escapeXml(values[k]!)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** Grouped vertical bars: for each depth, one bar per decoder (fraction of steps reaching it). */
export function acceptanceChart(decoders: DecoderSummary[]): string {
  const spec = decoders.filter((d) => d.acceptanceByDepth.length > 0);
  const depth = Math.max(0, ...spec.map((d) => d.acceptanceByDepth.length));
  const left = 44;
  const top = 34;
  const bottom = 40;
  const plotH = 206;
  const height = Math.max(top + plotH + bottom, top + 18 * spec.length + 10); // the legend fits
  const plotW = 446;
  const width = left + plotW + 36 + textWidth(decoders.map((s) => s.label)); // room for the legend
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="acceptance by depth">`,
    `<text x="0" y="18" font-size="15" font-weight="bold">Acceptance by depth (fraction of steps)</text>`,
  ];
  for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
    const y = top + plotH * (1 - tick);
    parts.push(
      `<line x1="${left}" y1="${fmt(y, 1)}" x2="${left + plotW}" y2="${fmt(y, 1)}" stroke="#ddd"/>`,
      `<text x="${left - 6}" y="${fmt(y + 4, 1)}" font-size="11" text-anchor="end">${tick}</text>`,
    );
  }
  if (depth > 0 && spec.length > 0) {
    const groupW = plotW / depth;
    const barW = (groupW * 0.8) / spec.length;
    for (let d = 0; d < depth; d++) {
      const x0 = left + d * groupW + groupW * 0.1;
      spec.forEach((s, k) => {
        const v = s.acceptanceByDepth[d] ?? 0;
        const h = v * plotH;
        const color = colorOf(decoders.indexOf(s));
        parts.push(
          `<rect x="${fmt(x0 + k * barW, 1)}" y="${fmt(top + plotH - h, 1)}" width="${fmt(barW * 0.92, 1)}" height="${fmt(h, 1)}" fill="${color}"><title>${escapeXml(s.label)} depth ${d + 1}: ${fmt(v, 3)}</title></rect>`,
        );
      });
      parts.push(`<text x="${fmt(x0 + groupW * 0.4, 1)}" y="${height - bottom + 16}" font-size="12" text-anchor="middle">depth ${d + 1}</text>`);
    }
    spec.forEach((s, k) => {
      const y = top + k * 18;
      parts.push(
        `<rect x="${left + plotW + 12}" y="${y}" width="12" height="12" fill="${colorOf(decoders.indexOf(s))}"/>`,
        `<text x="${left + plotW + 30}" y="${y + 10}" font-size="12">${escapeXml(s.label)}</text>`,
      );
    });
  }
  parts.push('</svg>');
  return parts.join('\n');
}

export function renderHtml(report: BenchReport): string {
  const d = report.decoders;
  const throughput = barChart(
    'Throughput (tokens/s)',
    d.map((s) => ({ label: s.label, value: s.tokensPerSecond, note: s.speedup === null ? undefined : `(${s.speedup.toFixed(2)}× AR)` })),
    1,
  );
  const tau = barChart('Mean accepted length τ (tokens per step)', d.map((s) => ({ label: s.label, value: s.tau })), 2);
  const heads = d.filter((s) => s.heads).map((s) => `<li>${escapeXml(s.label)}: heads ${escapeXml(s.heads!)}</li>`).join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>hydra bench: ${escapeXml(report.model)}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; max-width: 60em; color: #222; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; }
svg { display: block; margin: 1.5em 0; }
</style>
</head>
<body>
<h1>hydra bench</h1>
<p>Model <code>${escapeXml(report.model)}</code> (${escapeXml(report.weights ?? 'f32')} weights) on <b>${escapeXml(report.device)}</b>${escapeXml(threadsNote(report.device, report.softwareThreads))}; ${report.prompts.length} prompts from
<code>${escapeXml(report.promptFile)}</code>, ${report.maxNewTokens} new tokens each, verifier ${escapeXml(report.verifier)}; ${escapeXml(report.date)}.
Decoders ran interleaved prompt by prompt after a warm-up.${
  report.proposals === 'host'
    ? ' Proposals went through the host (head ms/step is the heads\' whole time).'
    : ' Proposals stayed on the GPU: head ms/step is the time to record the drafting, and its GPU time is in base ms/step.'
}</p>
<ul>
${heads}
</ul>
${throughput}
${tau}
${acceptanceChart(d)}
<h2>Table</h2>
<pre>${escapeXml(formatTable(report))}</pre>
</body>
</html>
`;
}
