// MdevMigrations recorded by the admission webhook (label mdev-operator.io/origin=admission) stand
// for a VMIM that a user, `kubectl drain` or KubeVirt created: the webhook already decided, reserved
// and pinned the target. The controller never plans or creates a VMIM for them; it only follows
// that VMIM to its end. These are the pure rules; the reconciler supplies the VMIM it found.
import type { MdevMigration } from '../api/v1alpha1/index.ts';
import { VMIM_KIND, vmimFailureReason, vmimPinnedHostname, type Vmim } from '../kubevirt/types.ts';
import { ANNOTATION_MIGRATION, ANNOTATION_VMIM, LABEL_ORIGIN, ORIGIN_ADMISSION } from '../api/v1alpha1/constants.ts';

/** How long a record may wait for its VMIM to appear before it is failed and its reservations freed. */
export const DEFAULT_ADMISSION_GRACE_MS = 60_000;

export function isAdmissionRecord(m: MdevMigration): boolean {
  return m.metadata.labels?.[LABEL_ORIGIN] === ORIGIN_ADMISSION;
}

/** The VMIM owner reference the linker set, once the VMIM existed. */
function vmimOwner(m: MdevMigration): { name: string; uid: string } | undefined {
  return (m.metadata.ownerReferences ?? []).find((r) => r.kind === VMIM_KIND);
}

/** Names under which the record's VMIM may exist: owner reference, annotation, status (non-empty, unique). */
export function admittedVmimNames(m: MdevMigration): string[] {
  const names = [vmimOwner(m)?.name, m.metadata.annotations?.[ANNOTATION_VMIM], m.status?.migrationName];
  return [...new Set(names.filter((n): n is string => typeof n === 'string' && n !== ''))];
}

/**
 * Whether `vmim` is the one `m` records. A linked record (owner reference) names its VMIM by uid,
 * so a VMIM re-created under the same name is not it; before linking, the VMIM's
 * `mdev-operator.io/migration` annotation (set by the mutating webhook) names the record.
 */
export function isAdmittedVmimOf(vmim: Vmim, m: MdevMigration): boolean {
  if (vmim.metadata.namespace !== m.metadata.namespace) return false;
  const owner = vmimOwner(m);
  if (owner) return owner.uid === vmim.metadata.uid;
  return vmim.metadata.annotations?.[ANNOTATION_MIGRATION] === m.metadata.name;
}

export type AdmittedStep =
  | { kind: 'wait'; requeueAfterMs: number }
  | { kind: 'succeeded'; message: string }
  | { kind: 'failed'; reason: 'MigrationFailed' | 'VMIMDeleted' | 'VMIMNotCreated'; message: string };

export interface AdmittedStepInput {
  record: MdevMigration;
  /** The record's VMIM (see isAdmittedVmimOf), or undefined when none exists. */
  vmim: Vmim | undefined;
  now: number;
  graceMs?: number;
  /** How often a running VMIM is re-checked without an event (ms). */
  resyncMs: number;
  /** Why the VMIM failed, in KubeVirt's words (the step reads it when the VMIM is Failed). */
  failureCause?: string;
}

/** What to do with an admission record given its VMIM (pure). */
export function admittedStep(i: AdmittedStepInput): AdmittedStep {
  const m = i.record;
  const ns = m.metadata.namespace ?? '';
  const vmiRef = `${ns}/${m.spec.vmiName}`;
  const v = i.vmim;
  if (v) {
    const target = m.status?.targetNode ?? vmimPinnedHostname(v) ?? v.status?.migrationState?.targetNode ?? 'its target';
    if (v.status?.phase === 'Succeeded') return { kind: 'succeeded', message: `VMI ${vmiRef} now runs on ${target} (VirtualMachineInstanceMigration ${v.metadata.name})` };
    if (v.status?.phase === 'Failed') {
      const why = i.failureCause ?? vmimFailureReason(v) ?? 'the KubeVirt migration failed';
      return {
        kind: 'failed',
        reason: 'MigrationFailed',
        message: `VirtualMachineInstanceMigration ${v.metadata.name} to ${target} failed: ${why}; the operator does not retry a migration it did not create (create a new VMIM or an MdevMigration)`,
      };
    }
    return { kind: 'wait', requeueAfterMs: i.resyncMs };
  }
  const owner = vmimOwner(m);
  if (owner) return { kind: 'failed', reason: 'VMIMDeleted', message: `VirtualMachineInstanceMigration ${ns}/${owner.name} was deleted before it finished; its reservations were released` };
  const graceMs = i.graceMs ?? DEFAULT_ADMISSION_GRACE_MS;
  const created = Date.parse(String(m.metadata.creationTimestamp ?? ''));
  const age = Number.isFinite(created) ? i.now - created : 0;
  if (age < graceMs) return { kind: 'wait', requeueAfterMs: Math.max(100, graceMs - age) };
  const name = admittedVmimNames(m)[0];
  return {
    kind: 'failed',
    reason: 'VMIMNotCreated',
    message: `the admitted VirtualMachineInstanceMigration ${name ? `${ns}/${name} ` : ''}for VMI ${vmiRef} did not exist ${Math.round(graceMs / 1000)}s after admission (a later admission plugin may have refused it, or it was deleted); its reservations were released`,
  };
}
