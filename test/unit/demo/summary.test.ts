// The demo's checks and summary over plain StoryResults: the outcome the story expects passes all
// four checks, and each way a step can go wrong fails exactly its own check, saying what happened.
import { expect } from 'chai';
import type { DrainPlan } from '../../../src/cli/plan-drain.ts';
import { demoScenario, type Scenario } from '../../../dev/demo/scenario.ts';
import type { MigrationOutcome, StoryResult } from '../../../dev/demo/story.ts';
import { checkOutcomes, renderChecks, renderSummary, verdictCounts, type Check } from '../../../dev/demo/summary.ts';

const P = 't-';
const n = (role: string): string => `${P}${role}`;

function candidates(verdicts: Record<string, string>): MigrationOutcome['candidates'] {
  return Object.entries(verdicts).map(([node, verdict]) => ({ node, verdict, message: `${verdict} because` }));
}

/** What the story ends in when everything works (the shape runStory reads back). */
function goodResult(s: Scenario = demoScenario({ prefix: P })): StoryResult {
  const drain: DrainPlan = {
    node: s.drain.node,
    vmis: Object.entries(s.drain.expected).map(([vmi, target]) => ({ vmi: `${s.namespace}/${vmi}`, devices: ['d'], target, targetPools: target ? ['p'] : [], verifiedBy: target ? 'cache' : null, reason: target ? '' : 'no target' })),
    summary: { withTarget: 2, blocked: 1 },
    probes: 0,
  };
  return {
    scenario: s,
    succeed: { name: s.succeed.migration, phase: 'Succeeded', sourceNode: n('h100-a'), targetNode: s.succeed.expectedTarget, probes: 3, exhaustiveProbes: 11, candidates: candidates({ [s.succeed.expectedTarget]: 'Compatible' }), vmiNode: s.succeed.expectedTarget },
    fail: { name: s.fail.migration, phase: 'Failed', sourceNode: n('h100-c'), message: 'no node can take VMI mdev-demo/vm-b: 3 Incompatible', probes: 3, exhaustiveProbes: 9, candidates: candidates(s.fail.expectedVerdicts), vmiNode: n('h100-c') },
    evict: {
      vmim: s.evict.vmim,
      pinnedNode: s.evict.expectedTarget,
      vmimPhase: 'Succeeded',
      recorded: { name: `vmim-${s.evict.vmim}`, phase: 'Succeeded', targetNode: s.evict.expectedTarget, probes: 1, exhaustiveProbes: 10, candidates: candidates(s.evict.expectedVerdicts), vmiNode: s.evict.expectedTarget },
      vmimsOfVmi: [s.evict.vmim],
      exhaustiveProbes: 10,
      vmiNode: s.evict.expectedTarget,
    },
    drain,
    drainTable: 'VMI  DEVICES  TARGET\n',
    seconds: 12.34,
  };
}

function failing(checks: Check[]): string[] {
  return checks.filter((c) => !c.ok).map((c) => c.name.slice(0, 3));
}

