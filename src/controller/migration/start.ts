// Step: create (or adopt) the VMIM. The claims are asserted again first (a restarted controller
// resumes from Planned), the VMIM pins the node by its `kubernetes.io/hostname` label value, and
// KubeVirt's refusal of the create (HTTP 400 from virt-api's migration-create admitter: the VMI is
// not live-migratable, or another migration of it is in flight) is terminal, carrying KubeVirt's
// message — sending it again until the deadline cannot change KubeVirt's mind.
import type { MdevMigration, MdevMigrationStatus } from '../../api/v1alpha1/index.ts';
import { apiStatus, describeApiError, isBadRequest } from '../../kube/errors.ts';
import type { ReconcileResult } from '../../kube/workqueue.ts';
import { isVmimFinal, type Vmim } from '../../kubevirt/types.ts';
import { phaseStatus } from '../migration-status.ts';
import { vmimName, vmimTargetNode } from '../vmim-driver.ts';
import type { StepContext } from './context.ts';
import { follow } from './follow.ts';
import { fail, NO_TARGET, retry } from './outcome.ts';

/** Planned with claims: make sure they are still ours, then create (or adopt) the VMIM. */
export async function startMigration(ctx: StepContext, m: MdevMigration): Promise<ReconcileResult | void> {
  const status = m.status as MdevMigrationStatus;
  const target = status.targetNode as string;
  const held = await ctx.o.claims.claim(ctx.owner(m), target, ctx.demands(m), ctx.claimExpiry(m));
  if (!held.ok) {
    await ctx.status.patch(m, {
      ...phaseStatus(m, { phase: 'Probing', reason: 'ClaimLost', message: `The claim on ${target} was lost (${held.reason}); deciding again` }, ctx.now()),
      ...NO_TARGET,
    });
    ctx.rememberLoss(m, { node: target, ...(held.seenVersion ? { seenVersion: held.seenVersion } : {}) });
    return { requeue: true };
  }
  const attempt = status.attempts ?? 1;
  const name = vmimName(m.metadata.name, attempt);
  // A VMIM of ours that was cancelled is still in flight until KubeVirt marks it final; KubeVirt
  // refuses a second migration of the VMI meanwhile, so wait for it instead of being refused.
  const draining = ctx.ownedVmims(m).find((v) => v.metadata.name !== name && !isVmimFinal(v));
  if (draining) return { requeueAfter: 500 };
  const hostname = ctx.hostnameOf(target);
  if (hostname === undefined) return retry(ctx, m, { node: target, reason: `node ${target} has no kubernetes.io/hostname label (any more) to pin the target with` });
  let vmim: Vmim;
  let created: boolean;
  try {
    ({ vmim, created } = await ctx.o.vmims.ensure(m, attempt, { node: target, hostname }));
  } catch (err) {
    if (!isBadRequest(err)) throw err;
    const refusal = apiStatus(err).message ?? describeApiError(err);
    return fail(ctx, m, 'MigrationRefused', `KubeVirt refused VirtualMachineInstanceMigration ${m.metadata.namespace}/${name}: ${refusal}`);
  }
  const message = `${created ? 'Created' : 'Adopted'} VirtualMachineInstanceMigration ${vmim.metadata.name} to ${target}${hostname !== target ? ` (kubernetes.io/hostname=${hostname})` : ''}`;
  m = await ctx.status.patch(m, { ...phaseStatus(m, { phase: 'Migrating', reason: 'Migrating', message }, ctx.now()), migrationName: vmim.metadata.name });
  ctx.event(m, 'Normal', 'Migrating', message);
  return follow(ctx, m, vmim);
}

/**
 * A controller that died (or lost its Lease) after creating the VMIM but before recording it left a
 * live VMIM and an older phase: follow that VMIM. Deciding again would read the VMI's new node as
 * the source; claiming again (Planned) would count the device the VMI took as gone from the pool.
 */
export async function adopt(ctx: StepContext, m: MdevMigration, vmim: Vmim): Promise<ReconcileResult | void> {
  const target = vmimTargetNode(vmim, (value) => ctx.nodeOfHostname(value));
  const message = `Adopted VirtualMachineInstanceMigration ${vmim.metadata.name}${target ? ` to ${target}` : ''}`;
  m = await ctx.status.patch(m, {
    ...phaseStatus(m, { phase: 'Migrating', reason: 'Migrating', message }, ctx.now()),
    migrationName: vmim.metadata.name,
    ...(target ? { targetNode: target } : {}),
  });
  ctx.event(m, 'Normal', 'Migrating', message);
  return follow(ctx, m, vmim);
}

/**
 * An owned VMIM that did not fail and that this migration did not give up on: the one to adopt.
 * One that already Succeeded counts too: it finished while no controller could record it (an
 * outage right after creating it), and following it is how the migration learns it is done.
 */
export function liveVmimToAdopt(ctx: StepContext, m: MdevMigration): Vmim | undefined {
  const givenUp = new Set((m.status?.failedTargets ?? []).flatMap((f) => (f.migrationName ? [f.migrationName] : [])));
  return ctx.ownedVmims(m).find((v) => v.status?.phase !== 'Failed' && !v.metadata.deletionTimestamp && !givenUp.has(v.metadata.name));
}
