// The plan-drain table as the demo prints it: reasons clipped to fit a terminal, without a
// dangling separator before the ellipsis.
import { expect } from 'chai';
import { renderDrainPlan } from '../../../src/cli/plan-drain-command.ts';
import type { DrainPlan } from '../../../src/cli/plan-drain.ts';

const PLAN: DrainPlan = {
  node: 'h100-a',
  vmis: [
    { vmi: 'ns/vm-d', devices: ['d1'], target: 'h100-b', targetPools: ['p1'], verifiedBy: 'cache', reason: '' },
    { vmi: 'ns/vm-f', devices: ['d2'], target: null, targetPools: [], verifiedBy: null, reason: 'no target (2 Incompatible): h100-c: Incompatible (EINVAL: branch differs)' },
  ],
  summary: { withTarget: 1, blocked: 1 },
  probes: 0,
};

describe('plan-drain table in the demo (plain plan)', () => {
  it('clips reasons to the width asked for, dropping the separator before the ellipsis', () => {
    const row = renderDrainPlan(PLAN, 'table', { maxCellWidth: 28 }).split('\n').find((l) => l.startsWith('ns/vm-f'));
    expect(row).to.match(/BLOCKED\s+-\s+no target \(2 Incompatible\)…$/);
  });

  it('keeps the whole reason at the command\'s default width, with the summary line', () => {
    const text = renderDrainPlan(PLAN, 'table');
    expect(text).to.include('h100-c: Incompatible (EINVAL: branch differs)\n');
    expect(text).to.include('1 with a target, 1 blocked; probes sent: 0');
  });
});
