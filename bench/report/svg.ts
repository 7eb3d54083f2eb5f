// Hand-written SVG line charts for BENCHMARKS.md: categorical x (fleet sizes, evenly spaced),
// linear or log10 y, one panel per chart placed side by side, a legend under each panel. No
// dependencies; the output is plain text that diffs well and renders on GitHub.

export interface Point {
  x: number;
  y: number;
}

export interface Series {
  name: string;
  points: Point[];
  dashed?: boolean;
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** log10 y axis: the baseline is orders of magnitude above ours. Non-positive points are left out. */
  logY?: boolean;
}

const PANEL_W = 460;
const PLOT_H = 230;
const M = { left: 70, right: 20, top: 44, bottom: 52 };
const LEGEND_ROW = 18;
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** Compact tick/point label: 1,000 → 1k, 0.25 → 0.25, 12.345 → 12.3. */
export function formatNumber(v: number): string {
  const abs = Math.abs(v);
  if (abs >= 1e6) return `${trim(v / 1e6)}M`;
  if (abs >= 1e4) return `${trim(v / 1e3)}k`;
  if (abs >= 100) return String(Math.round(v));
  if (abs >= 10) return trim(v, 1);
  if (abs >= 1) return trim(v, 2);
  return trim(v, 3);
}

function trim(v: number, digits = 1): string {
  return String(Number(v.toFixed(digits)));
}

interface Scale {
  y(v: number): number;
  ticks: number[];
}

function yScale(values: number[], logY: boolean): Scale {
  const top = M.top;
  const bottom = M.top + PLOT_H;
  if (logY) {
    const positive = values.filter((v) => v > 0);
    const min = Math.log10(Math.min(...positive, 1));
    const max = Math.log10(Math.max(...positive, 1));
    // Padding so that no series lies on the axis line or under the title.
    const lo = Math.min(Math.floor(min), min - 0.25);
    const hi = Math.max(Math.ceil(max), max + 0.15, lo + 1);
    const first = Math.ceil(lo);
    const ticks = Array.from({ length: Math.floor(hi) - first + 1 }, (_, i) => 10 ** (first + i));
    return { ticks, y: (v) => bottom - ((Math.log10(v) - lo) / (hi - lo)) * (bottom - top) };
  }
  const max = Math.max(...values, 0);
  const step = niceStep(max / 5 || 1);
  const hi = Math.max(step, Math.ceil(max / step) * step);
  const ticks = Array.from({ length: Math.round(hi / step) + 1 }, (_, i) => i * step);
  return { ticks, y: (v) => bottom - (v / hi) * (bottom - top) };
}

function niceStep(raw: number): number {
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

function panel(chart: ChartSpec, offsetX: number): string {
  const logY = chart.logY ?? false;
  const series = chart.series.map((s) => ({ ...s, points: s.points.filter((p) => Number.isFinite(p.y) && (!logY || p.y > 0)) }));
  const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p.x)))].sort((a, b) => a - b);
  const plotW = PANEL_W - M.left - M.right;
  const xAt = (x: number) => M.left + (xs.length <= 1 ? plotW / 2 : (xs.indexOf(x) / (xs.length - 1)) * (plotW - 40) + 20);
  const scale = yScale(series.flatMap((s) => s.points.map((p) => p.y)), logY);
  const bottom = M.top + PLOT_H;
  const out: string[] = [`<g transform="translate(${offsetX},0)" class="chart">`];
  out.push(`<text x="${PANEL_W / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(chart.title)}</text>`);
  for (const t of scale.ticks) {
    const y = scale.y(t).toFixed(1);
    out.push(`<line x1="${M.left}" y1="${y}" x2="${PANEL_W - M.right}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${M.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" font-size="11">${formatNumber(t)}</text>`);
  }
  out.push(`<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${bottom}" stroke="#333"/>`);
  out.push(`<line x1="${M.left}" y1="${bottom}" x2="${PANEL_W - M.right}" y2="${bottom}" stroke="#333"/>`);
  for (const x of xs) {
    out.push(`<text x="${xAt(x).toFixed(1)}" y="${bottom + 16}" text-anchor="middle" font-size="11">${x.toLocaleString('en-US')}</text>`);
  }
  out.push(`<text x="${M.left + plotW / 2}" y="${bottom + 36}" text-anchor="middle" font-size="12">${escapeXml(chart.xLabel)}</text>`);
  const midY = M.top + PLOT_H / 2;
  out.push(`<text x="16" y="${midY}" text-anchor="middle" font-size="12" transform="rotate(-90 16 ${midY})">${escapeXml(chart.yLabel + (logY ? ' (log scale)' : ''))}</text>`);
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length] as string;
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    const pts = s.points.map((p) => `${xAt(p.x).toFixed(1)},${scale.y(p.y).toFixed(1)}`).join(' ');
    out.push(`<g class="series" data-series="${escapeXml(s.name)}">`);
    if (s.points.length > 1) out.push(`<polyline points="${pts}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
    for (const p of s.points) {
      const cx = xAt(p.x).toFixed(1);
      const cy = scale.y(p.y).toFixed(1);
      out.push(`<circle cx="${cx}" cy="${cy}" r="3.5" fill="${color}"><title>${escapeXml(`${s.name}: ${formatNumber(p.y)} at ${p.x.toLocaleString('en-US')}`)}</title></circle>`);
      out.push(`<text x="${cx}" y="${(Number(cy) - 8).toFixed(1)}" text-anchor="middle" font-size="10" fill="${color}">${formatNumber(p.y)}</text>`);
    }
    out.push('</g>');
    const ly = bottom + M.bottom + 4 + i * LEGEND_ROW;
    out.push(`<line x1="${M.left}" y1="${ly}" x2="${M.left + 24}" y2="${ly}" stroke="${color}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${M.left + 30}" y="${ly}" dominant-baseline="middle" font-size="11">${escapeXml(s.name)}</text>`);
  });
  out.push('</g>');
  return out.join('\n');
}

/** The charts side by side in one SVG document; `caption` goes under them. */
export function renderCharts(charts: ChartSpec[], caption = ''): string {
  const rows = Math.max(1, ...charts.map((c) => c.series.length));
  const height = M.top + PLOT_H + M.bottom + rows * LEGEND_ROW + (caption ? 24 : 8);
  const width = PANEL_W * Math.max(1, charts.length);
  const body = charts.map((c, i) => panel(c, i * PANEL_W)).join('\n');
  const foot = caption ? `\n<text x="${width / 2}" y="${height - 10}" text-anchor="middle" font-size="11" fill="#555">${escapeXml(caption)}</text>` : '';
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    body + foot,
    '</svg>',
    '',
  ].join('\n');
}
