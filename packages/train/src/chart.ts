// Training curves as one self-contained HTML page with inline SVG (no scripts, no network):
// training loss per step, held-out loss, and per-head held-out accuracy.
import type { HeadAccuracy, StepStats } from './trainer';

interface Series {
  name: string;
  color: string;
  points: Array<[number, number]>;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];

function escape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** One line chart: axes with a few ticks, one polyline per series, a legend. */
function lineChart(title: string, series: Series[], yLabel: string, fixedY?: [number, number]): string {
  const W = 640;
  const H = 300;
  const L = 56;
  const R = 150;
  const T = 28;
  const B = 40;
  const all = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  if (all.length === 0) return `<h2>${escape(title)}</h2><p>no data yet</p>`;
  const xMin = Math.min(...all.map((p) => p[0]));
  const xMax = Math.max(xMin + 1, ...all.map((p) => p[0]));
  let [yMin, yMax] = fixedY ?? [Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
  if (yMax - yMin < 1e-9) yMax = yMin + 1;
  const px = (x: number) => L + ((x - xMin) / (xMax - xMin)) * (W - L - R);
  const py = (y: number) => T + (1 - (y - yMin) / (yMax - yMin)) * (H - T - B);
  const ticks = (a: number, b: number) => Array.from({ length: 5 }, (_, i) => a + ((b - a) * i) / 4);
  const parts: string[] = [];
  parts.push(`<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="none" stroke="#999"/>`);
  for (const y of ticks(yMin, yMax)) {
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${py(y).toFixed(1)}" y2="${py(y).toFixed(1)}" stroke="#eee"/>`);
    parts.push(`<text x="${L - 6}" y="${(py(y) + 4).toFixed(1)}" text-anchor="end" font-size="11">${y.toPrecision(3)}</text>`);
  }
  for (const x of ticks(xMin, xMax)) {
    parts.push(`<text x="${px(x).toFixed(1)}" y="${H - B + 16}" text-anchor="middle" font-size="11">${Math.round(x)}</text>`);
  }
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 6}" text-anchor="middle" font-size="12">step</text>`);
  parts.push(`<text x="14" y="${(T + H - B) / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 14 ${(T + H - B) / 2})">${escape(yLabel)}</text>`);
  series.forEach((s, k) => {
    const pts = s.points.filter(([, y]) => Number.isFinite(y)).map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`);
    if (pts.length === 1) parts.push(`<circle cx="${pts[0].split(',')[0]}" cy="${pts[0].split(',')[1]}" r="3" fill="${s.color}"/>`);
    else parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="1.5" points="${pts.join(' ')}"/>`);
    parts.push(`<rect x="${W - R + 10}" y="${T + k * 18}" width="12" height="3" fill="${s.color}"/>`);
    parts.push(`<text x="${W - R + 28}" y="${T + k * 18 + 5}" font-size="11">${escape(s.name)}</text>`);
  });
  return `<h2>${escape(title)}</h2>\n<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">${parts.join('')}</svg>`;
}

/** Mean over windows of `size` steps, so a noisy per-step loss reads as a curve. */
function smooth(points: Array<[number, number]>, size: number): Array<[number, number]> {
  if (size <= 1) return points;
  const out: Array<[number, number]> = [];
  for (let i = 0; i < points.length; i += size) {
    const w = points.slice(i, i + size);
    out.push([w[w.length - 1][0], w.reduce((a, p) => a + p[1], 0) / w.length]);
  }
  return out;
}

export function curvesHtml(title: string, history: readonly StepStats[], evals: readonly HeadAccuracy[], notes: string[] = []): string {
  const train: Array<[number, number]> = history.map((h) => [h.step, h.loss]);
  const window = Math.max(1, Math.floor(train.length / 200));
  const heads = evals.length > 0 ? evals[0].top1.length : 0;
  const loss = lineChart('Loss', [
    { name: `train (mean of ${window})`, color: COLORS[0], points: smooth(train, window) },
    { name: 'held-out', color: COLORS[1], points: evals.map((e) => [e.step, e.loss]) },
  ], 'loss');
  const acc = (key: 'top1' | 'top5' | 'greedy', label: string) =>
    lineChart(label, Array.from({ length: heads }, (_, i) => ({ name: `head ${i}`, color: COLORS[i % COLORS.length], points: evals.map((e) => [e.step, e[key][i]] as [number, number]) })), 'accuracy', [0, 1]);
  const last = evals[evals.length - 1];
  const table = last
    ? `<table border="1" cellpadding="4" cellspacing="0"><tr><th>head</th><th>top-1</th><th>top-5</th><th>= base greedy</th></tr>${last.top1
        .map((_, i) => `<tr><td>${i}</td><td>${last.top1[i].toFixed(3)}</td><td>${last.top5[i].toFixed(3)}</td><td>${last.greedy[i].toFixed(3)}</td></tr>`)
        .join('')}</table>`
    : '';
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${escape(title)}</title>
<style>body{font-family:sans-serif;max-width:700px;margin:1em auto}</style></head>
<body><h1>${escape(title)}</h1>
${notes.map((n) => `<p>${escape(n)}</p>`).join('\n')}
${loss}
${acc('top1', 'Held-out top-1 accuracy (data token)')}
${acc('top5', 'Held-out top-5 accuracy (data token)')}
${acc('greedy', 'Held-out agreement with the base model\'s greedy token')}
${last ? `<h2>At step ${last.step}</h2>${table}` : ''}
</body></html>
`;
}
