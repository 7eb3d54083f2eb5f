// Step: follow our VMIM to its end. Success moves on to settling (which device the VMI got);
// failure reads KubeVirt's cause (failureReason, else its conditions and Warning Events) and tries
// the next candidate. A target pod that stays Pending past the bound is given up the same way:
// KubeVirt would wait 5 minutes and then fail the VMIM with no failureReason, while the operator
// knows other candidates — so it cancels the VMIM (deletes it) and plans again without that node.
import type { MdevMigration } from '../../api/v1alpha1/index.ts';
import type { ReconcileResult } from '../../kube/workqueue.ts';
import { VMIM_PRE_TARGET_PHASES, type Vmim } from '../../kubevirt/types.ts';
import { controllerMetrics } from '../metrics.ts';
import { phaseStatus, setCondition } from '../migration-status.ts';
import { isOwnedBy } from '../vmim-driver.ts';
import { DEFAULT_TARGET_PENDING_TIMEOUT_MS, RESYNC_MS, type StepContext } from './context.ts';
import { failureCause } from './failure.ts';
import { retry } from './outcome.ts';
import { recordSettled, settlement } from './settle.ts';
import { newerByVersion } from './status-writer.ts';

export async function follow(ctx: StepContext, m: MdevMigration, known?: Vmim): Promise<ReconcileResult | void> {
  const name = m.status?.migrationName as string;
  const ns = m.metadata.namespace as string;
  const cached = ctx.vmim(ns, name);
  const vmim = (known && cached ? newerByVersion(known, cached) : (known ?? cached)) ?? (await ctx.o.vmims.get(ns, name));
  const target = m.status?.targetNode ?? '';
  if (!vmim || !isOwnedBy(vmim, m.metadata.uid ?? '')) {
    return retry(ctx, m, { node: target, migrationName: name, reason: 'it disappeared before it finished' });
  }
  const phase = vmim.status?.phase ?? '';
  if (phase === 'Succeeded') {
    ctx.pendingSince.delete(vmim.metadata.uid);
    const message = `VMI ${ns}/${m.spec.vmiName} now runs on ${target}`;
    const succeeded = phaseStatus(m, { phase: 'Succeeded', reason: 'Succeeded', message }, ctx.now());
    // Where the target's agent already shows the device the VMI got and no probe is needed to
    // verify it, the settlement goes with this write (one status write per migration less);
    // else settling follows, and Succeeded is not held back for it.
    const settled = await settlement(ctx, m, false);
    const written = await ctx.status.patch(m, settled ? { ...succeeded, devices: settled.devices, conditions: setCondition(succeeded.conditions ?? [], settled.condition, ctx.now()) } : succeeded);
    controllerMetrics.migrations.inc({ result: 'succeeded' });
    ctx.event(written, 'Normal', 'Succeeded', message);
    if (!settled) return { requeueAfter: 500 };
    recordSettled(ctx, written, settled);
    await ctx.o.claims.releaseAll(m.metadata.uid ?? '');
    return;
  }
  if (phase === 'Failed') {
    ctx.pendingSince.delete(vmim.metadata.uid);
    return retry(ctx, m, { node: target, migrationName: name, reason: await failureCause(ctx, m.spec.vmiName, vmim) });
  }
  if (VMIM_PRE_TARGET_PHASES.includes(phase)) return watchPendingTarget(ctx, m, vmim);
  ctx.pendingSince.delete(vmim.metadata.uid);
  return { requeueAfter: Math.max(1, Math.min(RESYNC_MS, ctx.deadlineAt(m) - ctx.now())) };
}

/** Before the target runs: give the target up once it has been Pending past the bound. */
async function watchPendingTarget(ctx: StepContext, m: MdevMigration, vmim: Vmim): Promise<ReconcileResult | void> {
  const bound = ctx.o.targetPendingTimeoutMs ?? DEFAULT_TARGET_PENDING_TIMEOUT_MS;
  const uid = vmim.metadata.uid;
  const since = ctx.pendingSince.get(uid) ?? ctx.now();
  ctx.pendingSince.set(uid, since);
  const waited = ctx.now() - since;
  if (waited < bound) return { requeueAfter: Math.max(1, Math.min(RESYNC_MS, bound - waited)) };
  const ns = vmim.metadata.namespace;
  const pods = await ctx.targetPods(ns, uid);
  const running = pods.find((p) => p.phase !== 'Pending' && p.phase !== '');
  if (running) return { requeueAfter: 1000 }; // the target started; KubeVirt moves the phase on
  const pod = pods[0];
  const seconds = Math.round(waited / 1000);
  let reason: string;
  if (pod) {
    const events = pod.unschedulable ? [] : (await ctx.objectEvents(ns, uid)).filter((e) => e.type === 'Warning').slice(0, 1);
    const why = pod.unschedulable ?? (events[0] ? `${events[0].reason}: ${events[0].message}` : 'no reason reported');
    reason = `its target pod ${pod.name} stayed Pending for ${seconds}s (${why}); the operator gave it up before KubeVirt's own 5-minute timeout`;
  } else {
    reason = `no target pod ran within ${seconds}s (VMIM phase ${vmim.status?.phase || 'unset'})`;
  }
  await ctx.o.vmims.delete(ns, vmim.metadata.name);
  ctx.pendingSince.delete(uid);
  ctx.event(m, 'Warning', 'TargetPending', `Cancelled VirtualMachineInstanceMigration ${vmim.metadata.name}: ${reason}`);
  return retry(ctx, m, { node: m.status?.targetNode ?? '', migrationName: vmim.metadata.name, reason });
}
