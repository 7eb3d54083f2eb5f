// docs/bench/placement.svg: probes per decision and decision time against fleet size, ours beside
// the exhaustive baseline, from the placement suite's results (ids `<figure>@<nodes>`).
import { renderCharts, type Point, type Series } from './svg.ts';
import type { Result } from './types.ts';

function seriesOf(results: readonly Result[], figure: string, pick: (r: Result) => number | undefined): Point[] {
  const points: Point[] = [];
  for (const r of results) {
    const m = /^(.+)@(\d+)$/.exec(r.id);
    if (!m || m[1] !== figure) continue;
    const y = pick(r);
    if (y !== undefined && Number.isFinite(y)) points.push({ x: Number(m[2]), y });
  }
  return points.sort((a, b) => a.x - b.x);
}

/** The SVG, or undefined when the results hold no plottable figure. */
export function placementPlot(results: readonly Result[]): string | undefined {
  const probes: Series[] = [
    { name: 'ours, cold cache', points: seriesOf(results, 'probes-cold', (r) => r.median) },
    { name: 'ours, warm cache', points: seriesOf(results, 'probes-warm', (r) => r.median) },
    { name: 'exhaustive search (one probe per free device)', points: seriesOf(results, 'probes-cold', (r) => r.baseline), dashed: true },
  ];
  const latency: Series[] = [
    { name: 'ours, cold cache', points: seriesOf(results, 'decision-cold', (r) => r.median) },
    { name: 'ours, warm cache', points: seriesOf(results, 'decision-warm', (r) => r.median) },
    { name: 'exhaustive search', points: seriesOf(results, 'decision-exhaustive', (r) => r.median), dashed: true },
  ];
  if ([...probes, ...latency].every((s) => s.points.length === 0)) return undefined;
  return renderCharts(
    [
      { title: 'Probes per decision (median)', xLabel: 'fleet size (nodes × 8 devices)', yLabel: 'probes', series: probes, logY: true },
      { title: 'Decision time (median)', xLabel: 'fleet size (nodes × 8 devices)', yLabel: 'milliseconds', series: latency, logY: true },
    ],
    'Placement engine in process, probes answered by the simulated NVIDIA driver policy. Reproduce: npm run bench -- --only placement',
  );
}
