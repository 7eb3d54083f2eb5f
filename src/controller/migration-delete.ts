// Deleting an MdevMigration only in the version that was judged: preconditions on uid and
// resourceVersion make the API server refuse (409) if it was recreated or changed meanwhile.
// Background propagation: the VMIMs it owns are garbage-collected after it.
import type { KubeConfig } from '../kube/kubeconfig.ts';
import type { MdevMigration } from '../api/v1alpha1/index.ts';
import { kubeRequest } from '../kube/request.ts';
import { resourcePath } from '../kube/resource.ts';
import { MDEV_MIGRATIONS } from './resources.ts';

export async function deleteMigration(kc: KubeConfig, m: MdevMigration, guard?: () => void): Promise<void> {
  guard?.();
  const { uid, resourceVersion } = m.metadata;
  await kubeRequest(kc, {
    method: 'DELETE',
    path: resourcePath(MDEV_MIGRATIONS, { namespace: m.metadata.namespace, name: m.metadata.name }),
    body: { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background', preconditions: { ...(uid ? { uid } : {}), ...(resourceVersion ? { resourceVersion } : {}) } },
  });
}
