// KubeVirt's refusal before any placement: virt-handler sets the VMI condition LiveMigratable=False
// with a reason (e.g. HostDeviceNotLiveMigratable: with the VGPULiveMigration feature gate a VMI is
// migratable only with exactly one mediated-device GPU and no hostDevices; pkg/virt-handler/vm.go,
// vmiContainsNonMigratablePCIHostDevices), and virt-api's migration-create admitter then refuses
// every VMIM for that VMI with HTTP 400 (pkg/virt-api/webhooks/validating-webhook/admitters/
// migration-create-admitter.go, isMigratable).
import { CONDITION_LIVE_MIGRATABLE, findCondition, type Vmi } from './types.ts';

/** Why KubeVirt will not migrate `vmi`, in its own words; undefined when it would. */
export function notLiveMigratable(vmi: Vmi): string | undefined {
  const c = findCondition(vmi.status?.conditions, CONDITION_LIVE_MIGRATABLE);
  if (c?.status !== 'False') return undefined;
  const ref = `${vmi.metadata.namespace}/${vmi.metadata.name}`;
  return `KubeVirt reports VMI ${ref} not live-migratable (condition LiveMigratable=False, reason ${c.reason ?? 'unset'}${c.message ? `: ${c.message}` : ''}); KubeVirt refuses to migrate it until that changes`;
}
