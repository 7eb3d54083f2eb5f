// Why a VMIM failed, in KubeVirt's words. `status.migrationState.failureReason` is set when the
// source reported a failed migration; many failures leave it empty and say why only in a VMIM
// condition or a Warning Event (pkg/virt-controller/watch/migration/migration.go records e.g.
// "Migration target pod was removed during active migration." or "Migration failed due to being
// canceled" as FailedMigration Events, and an unschedulable target only as
// migrationTargetPodUnschedulable). Pure: the caller lists the Events.
import type { ObjectEvent } from '../kube/object-events.ts';
import type { MigrationState, Vmim } from './types.ts';

const MAX_PARTS = 3;

/**
 * `vmiState` is the VMI's status.migrationState: KubeVirt copies it to the VMIM only after the VMIM
 * turned final, so right after a failure the reason may still be only on the VMI.
 */
export function vmimFailureCause(vmim: Vmim, events: readonly ObjectEvent[], vmiState?: MigrationState | null): string {
  const reason = vmim.status?.migrationState?.failureReason ?? (vmiState?.migrationUid === vmim.metadata.uid ? vmiState.failureReason : undefined);
  if (reason) return reason;
  const parts: string[] = [];
  for (const c of vmim.status?.conditions ?? []) {
    if (c.status !== 'True') continue;
    parts.push(`condition ${c.type}${c.reason ? ` (${c.reason})` : ''}${c.message ? `: ${c.message}` : ''}`);
  }
  for (const e of events) {
    if (e.type !== 'Warning' || !e.message) continue;
    const text = `${e.reason ? `${e.reason}: ` : ''}${e.message}`;
    if (!parts.includes(text)) parts.push(text);
  }
  if (parts.length === 0) return 'KubeVirt recorded no reason (no failureReason, condition or Warning Event on the VMIM)';
  return parts.slice(0, MAX_PARTS).join('; ') + (parts.length > MAX_PARTS ? ` (+${parts.length - MAX_PARTS} more)` : '');
}
