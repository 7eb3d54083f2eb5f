import { expect } from 'chai';
import { CONDITION_TARGET_DEVICE_VERIFIED, type MdevMigration } from '../../../src/api/v1alpha1/index.ts';
import type { CacheCurrency, ControllerCaches } from '../../../src/controller/caches.ts';
import { StepContext, WAIT_RETRY_MS, type MigrationReconcilerOptions } from '../../../src/controller/migration/context.ts';
import { settle } from '../../../src/controller/migration/settle.ts';
import type { StatusWriter } from '../../../src/controller/migration/status-writer.ts';
import { loggerFor } from '../../../src/observability/logger.ts';
import { migration, NOW } from './fixtures.ts';

const log = loggerFor('test');
const GRACE = 60_000;

/** A succeeded migration whose VMI's device the target agent has not reported (no consumer in the cache). */
function succeeded(): MdevMigration {
  const m = migration('m', 'Succeeded');
  const ready = { type: 'Ready', status: 'True' as const, reason: 'Succeeded', message: '', lastTransitionTime: new Date(NOW).toISOString() };
  return { ...m, status: { phase: 'Succeeded', targetNode: 'w2', devices: [{ source: 'w1.src', pool: 'GRID_H100-4C' }], conditions: [ready] } };
}

function world(at: number, currency: CacheCurrency): { ctx: StepContext; written: unknown[]; released: string[] } {
  const written: unknown[] = [];
  const released: string[] = [];
  const caches = {
    vmis: { get: () => ({ metadata: { namespace: 'vms', name: 'vm', uid: 'uid-vm' } }) },
    devices: { list: () => [] },
    currency: () => currency,
  } as unknown as ControllerCaches;
  const claims = { heldBy: () => [{ nodeName: 'w2', pool: 'GRID_H100-4C', units: 1 }], releaseAll: async (uid: string) => void released.push(uid) };
  const opts = { caches, claims, log, now: () => at, settleGraceMs: GRACE } as unknown as MigrationReconcilerOptions;
  const status = { patch: async (m: MdevMigration, s: unknown) => (written.push(s), m) } as unknown as StatusWriter;
  return { ctx: new StepContext(opts, status), written, released };
}

describe('settling a succeeded migration whose device the agent has not reported', () => {
  const current = (since: number): CacheCurrency => ({ behind: [], leasesSince: since, devicesSince: since });

  it('gives the agent its grace from success when the caches were current all along', async () => {
    const early = world(NOW + GRACE - 1, current(NOW - 600_000));
    expect(await settle(early.ctx, succeeded())).to.deep.equal({ requeueAfter: 1000 });
    expect(early.written).to.deep.equal([]);
    const late = world(NOW + GRACE, current(NOW - 600_000));
    await settle(late.ctx, succeeded());
    const conditions = (late.written[0] as { conditions: { type: string; status: string; reason: string }[] }).conditions;
    expect(conditions.find((c) => c.type === CONDITION_TARGET_DEVICE_VERIFIED)).to.deep.include({ status: 'Unknown', reason: 'NotReported' });
    expect(late.released).to.deep.equal(['uid-m']);
  });

  it('waits while the caches are behind, and counts the grace from when they caught up after an outage', async () => {
    const during = world(NOW + 10 * GRACE, { behind: ['apiserver'], leasesSince: undefined, devicesSince: undefined });
    expect(await settle(during.ctx, succeeded())).to.deep.equal({ requeueAfter: WAIT_RETRY_MS });
    expect(during.written).to.deep.equal([]);
    // Current again 45 s after success: the agent has until 45 s + grace.
    const after = world(NOW + 45_000 + GRACE - 1, current(NOW + 45_000));
    expect(await settle(after.ctx, succeeded())).to.deep.equal({ requeueAfter: 1000 });
    expect(after.written).to.deep.equal([]);
    expect(after.released).to.deep.equal([]);
  });
});
