import { expect } from 'chai';
import { rowsFrom, suiteCatalog, type FieldSpec } from '../../../bench/report/suites.ts';
import { judge } from '../../../bench/report/types.ts';
import { soakRows } from '../../../bench/report/soak-suite.ts';

describe('bench suite adapters', () => {
  const fields: FieldSpec[] = [
    { id: 'rtt', label: 'Round trip', unit: 'ms', median: 'medianMs', p99: 'p99Ms', samples: 'n', target: { of: 'p99', max: 50, text: '≤ 50 ms' } },
    { id: 'writes', label: 'Writes', unit: '/min', value: 'writes', target: { of: 'value', max: 0, text: '= 0' } },
    { id: 'budget', label: 'Probes', unit: 'probes', median: 'probes', missCount: { key: 'over', text: '≤ classes + 1' } },
  ];

  it('maps the numbers a module returned and judges them against the targets', () => {
    const rows = rowsFrom({ medianMs: 3, p99Ms: 60, n: 50, writes: 0, probes: 10, over: 0 }, fields, 'bench/x.ts');
    expect(rows[0]).to.deep.include({ median: 3, p99: 60, samples: 50 });
    expect(judge(rows[0]!)).to.equal('fail');
    expect(judge(rows[1]!)).to.equal('pass');
    expect(rows[2]!.target).to.deep.equal({ text: '≤ classes + 1', met: true });
    expect(judge(rowsFrom({ probes: 12, over: 3 }, fields, 'bench/x.ts')[2]!)).to.equal('fail');
  });

  it('invents nothing: missing or non-numeric fields stay absent and the row says which', () => {
    const rows = rowsFrom({ medianMs: 'fast', writes: Number.NaN }, fields, 'bench/x.ts');
    expect(rows[0]).to.not.have.property('median');
    expect(rows[0]).to.not.have.property('p99');
    expect(rows[0]!.note).to.equal('bench/x.ts returned no medianMs/p99Ms');
    expect(rows[1]).to.not.have.property('value');
    expect(judge(rows[0]!)).to.equal('no figure');
    expect(judge(rows[1]!)).to.equal('no figure');
    expect(rows[2]).to.not.have.property('target');
    expect(rowsFrom(undefined, fields, 'bench/x.ts')).to.have.length(3);
  });

  it('reports a suite whose module is missing as not loadable, with the reason', async () => {
    const catalog = suiteCatalog();
    expect(catalog.map((s) => s.name)).to.deep.equal(['placement', 'caches', 'agent', 'controller', 'admission', 'nvml', 'soak']);
    const admission = catalog.find((s) => s.name === 'admission')!;
    const loaded = await admission.load();
    if (!loaded.ok) expect(loaded.reason).to.match(/bench\/admission\.ts (does not exist yet|failed to load|exports neither)/);
    else expect(loaded.suite.name).to.equal('admission');
    const placement = await catalog[0]!.load();
    expect(placement.ok && placement.suite.needsCluster).to.equal(false);
  });
});

describe('soak suite', () => {
  const base = {
    minutes: 10, nodes: 200, vms: 60, inflight: 8,
    migrations: { started: 10, succeeded: 10, failed: 0, lost: 0 },
    durationMs: { p50: 3000, p95: 6000, max: 9000 },
    apiRequests: { perMigration: 70, perMigrationExcludingLeases: 50 },
    memory: { controllerRssMiB: { firstHalfAvg: 150, secondHalfAvg: 153, max: 190 }, fleetAndAgentsRssMiB: { firstHalfAvg: 500, secondHalfAvg: 520, max: 590 } },
  };
  it('judges lost migrations and memory growth from the soak file, inventing nothing', () => {
    const rows = soakRows(base);
    expect(judge(rows.find((r) => r.id === 'lost')!)).to.equal('pass');
    expect(judge(rows.find((r) => r.id === 'controller-rss')!), '+2% is flat').to.equal('pass');
    expect(judge(rows.find((r) => r.id === 'controller-rss-max')!)).to.equal('pass');
    expect(rows.some((r) => r.id === 'controller-writes'), 'no audit figures, no row').to.equal(false);
    const slight = soakRows({ ...base, memory: { ...base.memory, controllerRssMiB: { firstHalfAvg: 150, secondHalfAvg: 154, max: 201 } } });
    expect(judge(slight.find((r) => r.id === 'controller-rss')!), '+2.7% is growth').to.equal('fail');
    expect(judge(slight.find((r) => r.id === 'controller-rss-max')!)).to.equal('fail');
    const audited = soakRows({ ...base, apiRequests: { ...base.apiRequests, perSucceededByComponent: { controller: { writes: 9.5, reads: 0.1, lists: 0, leases: 300 }, agents: { writes: 4, reads: 0, lists: 0, leases: 9000 } } } });
    expect(audited.find((r) => r.id === 'controller-writes')?.value).to.equal(9.5);
    expect(audited.find((r) => r.id === 'controller-writes')?.note).to.match(/agents 4 writes/);
    const grown = soakRows({ ...base, migrations: { ...base.migrations, lost: 1 }, memory: { ...base.memory, controllerRssMiB: { firstHalfAvg: 200, secondHalfAvg: 260, max: 300 } } });
    expect(judge(grown.find((r) => r.id === 'lost')!)).to.equal('fail');
    expect(judge(grown.find((r) => r.id === 'controller-rss')!)).to.equal('fail');
  });
});
