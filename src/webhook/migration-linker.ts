// Closes the loop between an admitted VMIM and its MdevMigration. At admission the VMIM has no uid
// yet, so the MdevMigration is created unowned; once the VMIM exists, the linker adds an owner
// reference to it (so deleting the VMIM garbage-collects the record), records the VMIM's final name
// (generateName), and fills status.migrationName. Idempotent: run on every VMIM add/update.
import type { KubeConfig } from '../kube/kubeconfig.ts';
import { FIELD_MANAGER_CONTROLLER, parseFromWire, type MdevMigration } from '../api/v1alpha1/index.ts';
import { mergePatch } from '../kube/apply.ts';
import { isConflict, isNotFound } from '../kube/errors.ts';
import type { Informer } from '../kube/informer.ts';
import { kubeRequest } from '../kube/request.ts';
import { resourcePath } from '../kube/resource.ts';
import { MDEV_MIGRATIONS } from '../controller/services.ts';
import { KUBEVIRT_API_VERSION, VMIM_KIND, type Vmim } from '../kubevirt/types.ts';
import { loggerFor } from '../observability/logger.ts';
import { ANNOTATION_MIGRATION, ANNOTATION_VMIM, LABEL_ORIGIN, ORIGIN_ADMISSION } from '../api/v1alpha1/constants.ts';

const log = loggerFor('webhook-linker');

/** The metadata and status changes that link `migration` to `vmim`; undefined when already linked (pure). */
export function linkPatch(migration: MdevMigration, vmim: Vmim): { metadata: Record<string, unknown>; status?: Record<string, unknown> } | undefined {
  const owners = migration.metadata.ownerReferences ?? [];
  if (owners.some((o) => o.uid === vmim.metadata.uid)) return undefined;
  if (migration.metadata.labels?.[LABEL_ORIGIN] !== ORIGIN_ADMISSION || owners.length > 0) return undefined;
  if (migration.spec.vmiName !== vmim.spec.vmiName) return undefined;
  const owner = { apiVersion: KUBEVIRT_API_VERSION, kind: VMIM_KIND, name: vmim.metadata.name, uid: vmim.metadata.uid, controller: true, blockOwnerDeletion: false };
  return {
    metadata: { resourceVersion: migration.metadata.resourceVersion, ownerReferences: [owner], annotations: { [ANNOTATION_VMIM]: vmim.metadata.name } },
    ...(migration.status?.migrationName ? {} : { status: { migrationName: vmim.metadata.name } }),
  };
}

/** Links one VMIM's MdevMigration; returns true when it wrote something. */
export async function linkAdmittedMigration(kc: KubeConfig, vmim: Vmim): Promise<boolean> {
  const name = vmim.metadata.annotations?.[ANNOTATION_MIGRATION];
  if (!name) return false;
  const ref = { namespace: vmim.metadata.namespace, name };
  let migration: MdevMigration | undefined;
  try {
    migration = parseFromWire('MdevMigration', await kubeRequest(kc, { method: 'GET', path: resourcePath(MDEV_MIGRATIONS, ref) }), log);
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
  const patch = migration && linkPatch(migration, vmim);
  if (!patch) return false;
  try {
    await mergePatch(kc, MDEV_MIGRATIONS, ref, { metadata: patch.metadata }, { fieldManager: FIELD_MANAGER_CONTROLLER });
    if (patch.status) await mergePatch(kc, MDEV_MIGRATIONS, ref, { status: patch.status }, { subresource: 'status', fieldManager: FIELD_MANAGER_CONTROLLER });
  } catch (err) {
    // Someone changed it first; the next VMIM event (or the periodic relist) retries.
    if (isConflict(err) || isNotFound(err)) return false;
    throw err;
  }
  log.info('Linked MdevMigration to its VMIM', { namespace: ref.namespace, migration: name, vmim: vmim.metadata.name });
  return true;
}

/** Links on every VMIM add/update seen by the informer (the controller's VMIM cache). */
export function startMigrationLinker(kc: KubeConfig, vmims: Informer<Vmim>): void {
  const link = (v: Vmim): void => {
    if (!v.metadata.annotations?.[ANNOTATION_MIGRATION]) return;
    linkAdmittedMigration(kc, v).catch((err: unknown) => log.error('Failed to link MdevMigration to its VMIM', { vmim: `${v.metadata.namespace}/${v.metadata.name}`, error: (err as Error).message }));
  };
  vmims.addHandlers({ add: link, update: (_o, n) => link(n) });
}
