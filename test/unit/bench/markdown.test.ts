import { expect } from 'chai';
import { formatFigure, mergeOutcomes, parsePrevious, renderBenchmarks } from '../../../bench/report/markdown.ts';
import type { Machine, Result, SuiteInfo, SuiteOutcome } from '../../../bench/report/types.ts';

const machine: Machine = { cpu: 'Test CPU @ 1.00GHz', cores: 2, memoryGiB: 7.7, node: 'v24.0.0', kubernetes: 'v1.36.3', os: 'Linux 6.1' };
const catalog: SuiteInfo[] = [
  { name: 'placement', title: 'Placement engine (in process)', needsCluster: false, about: 'How the engine is measured.' },
  { name: 'agent', title: 'Node agent (local control plane)', needsCluster: true, planned: ['MdevDevice writes per minute at steady state (target: 0/min)'] },
  { name: 'controller', title: 'Controller (local control plane)', needsCluster: true },
];

function ran(suite: string, results: Result[], date = '2026-01-02 03:04 UTC'): SuiteOutcome {
  const title = catalog.find((s) => s.name === suite)?.title ?? suite;
  return { suite, title, status: 'ran', results, command: `npm run bench -- --only ${suite}`, date, machine, seconds: 12.3 };
}
function notRun(suite: string, reason: string): SuiteOutcome {
  const title = catalog.find((s) => s.name === suite)?.title ?? suite;
  return { suite, title, status: 'not-run', reason, command: `npm run bench -- --only ${suite}` };
}
/** The text between a suite's section markers. */
function sectionOf(md: string, suite: string): string {
  const m = new RegExp(`<!-- bench:suite ${suite} -->\\n([\\s\\S]*?)<!-- /bench:suite ${suite} -->`).exec(md);
  expect(m, `section ${suite}`).to.not.equal(null);
  return (m as RegExpExecArray)[1] as string;
}
/** The section without its machine-readable data comment: what a reader sees. */
const visible = (section: string) => section.replace(/<!-- bench:data [\s\S]*? -->/, '');

const placementRows: Result[] = [
  { id: 'decision-warm@1000', label: 'Decision time, warm cache — 1,000 nodes', unit: 'ms', median: 3.21, p99: 12.34, samples: 300, target: { of: 'p99', max: 25, text: '≤ 25 ms' } },
  { id: 'probes-cold@1000', label: 'Probes per decision, cold', unit: 'probes', median: 10, p99: 10, baseline: 1918, target: { text: '≤ classes + 1, every decision', met: true }, note: 'classes per decision: median 10' },
];
const agentRows: Result[] = [{ id: 'steady-writes', label: 'MdevDevice writes per agent at steady state', unit: 'writes/min', value: 987.654, target: { of: 'value', max: 0, text: '= 0 /min' } }];

