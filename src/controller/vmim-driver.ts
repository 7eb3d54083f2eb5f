// Drives the KubeVirt side of a migration: the VirtualMachineInstanceMigration for attempt N of an
// MdevMigration has a deterministic name, a controller owner reference to the MdevMigration (GC
// removes it with its owner), `spec.addedNodeSelector` pinning the chosen node by the value of its
// `kubernetes.io/hostname` label (which need not equal the node's name), and the node's name in an
// annotation. AlreadyExists means "adopt": a restarted controller never creates a second VMIM for
// the same attempt.
import type { KubeConfig } from '../kube/kubeconfig.ts';
import { ANNOTATION_TARGET_NODE, API_VERSION, type MdevMigration } from '../api/v1alpha1/index.ts';
import { vmimName } from '../api/v1alpha1/names.ts';
import { isAlreadyExists, isNotFound } from '../kube/errors.ts';
import { kubeRequest } from '../kube/request.ts';
import { resourcePath } from '../kube/resource.ts';
import { createVmim, getVmi, getVmim } from '../kubevirt/client.ts';
import { LABEL_HOSTNAME, VMIM_RESOURCE, vmimPinnedHostname, type Vmi, type Vmim } from '../kubevirt/types.ts';
import type { Logger } from '../observability/logger.ts';

export { VMIM_NAME_MAX, vmimName } from '../api/v1alpha1/names.ts';
/** On every VMIM the controller creates: the MdevMigration it serves. */
export const LABEL_MIGRATION = 'mdev-operator.io/migration';

export function ownerReferenceTo(m: MdevMigration): { apiVersion: string; kind: string; name: string; uid: string; controller: true; blockOwnerDeletion: true } {
  return { apiVersion: API_VERSION, kind: 'MdevMigration', name: m.metadata.name, uid: m.metadata.uid ?? '', controller: true, blockOwnerDeletion: true };
}

export function isOwnedBy(vmim: Vmim, migrationUid: string): boolean {
  const refs = vmim.metadata.ownerReferences ?? [];
  return refs.some((r) => r.uid === migrationUid && r.controller === true);
}

/**
 * The Node a VMIM targets: the operator's annotation, else the node whose hostname label has the
 * pinned value (`nodeOfHostname`), else the pinned value itself.
 */
export function vmimTargetNode(vmim: Vmim, nodeOfHostname: (value: string) => string | undefined): string | undefined {
  const annotated = vmim.metadata.annotations?.[ANNOTATION_TARGET_NODE];
  if (annotated) return annotated;
  const pinned = vmimPinnedHostname(vmim);
  return pinned === undefined ? undefined : (nodeOfHostname(pinned) ?? pinned);
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

  /**
   * Creates (or adopts) the VMIM of `attempt`, pinned to `target` by its hostname label value;
   * throws if a VMIM of that name belongs to someone else, and passes KubeVirt's refusals (400) on.
   */
  async ensure(m: MdevMigration, attempt: number, target: { node: string; hostname: string }): Promise<{ vmim: Vmim; created: boolean }> {
    const namespace = m.metadata.namespace as string;
    const name = vmimName(m.metadata.name, attempt);
    // Look first: KubeVirt's create admitter runs before the API server's AlreadyExists check and
    // refuses (400, "in-flight migration detected") a second create while our own VMIM of this
    // attempt still runs, e.g. after a controller restart.
    const found = await getVmim(this.#o.kc, namespace, name, this.#o.log);
    if (found) return { vmim: this.#adoptable(found, m, name), created: false };
    try {
      this.#o.guard?.();
      const vmim = await createVmim(this.#o.kc, {
        namespace,
        name,
        vmiName: m.spec.vmiName,
        addedNodeSelector: { [LABEL_HOSTNAME]: target.hostname },
        labels: { [LABEL_MIGRATION]: m.metadata.name },
        annotations: { [ANNOTATION_TARGET_NODE]: target.node },
        ownerReferences: [ownerReferenceTo(m)],
      });
      return { vmim, created: true };
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    const existing = await getVmim(this.#o.kc, namespace, name, this.#o.log);
    if (!existing) throw new Error(`VirtualMachineInstanceMigration ${namespace}/${name} was deleted right after it existed; retrying`);
    return { vmim: this.#adoptable(existing, m, name), created: false };
  }

  #adoptable(existing: Vmim, m: MdevMigration, name: string): Vmim {
    const namespace = m.metadata.namespace as string;
    if (!isOwnedBy(existing, m.metadata.uid ?? '')) {
      throw new Error(`VirtualMachineInstanceMigration ${namespace}/${name} exists but is not owned by MdevMigration ${namespace}/${m.metadata.name}: delete it or rename the MdevMigration`);
    }
    return existing;
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

  /** A fresh read of a VMI (its migrationState may be ahead of the cache). */
  async getVmi(namespace: string, name: string): Promise<Vmi | undefined> {
    return getVmi(this.#o.kc, namespace, name, this.#o.log);
  }
}
