import { expect } from 'chai';
import { placementPlot } from '../../../bench/report/placement-plot.ts';
import { escapeXml, formatNumber, renderCharts } from '../../../bench/report/svg.ts';
import type { Result } from '../../../bench/report/types.ts';

/** Tags balance and nest: every opened element closes in order (a small XML well-formedness check). */
function assertBalanced(svg: string): void {
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z][\w:-]*)[^>]*?(\/?)>/g)) {
    const [, close, name, selfClose] = m as unknown as [string, string, string, string];
    if (selfClose) continue;
    if (close) expect(stack.pop(), `closing </${name}>`).to.equal(name);
    else stack.push(name);
  }
  expect(stack).to.deep.equal([]);
}

describe('bench SVG writer', () => {
  const chart = {
    title: 'Probes <per> decision',
    xLabel: 'fleet size',
    yLabel: 'probes',
    logY: true,
    series: [
      { name: 'ours & co', points: [{ x: 100, y: 10 }, { x: 1000, y: 10 }, { x: 5000, y: 11 }] },
      { name: 'exhaustive', points: [{ x: 100, y: 201 }, { x: 1000, y: 1918 }, { x: 5000, y: 9386 }], dashed: true },
    ],
  };

  it('writes one well-formed SVG document with escaped text', () => {
    const svg = renderCharts([chart, { ...chart, title: 'Decision time', logY: false }], 'a caption');
    expect(svg.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg"')).to.equal(true);
    expect(svg.trimEnd().endsWith('</svg>')).to.equal(true);
    assertBalanced(svg);
    expect(svg).to.include('Probes &lt;per&gt; decision');
    expect(svg).to.include('ours &amp; co');
    expect(svg).not.to.include('ours & co');
    expect(svg).to.include('a caption');
    expect((svg.match(/class="chart"/g) ?? []).length).to.equal(2);
  });

  it('draws every series with its points, axis labels and a legend entry', () => {
    const svg = renderCharts([chart]);
    expect((svg.match(/data-series="ours &amp; co"/g) ?? []).length).to.equal(1);
    expect((svg.match(/data-series="exhaustive"/g) ?? []).length).to.equal(1);
    expect((svg.match(/<polyline /g) ?? []).length).to.equal(2);
    expect((svg.match(/<circle /g) ?? []).length).to.equal(6);
    expect(svg).to.include('stroke-dasharray');
    for (const label of ['fleet size', 'probes (log scale)', '1,000', '5,000', '>9386<']) expect(svg).to.include(label);
    // log axis spans 10^1 .. 10^4
    for (const tick of ['>10<', '>100<', '>1000<', '>10k<']) expect(svg).to.include(tick);
  });

  it('leaves out points a log axis cannot show instead of drawing NaN', () => {
    const svg = renderCharts([{ ...chart, series: [{ name: 's', points: [{ x: 1, y: 0 }, { x: 2, y: 5 }, { x: 3, y: Number.NaN }] }] }]);
    expect(svg).not.to.include('NaN');
    expect(svg).not.to.include('Infinity');
    expect((svg.match(/<circle /g) ?? []).length).to.equal(1);
  });

  it('formats and escapes helpers', () => {
    expect(escapeXml(`a<b>&"c'`)).to.equal('a&lt;b&gt;&amp;&quot;c&apos;');
    expect(formatNumber(9386)).to.equal('9386');
    expect(formatNumber(19_180)).to.equal('19.2k');
    expect(formatNumber(0.5194)).to.equal('0.519');
    expect(formatNumber(42.13)).to.equal('42.1');
  });

  it('placementPlot plots ours beside the exhaustive baseline from the suite results', () => {
    const results: Result[] = [100, 1000].flatMap((n) => [
      { id: `probes-cold@${n}`, label: 'p', unit: 'probes', median: 10, p99: 10, baseline: n * 2 },
      { id: `probes-warm@${n}`, label: 'p', unit: 'probes', median: 1, p99: 1 },
      { id: `decision-cold@${n}`, label: 'd', unit: 'ms', median: n / 100, p99: n / 50 },
      { id: `decision-warm@${n}`, label: 'd', unit: 'ms', median: n / 200, p99: n / 60 },
      { id: `decision-exhaustive@${n}`, label: 'd', unit: 'ms', median: n / 10, p99: n / 5 },
    ]);
    const svg = placementPlot(results) as string;
    assertBalanced(svg);
    expect(svg).to.include('exhaustive search (one probe per free device)');
    expect(svg).to.include('Decision time (median)');
    expect(svg).to.include('>2000<'); // the exhaustive probe count at 1,000 nodes, as a point label
    expect(placementPlot([])).to.equal(undefined);
  });
});
