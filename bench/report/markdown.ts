// BENCHMARKS.md: rendered from suite outcomes, merged by suite with the previous file so that a
// partial run (`--only placement`) keeps every other suite's figures. Each section carries its own
// outcome as JSON in an HTML comment; that comment, not the tables, is what the next run reads back.
import { PERCENTILE_METHOD } from '../stats.ts';
import { judge, reproduceCommand, type Machine, type Result, type SuiteInfo, type SuiteOutcome } from './types.ts';

const BEGIN = (suite: string) => `<!-- bench:suite ${suite} -->`;
const END = (suite: string) => `<!-- /bench:suite ${suite} -->`;
const DATA_RE = /<!-- bench:data (\S+) (\{.*\}) -->/;
const SECTION_RE = /<!-- bench:suite (\S+) -->\n([\s\S]*?)<!-- \/bench:suite \1 -->/g;

/** A previous section: its outcome when its data comment parses, else its text kept verbatim. */
export type PreviousSection = { outcome: SuiteOutcome } | { raw: string };

export function parsePrevious(markdown: string): Map<string, PreviousSection> {
  const out = new Map<string, PreviousSection>();
  for (const m of markdown.matchAll(SECTION_RE)) {
    const suite = m[1] as string;
    const body = m[2] as string;
    const data = DATA_RE.exec(body);
    try {
      const outcome = data && data[1] === suite ? (JSON.parse(data[2] as string) as SuiteOutcome) : undefined;
      out.set(suite, outcome && outcome.suite === suite ? { outcome } : { raw: body });
    } catch {
      out.set(suite, { raw: body });
    }
  }
  return out;
}

/**
 * The outcome each suite is reported with: this run's when it was selected, otherwise the previous
 * file's, otherwise "not run yet". Catalog order first, then suites only the old file knew.
 */
export function mergeOutcomes(catalog: readonly SuiteInfo[], current: readonly SuiteOutcome[], previous: Map<string, PreviousSection>): (SuiteOutcome | { suite: string; raw: string })[] {
  const now = new Map(current.map((o) => [o.suite, o] as const));
  const names = [...new Set([...catalog.map((s) => s.name), ...current.map((o) => o.suite), ...previous.keys()])];
  return names.map((name) => {
    const fresh = now.get(name);
    if (fresh) return fresh;
    const old = previous.get(name);
    if (old && 'outcome' in old) return old.outcome;
    if (old) return { suite: name, raw: old.raw };
    const info = catalog.find((s) => s.name === name);
    return { suite: name, title: info?.title ?? name, status: 'not-run' as const, reason: 'not run yet', command: reproduceCommand(name) };
  });
}

// ---------------------------------------------------------------------------------------------

