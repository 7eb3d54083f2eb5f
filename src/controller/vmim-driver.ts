// Drives the KubeVirt side of a migration: the VirtualMachineInstanceMigration for attempt N of an
// MdevMigration has a deterministic name, a controller owner reference to the MdevMigration (GC
// removes it with its owner) and `spec.addedNodeSelector` pinning the chosen node. AlreadyExists
// means "adopt": a restarted controller never creates a second VMIM for the same attempt.
import type { KubeConfig } from '@kubernetes/client-node';
import { API_VERSION, type MdevMigration } from '../api/v1alpha1/index.ts';
import { vmimName } from '../api/v1alpha1/names.ts';
import { isAlreadyExists, isNotFound } from '../kube/errors.ts';
import { kubeRequest } from '../kube/request.ts';
import { resourcePath } from '../kube/resource.ts';
import { createVmim, getVmim } from '../kubevirt/client.ts';
import { LABEL_HOSTNAME, VMIM_RESOURCE, vmimFailureReason, vmimPinnedNode, type Vmim } from '../kubevirt/types.ts';
import type { Logger } from '../observability/logger.ts';

export { VMIM_NAME_MAX, vmimName } from '../api/v1alpha1/names.ts';
/** On every VMIM the controller creates: the MdevMigration it serves. */
export const LABEL_MIGRATION = 'mdev-operator.io/migration';

export function ownerReferenceTo(m: MdevMigration): { apiVersion: string; kind: string; name: string; uid: string; controller: true; blockOwnerDeletion: true } {
  return { apiVersion: API_VERSION, kind: 'MdevMigration', name: m.metadata.name, uid: m.metadata.uid ?? '', controller: true, blockOwnerDeletion: true };
}

export function isOwnedBy(vmim: Vmim, migrationUid: string): boolean {
  const refs = (vmim.metadata as { ownerReferences?: { uid?: string; controller?: boolean }[] }).ownerReferences ?? [];
  return refs.some((r) => r.uid === migrationUid && r.controller === true);
}

/** A finished attempt of a migration: the node it targeted and why it failed. */
export interface FailedAttempt {
  vmim: string;
  node: string;
  reason: string;
}

/** Failed VMIMs owned by the migration: the nodes to exclude from the next decision. */
export function failedAttempts(vmims: readonly Vmim[], migrationUid: string): FailedAttempt[] {
  return vmims
    .filter((v) => isOwnedBy(v, migrationUid) && v.status?.phase === 'Failed')
    .flatMap((v) => {
      const node = vmimPinnedNode(v);
      return node ? [{ vmim: v.metadata.name, node, reason: vmimFailureReason(v) ?? 'the KubeVirt migration failed' }] : [];
    })
    .sort((a, b) => (a.vmim < b.vmim ? -1 : a.vmim > b.vmim ? 1 : 0));
}

export interface VmimDriverOptions {
  kc: KubeConfig;
  log: Logger;
  guard?: () => void;
}

export class VmimDriver {
  readonly #o: VmimDriverOptions;

  constructor(opts: VmimDriverOptions) {
    this.#o = opts;
  }

  /** Creates (or adopts) the VMIM of `attempt`; throws if a VMIM of that name belongs to someone else. */
  async ensure(m: MdevMigration, attempt: number, targetNode: string): Promise<{ vmim: Vmim; created: boolean }> {
    const namespace = m.metadata.namespace as string;
    const name = vmimName(m.metadata.name, attempt);
    try {
      this.#o.guard?.();
      const vmim = await createVmim(this.#o.kc, {
        namespace,
        name,
        vmiName: m.spec.vmiName,
        addedNodeSelector: { [LABEL_HOSTNAME]: targetNode },
        labels: { [LABEL_MIGRATION]: m.metadata.name },
        ownerReferences: [ownerReferenceTo(m)],
      });
      return { vmim, created: true };
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    const existing = await getVmim(this.#o.kc, namespace, name, this.#o.log);
    if (!existing) throw new Error(`VirtualMachineInstanceMigration ${namespace}/${name} was deleted right after it existed; retrying`);
    if (!isOwnedBy(existing, m.metadata.uid ?? '')) {
      throw new Error(`VirtualMachineInstanceMigration ${namespace}/${name} exists but is not owned by MdevMigration ${namespace}/${m.metadata.name}: delete it or rename the MdevMigration`);
    }
    return { vmim: existing, created: false };
  }

  /** Deletes a VMIM (KubeVirt aborts a running migration when its VMIM goes); absent is fine. */
  async delete(namespace: string, name: string): Promise<void> {
    try {
      this.#o.guard?.();
      await kubeRequest(this.#o.kc, { method: 'DELETE', path: resourcePath(VMIM_RESOURCE, { namespace, name }) });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  async get(namespace: string, name: string): Promise<Vmim | undefined> {
    return getVmim(this.#o.kc, namespace, name, this.#o.log);
  }
}