describe('BENCHMARKS.md rendering', () => {
  it('prints the figures, targets and verdicts of a suite that ran, with machine, date and command', () => {
    const md = renderBenchmarks({ catalog, current: [ran('placement', placementRows)] });
    const s = sectionOf(md, 'placement');
    expect(s).to.include('## Placement engine (in process)\n\nHow the engine is measured.\n');
    expect(s).to.include('Measured 2026-01-02 03:04 UTC in 12.3 s on Test CPU @ 1.00GHz, 2 cores, 7.70 GiB RAM, Linux 6.1, Node v24.0.0, Kubernetes v1.36.3.');
    expect(s).to.include('Reproduce: `npm run bench -- --only placement`');
    expect(s).to.include('| Decision time, warm cache — 1,000 nodes | 3.21 ms | 12.3 ms |  | 300 |  | ≤ 25 ms | ✅ pass |');
    expect(s).to.include('| 1,918 probes | ≤ classes + 1, every decision | ✅ pass |');
    expect(s).to.include('- Probes per decision, cold: classes per decision: median 10');
    expect(md).to.include('| Placement engine (in process) | Decision time, warm cache — 1,000 nodes | p99 12.3 ms | ≤ 25 ms | ✅ pass |');
  });

  it('never prints a figure for a suite that did not run, even when an older file had figures for it', () => {
    const old = renderBenchmarks({ catalog, current: [ran('agent', agentRows), ran('placement', placementRows)] });
    expect(old).to.include('987.654'.slice(0, 3)); // the old file did show the agent's figure
    const md = renderBenchmarks({
      catalog,
      current: [ran('placement', placementRows), notRun('agent', 'bench/agent.ts does not exist yet'), notRun('controller', 'failed: connection refused')],
      previous: old,
    });
    for (const suite of ['agent', 'controller']) {
      const s = visible(sectionOf(md, suite));
      expect(s).to.include('**Not run** — ');
      expect(s).not.to.match(/^\|/m); // no table at all
      expect(s).not.to.match(/pass|fail(?!ed)/);
    }
    expect(visible(sectionOf(md, 'agent'))).to.include('bench/agent.ts does not exist yet');
    expect(visible(sectionOf(md, 'agent'))).to.include('- MdevDevice writes per minute at steady state (target: 0/min)');
    expect(md).not.to.include('988');
    expect(md).not.to.include('987');
    expect(md).to.include('| Node agent (local control plane) | — | — | — | not run: bench/agent.ts does not exist yet |');
  });

  it('keeps the previous section of a suite this run did not select, figures and date included', () => {
    const old = renderBenchmarks({ catalog, current: [ran('agent', agentRows, '2025-12-31 23:59 UTC'), ran('placement', placementRows)] });
    const fresh: Result[] = [{ ...placementRows[0] as Result, median: 4.56 }];
    const md = renderBenchmarks({ catalog, current: [ran('placement', fresh, '2026-02-02 00:00 UTC')], previous: old });
    expect(sectionOf(md, 'agent')).to.equal(sectionOf(old, 'agent'));
    expect(sectionOf(md, 'agent')).to.include('2025-12-31 23:59 UTC');
    expect(sectionOf(md, 'placement')).to.include('4.56 ms');
    expect(sectionOf(md, 'placement')).not.to.include('3.21 ms');
    // Rendering is a fixed point: merging a file with itself changes nothing.
    expect(renderBenchmarks({ catalog, current: [], previous: md })).to.equal(md);
  });

  it('marks a catalogued suite that never ran as "not run yet"', () => {
    const md = renderBenchmarks({ catalog, current: [ran('placement', placementRows)] });
    expect(visible(sectionOf(md, 'controller'))).to.include('**Not run** — not run yet.');
    expect(md).to.include('| Controller (local control plane) | — | — | — | not run yet |');
    expect(visible(sectionOf(md, 'controller'))).to.include('Reproduce: `npm run bench -- --only controller`');
  });

  it('reads back its own data comment even when strings contain "--", and keeps unreadable sections verbatim', () => {
    const md = renderBenchmarks({ catalog, current: [ran('placement', placementRows)] });
    expect(md).not.to.match(/<!-- bench:data [^\n]*--[^>]/);
    const parsed = parsePrevious(md).get('placement');
    expect(parsed && 'outcome' in parsed && parsed.outcome.status === 'ran' && parsed.outcome.command).to.equal('npm run bench -- --only placement');
    const hand = '<!-- bench:suite agent -->\nhand-written notes\n<!-- /bench:suite agent -->\n';
    expect(parsePrevious(hand).get('agent')).to.deep.equal({ raw: 'hand-written notes\n' });
    const merged = mergeOutcomes(catalog, [], parsePrevious(hand));
    expect(merged.find((o) => o.suite === 'agent')).to.deep.equal({ suite: 'agent', raw: 'hand-written notes\n' });
  });

  it('prints a dash, never a number, for a figure a module did not return', () => {
    const md = renderBenchmarks({ catalog, current: [ran('agent', [{ id: 'x', label: 'Missing figure', unit: 'ms', target: { of: 'p99', max: 5, text: '≤ 5 ms' }, note: 'bench/agent.ts returned no p99' }])] });
    expect(sectionOf(md, 'agent')).to.include('| Missing figure | — | — | — |  |  | ≤ 5 ms | — no figure |');
    expect(formatFigure(undefined)).to.equal('—');
    expect(formatFigure(Number.NaN)).to.equal('—');
    expect(formatFigure(1234.5678)).to.equal('1,235');
    expect(formatFigure(0.12345)).to.equal('0.123');
  });
});