/** Numbers as the tables print them: enough digits to compare, no false precision. */
export function formatFigure(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '—';
  const abs = Math.abs(v);
  const digits = Number.isInteger(v) ? 0 : abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

const SINGULAR: Record<string, string> = { probes: 'probe', classes: 'class' };
const withUnit = (v: number | undefined, unit: string) => (v === undefined || !Number.isFinite(v) ? '—' : `${formatFigure(v)} ${v === 1 ? (SINGULAR[unit] ?? unit) : unit}`);
const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

const VERDICT_TEXT = { pass: '✅ pass', fail: '❌ fail', 'no target': '', 'no figure': '— no figure' } as const;

function machineLine(m: Machine): string {
  const load = m.loadAverage === undefined ? '' : ` (1-minute load average ${formatFigure(m.loadAverage)} at the start)`;
  return `${m.cpu}, ${m.cores} cores${load}, ${formatFigure(m.memoryGiB)} GiB RAM, ${m.os}, Node ${m.node}, Kubernetes ${m.kubernetes}`;
}

function figureTable(results: readonly Result[]): string[] {
  const lines = [
    '| Figure | Median | p99 | Value | Samples | Exhaustive baseline | Target | Result |',
    '|---|---:|---:|---:|---:|---:|---|---|',
  ];
  for (const r of results) {
    // A distribution leaves Value blank and a single figure leaves Median/p99 blank; a row with no
    // number at all shows dashes, so a missing figure is visible rather than silently empty.
    const hasAny = [r.median, r.p99, r.value].some((v) => v !== undefined && Number.isFinite(v));
    const show = (v: number | undefined) => (hasAny && v === undefined ? '' : withUnit(v, r.unit));
    const row = [
      r.label,
      show(r.median),
      show(r.p99),
      show(r.value),
      r.samples === undefined ? '' : formatFigure(r.samples),
      r.baseline === undefined ? '' : withUnit(r.baseline, r.unit),
      r.target?.text ?? '',
      VERDICT_TEXT[judge(r)],
    ];
    lines.push(`| ${row.map(cell).join(' | ')} |`);
  }
  const notes = results.filter((r) => r.note);
  if (notes.length > 0) lines.push('', ...notes.map((r) => `- ${r.label}: ${r.note}`));
  return lines;
}

/** JSON safe inside an HTML comment: `--` can only occur inside JSON strings, where `\u002d` is the same character. */
function dataComment(outcome: SuiteOutcome): string {
  return `<!-- bench:data ${outcome.suite} ${JSON.stringify(outcome).replace(/--/g, '-\\u002d')} -->`;
}

function section(outcome: SuiteOutcome, info: SuiteInfo | undefined, extras: Record<string, string[]>): string[] {
  const lines = [BEGIN(outcome.suite), `## ${outcome.title}`, ''];
  if (info?.about) lines.push(info.about, '');
  if (outcome.status === 'ran') {
    lines.push(
      `Measured ${outcome.date} in ${formatFigure(outcome.seconds)} s on ${machineLine(outcome.machine)}.`,
      `Reproduce: \`${outcome.command}\``,
      '',
      ...figureTable(outcome.results),
      ...(extras[outcome.suite] ?? []),
    );
  } else {
    // Not run: the reason and what it would report, never a measured number.
    lines.push(`**Not run** — ${outcome.reason}.`, `Reproduce: \`${outcome.command}\``);
    if (info?.planned?.length) lines.push('', 'Reports when run:', ...info.planned.map((p) => `- ${p}`));
  }
  lines.push('', dataComment(outcome), END(outcome.suite));
  return lines;
}

function summary(outcomes: readonly (SuiteOutcome | { suite: string; raw: string })[]): string[] {
  const lines = ['| Suite | Figure | Measured | Target | Result |', '|---|---|---:|---|---|'];
  for (const o of outcomes) {
    if ('raw' in o) continue;
    if (o.status === 'not-run') {
      lines.push(`| ${cell(o.title)} | — | — | — | ${cell(o.reason.startsWith('not run') ? o.reason : `not run: ${o.reason}`)} |`);
      continue;
    }
    for (const r of o.results) {
      if (!r.target) continue;
      const judged = 'met' in r.target ? (r.p99 !== undefined ? `p99 ${withUnit(r.p99, r.unit)}` : withUnit(r.value, r.unit)) : `${r.target.of === 'value' ? '' : `${r.target.of} `}${withUnit(r[r.target.of], r.unit)}`;
      lines.push(`| ${cell(o.title)} | ${cell(r.label)} | ${judged} | ${cell(r.target.text)} | ${VERDICT_TEXT[judge(r)]} |`);
    }
  }
  return lines;
}

export interface RenderOptions {
  catalog: readonly SuiteInfo[];
  current: readonly SuiteOutcome[];
  /** The previous BENCHMARKS.md, if any. */
  previous?: string;
  /** Extra markdown lines appended to a ran suite's section (e.g. the plot), by suite. */
  extras?: Record<string, string[]>;
}

export function renderBenchmarks(opts: RenderOptions): string {
  const merged = mergeOutcomes(opts.catalog, opts.current, parsePrevious(opts.previous ?? ''));
  const lines = [
    '# Benchmarks',
    '',
    'Generated by `npm run bench` (`bench/run.ts`); do not edit by hand. Each run rewrites the sections of',
    'the suites it ran and keeps the others, so every section names its own date, machine and command.',
    `Percentiles are ${PERCENTILE_METHOD} over the samples (the p99 of 300 samples is the 297th smallest);`,
    'timings are wall-clock `performance.now()` on a machine that may be shared, so compare medians first.',
    '',
    '## Targets',
    '',
    ...summary(merged),
    '',
  ];
  for (const o of merged) {
    if ('raw' in o) lines.push(BEGIN(o.suite), o.raw.replace(/\n$/, ''), END(o.suite), '');
    else lines.push(...section(o, opts.catalog.find((s) => s.name === o.suite), opts.extras ?? {}), '');
  }
  return lines.join('\n');
}
