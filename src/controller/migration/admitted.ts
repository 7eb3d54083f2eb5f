// Step for admission records (MdevMigrations the webhook wrote for a VMIM someone else created):
// the VMIM's end is the record's end. No retry (that VMIM is the user's or KubeVirt's) and no
// deadline (KubeVirt's own progress timeouts govern a running migration). The pure rules live in
// ../admitted-migration.ts.
import type { MdevMigration } from '../../api/v1alpha1/index.ts';
import { objectKey } from '../../kube/resource.ts';
import type { ReconcileResult } from '../../kube/workqueue.ts';
import type { Vmim } from '../../kubevirt/types.ts';
import { admittedStep, admittedVmimNames, isAdmittedVmimOf } from '../admitted-migration.ts';
import { controllerMetrics } from '../metrics.ts';
import { phaseStatus } from '../migration-status.ts';
import { RESYNC_MS, type StepContext } from './context.ts';
import { failureCause as failureCauseOf } from './failure.ts';
import { fail } from './outcome.ts';

export async function followAdmitted(ctx: StepContext, m: MdevMigration): Promise<ReconcileResult | void> {
  let vmim = admittedVmim(ctx, m);
  const step = async (v: Vmim | undefined) => {
    const failureCause = v?.status?.phase === 'Failed' ? await failureCauseOf(ctx, m.spec.vmiName, v) : undefined;
    return admittedStep({ record: m, vmim: v, now: ctx.now(), graceMs: ctx.o.admissionGraceMs, resyncMs: RESYNC_MS, ...(failureCause ? { failureCause } : {}) });
  };
  let next = await step(vmim);
  if (!vmim && next.kind === 'failed') {
    // Never fail a record on a lagging cache: ask the API server before giving up on its VMIM.
    vmim = await admittedVmimFromApi(ctx, m);
    next = await step(vmim);
  }
  if (next.kind === 'wait') return { requeueAfter: next.requeueAfterMs };
  if (next.kind === 'failed') return fail(ctx, m, next.reason, next.message);
  await ctx.status.patch(m, phaseStatus(m, { phase: 'Succeeded', reason: 'Succeeded', message: next.message }, ctx.now()));
  controllerMetrics.migrations.inc({ result: 'succeeded' });
  ctx.event(m, 'Normal', 'Succeeded', next.message);
  return { requeueAfter: 500 };
}

function admittedVmim(ctx: StepContext, m: MdevMigration): Vmim | undefined {
  const ns = m.metadata.namespace as string;
  for (const name of admittedVmimNames(m)) {
    const v = ctx.caches.vmims.get(objectKey(ns, name));
    if (v && isAdmittedVmimOf(v, m)) return v;
  }
  // A generated name (generateName) is known only from the VMIM's annotation.
  return ctx.caches.vmims.list().find((v) => isAdmittedVmimOf(v, m));
}

async function admittedVmimFromApi(ctx: StepContext, m: MdevMigration): Promise<Vmim | undefined> {
  const ns = m.metadata.namespace as string;
  for (const name of admittedVmimNames(m)) {
    const v = await ctx.o.vmims.get(ns, name);
    if (v && isAdmittedVmimOf(v, m)) return v;
  }
  return undefined;
}
