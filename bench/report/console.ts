// The table `npm run bench` prints when it finishes: one block per suite of this run.
import { formatFigure } from './markdown.ts';
import { judge, type SuiteOutcome } from './types.ts';

const HEAD = ['Figure', 'Median', 'p99', 'Value', 'Exhaustive', 'Target', 'Result'];

export function consoleTable(outcomes: readonly SuiteOutcome[]): string {
  const blocks: string[] = [];
  for (const o of outcomes) {
    if (o.status === 'not-run') {
      blocks.push(`${o.title}: NOT RUN — ${o.reason}`);
      continue;
    }
    const fmt = (v: number | undefined, unit: string) => (v === undefined ? '' : `${formatFigure(v)} ${unit}`);
    const rows = o.results.map((r) => [r.label, fmt(r.median, r.unit), fmt(r.p99, r.unit), fmt(r.value, r.unit), fmt(r.baseline, r.unit), r.target?.text ?? '', judge(r) === 'no target' ? '' : judge(r)]);
    const widths = HEAD.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
    const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ');
    blocks.push([`${o.title} (${formatFigure(o.seconds)} s)`, line(HEAD), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n'));
  }
  return blocks.join('\n\n');
}