describe('demo summary and --once checks (plain story results)', () => {
  it('passes all four checks on the expected outcome, each naming what it checked', () => {
    const checks = checkOutcomes(goodResult());
    expect(checks.map((c) => [c.name, c.ok])).to.deep.equal([
      ['(a) move-vm-a succeeded', true],
      ['(b) move-vm-b failed and says why', true],
      ['(c) VMIM evict-vm-c steered to a verified node', true],
      [`(d) plan-drain ${n('h100-a')}`, true],
    ]);
    expect(checks[1]?.detail).to.equal('Failed ("no node can take ...") with 3 Incompatible, 1 NoCapacity, 3 TypeMismatch, 1 AgentUnavailable, 1 Excluded');
  });

  it('(a) fails when the VMI ends elsewhere than the expected target', () => {
    const r = goodResult();
    r.succeed = { ...r.succeed, vmiNode: n('h100-a') };
    const checks = checkOutcomes(r);
    expect(failing(checks)).to.deep.equal(['(a)']);
    expect(checks[0]?.detail).to.match(/^expected Succeeded with vm-a on t-h100-b; got Succeeded, target t-h100-b, VMI on t-h100-a/);
  });

  it('(b) fails when an mtty or accel node gets anything but TypeMismatch, naming the node and both verdicts', () => {
    for (const role of ['mtty-1', 'accel-1']) {
      const r = goodResult();
      r.fail = { ...r.fail, candidates: r.fail.candidates.map((c) => (c.node === n(role) ? { ...c, verdict: 'Incompatible' } : c)) };
      const checks = checkOutcomes(r);
      expect(failing(checks), role).to.deep.equal(['(b)']);
      expect(checks[1]?.detail).to.include(`${n(role)}: Incompatible (expected TypeMismatch)`);
    }
  });

  it('(b) fails when a node is missing from the candidates, or one is Compatible after all', () => {
    const missing = goodResult();
    missing.fail = { ...missing.fail, candidates: missing.fail.candidates.filter((c) => c.node !== n('accel-1')) };
    expect(checkOutcomes(missing)[1]?.detail).to.include(`${n('accel-1')}: absent (expected TypeMismatch)`);
    const compatible = goodResult();
    compatible.fail = { ...compatible.fail, candidates: [...compatible.fail.candidates, { node: n('h100-x'), verdict: 'Compatible' }] };
    const checks = checkOutcomes(compatible);
    expect(failing(checks)).to.deep.equal(['(b)']);
    expect(checks[1]?.detail).to.include(`Compatible: ${n('h100-x')}`);
  });

  it('(c) fails when the VMIM is refused, pinned elsewhere, migrated twice, or its record lacks a node\'s verdict', () => {
    const refused = goodResult();
    refused.evict = { vmim: 'evict-vm-c', refusal: 'denied the request: no node', exhaustiveProbes: 10, vmimsOfVmi: [] };
    expect(checkOutcomes(refused)[2]?.detail).to.match(/got refused: denied the request: no node$/);

    const elsewhere = goodResult();
    elsewhere.evict = { ...elsewhere.evict, pinnedNode: n('h100-c') };
    expect(failing(checkOutcomes(elsewhere))).to.deep.equal(['(c)']);

    const twice = goodResult();
    twice.evict = { ...twice.evict, vmimsOfVmi: ['evict-vm-c', 'move-vm-c-1'] };
    expect(checkOutcomes(twice)[2]?.detail).to.include('VMIMs of vm-c: evict-vm-c, move-vm-c-1');

    const noMtty = goodResult();
    const rec = noMtty.evict.recorded as MigrationOutcome;
    noMtty.evict = { ...noMtty.evict, recorded: { ...rec, candidates: rec.candidates.filter((c) => c.node !== n('mtty-1')) } };
    expect(checkOutcomes(noMtty)[2]?.detail).to.include(`${n('mtty-1')}: absent (expected TypeMismatch)`);
  });

  it('(d) fails on a wrong target or a missing row', () => {
    const wrong = goodResult();
    wrong.drain = { ...wrong.drain, vmis: wrong.drain.vmis.map((v) => (v.vmi.endsWith('/vm-f') ? { ...v, target: n('h100-c') } : v)) };
    expect(checkOutcomes(wrong)[3]?.detail).to.include(`got vm-d → ${n('h100-b')}, vm-e → ${n('h100-b')}, vm-f → ${n('h100-c')}`);
    const short = goodResult();
    short.drain = { ...short.drain, vmis: short.drain.vmis.slice(0, 2) };
    expect(failing(checkOutcomes(short))).to.deep.equal(['(d)']);
  });

  it('renders PASS and FAIL lines', () => {
    const text = renderChecks([{ name: 'x', ok: true, detail: 'fine' }, { name: 'y', ok: false, detail: 'expected a; got b' }]);
    expect(text).to.equal('  PASS  x: fine\n  FAIL  y: expected a; got b\n');
  });

  it('summarises moves with probes spent beside the exhaustive search, and the drain plan', () => {
    const text = renderSummary(goodResult());
    const lines = text.split('\n');
    expect(lines[0]).to.equal('Summary (story finished 12.3s after start)');
    expect(lines[2]).to.match(/^VMI\s+FROM\s+TO\s+HOW\s+RESULT\s+PROBES\s+EXHAUSTIVE$/);
    expect(lines.find((l) => l.startsWith('mdev-demo/vm-a'))).to.match(/^mdev-demo\/vm-a\s+t-h100-a\s+t-h100-b\s+MdevMigration move-vm-a\s+Succeeded\s+3\s+11$/);
    expect(lines.find((l) => l.startsWith('mdev-demo/vm-b'))).to.match(/\s+t-h100-c\s+stays\s+MdevMigration move-vm-b\s+Failed\s+3\s+9$/);
    expect(lines.find((l) => l.startsWith('mdev-demo/vm-c'))).to.match(/VMIM evict-vm-c \(webhook: vmim-evict-vm-c\)\s+Succeeded\s+1\s+10$/);
    // 3 + 3 + 1 probes against 11 + 9 + 10 exhaustive.
    expect(text).to.include('Probes sent: 7; an exhaustive search (every free device of every candidate node) would have sent 30 (77% fewer).');
    expect(text).to.include(`plan-drain ${n('h100-a')}: vm-d → ${n('h100-b')}, vm-e → ${n('h100-b')}, vm-f → BLOCKED`);
  });

  it('shows a refused eviction as refused, and leaves out the saving when nothing was searched', () => {
    const r = goodResult();
    r.evict = { vmim: 'evict-vm-c', refusal: 'denied', exhaustiveProbes: 0, vmimsOfVmi: [] };
    r.succeed = { ...r.succeed, exhaustiveProbes: 0, probes: 0 };
    r.fail = { ...r.fail, exhaustiveProbes: 0, probes: 0 };
    const text = renderSummary(r);
    expect(text.split('\n').find((l) => l.startsWith('mdev-demo/vm-c'))).to.match(/\s+t-h100-a\s+stays\s+.*\s+refused\s+0\s+0$/);
    expect(text).to.include('would have sent 0.');
  });

  it('counts expected verdicts in the controller\'s order', () => {
    expect(verdictCounts({ a: 'TypeMismatch', b: 'Compatible', c: 'TypeMismatch', d: 'Excluded' })).to.equal('1 Compatible, 2 TypeMismatch, 1 Excluded');
  });
});
