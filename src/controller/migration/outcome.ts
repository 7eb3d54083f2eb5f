// How an attempt or a migration ends badly. `retry` gives up one target (its claims released, the
// node remembered in status.failedTargets with why) and plans again unless the attempts are spent;
// `fail` ends the migration, aborting its own VMIM if one still runs and releasing every claim,
// so a failed migration leaves the VM where it was and holds nothing.
import { LIMITS, type FailedTarget, type MdevMigration, type MdevMigrationStatus } from '../../api/v1alpha1/index.ts';
import type { ReconcileResult } from '../../kube/workqueue.ts';
import { isVmimFinal } from '../../kubevirt/types.ts';
import { controllerMetrics } from '../metrics.ts';
import { phaseStatus } from '../migration-status.ts';
import { isOwnedBy } from '../vmim-driver.ts';
import type { StepContext } from './context.ts';

/** Status fields that describe the current target; cleared when planning starts over. */
export const NO_TARGET = { targetNode: null, devices: null, migrationName: null } as unknown as Partial<MdevMigrationStatus>;

export async function fail(ctx: StepContext, m: MdevMigration, reason: string, message: string, extra: Partial<MdevMigrationStatus> = {}): Promise<void> {
  const ns = m.metadata.namespace as string;
  const running = m.status?.migrationName ? ctx.vmim(ns, m.status.migrationName) : undefined;
  // Only a VMIM this migration owns is ours to abort; an admitted VMIM belongs to whoever created it.
  if (running && !isVmimFinal(running) && isOwnedBy(running, m.metadata.uid ?? '')) await ctx.o.vmims.delete(ns, running.metadata.name);
  await ctx.o.claims.releaseAll(m.metadata.uid ?? '');
  await ctx.status.patch(m, { ...extra, ...phaseStatus(m, { phase: 'Failed', reason, message }, ctx.now()) });
  controllerMetrics.migrations.inc({ result: 'failed' });
  ctx.event(m, 'Warning', reason, message);
}

/** `failed` appended to the migration's failed targets (bounded: the oldest go first). */
export function withFailedTarget(m: MdevMigration, failed: FailedTarget): FailedTarget[] {
  const entry: FailedTarget = { ...failed, reason: failed.reason.length <= LIMITS.message ? failed.reason : `${failed.reason.slice(0, LIMITS.message - 3)}...` };
  return [...(m.status?.failedTargets ?? []), entry].slice(-LIMITS.failedTargets);
}

/** An attempt ended without success: release, remember the node, then plan again or give up. */
export async function retry(ctx: StepContext, m: MdevMigration, failed: FailedTarget): Promise<ReconcileResult | void> {
  await ctx.o.claims.releaseAll(m.metadata.uid ?? '');
  const where = failed.migrationName ? `VirtualMachineInstanceMigration ${failed.migrationName} to ${failed.node}` : `target ${failed.node}`;
  const reason = `${where} failed: ${failed.reason}`;
  ctx.event(m, 'Warning', 'AttemptFailed', reason);
  const failedTargets = withFailedTarget(m, failed);
  const attempts = m.status?.attempts ?? 1;
  if (attempts >= ctx.maxAttempts()) {
    return fail(ctx, m, 'AttemptsExhausted', `${attempts} migration attempts failed; the last: ${reason}`, { failedTargets });
  }
  await ctx.status.patch(m, {
    ...phaseStatus(m, { phase: 'Probing', reason: 'AttemptFailed', message: `${reason}; trying the next candidate` }, ctx.now()),
    ...NO_TARGET,
    failedTargets,
  });
  return { requeueAfter: 1 };
}
