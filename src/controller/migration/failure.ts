// Why a VMIM failed, as the reconciler reads it: KubeVirt's failureReason — on the VMIM once
// final, or still only on the VMI's migrationState right after the failure (KubeVirt copies it
// over on a later pass) — else the VMIM's conditions and Warning Events (failure-cause.ts).
import { objectKey } from '../../kube/resource.ts';
import { vmimFailureCause } from '../../kubevirt/failure-cause.ts';
import type { Vmim } from '../../kubevirt/types.ts';
import type { StepContext } from './context.ts';

export async function failureCause(ctx: StepContext, vmiName: string, vmim: Vmim): Promise<string> {
  const ns = vmim.metadata.namespace;
  if (vmim.status?.migrationState?.failureReason) return vmimFailureCause(vmim, []);
  const cached = ctx.caches.vmis.get(objectKey(ns, vmiName))?.status?.migrationState;
  const state = cached?.migrationUid === vmim.metadata.uid && cached.failureReason ? cached : (await ctx.o.vmims.getVmi(ns, vmiName))?.status?.migrationState;
  if (state?.migrationUid === vmim.metadata.uid && state.failureReason) return vmimFailureCause(vmim, [], state);
  return vmimFailureCause(vmim, await ctx.objectEvents(ns, vmim.metadata.uid), state);
}
