// STAND-IN for the kubelets of a simulated fleet: what each node's PodResources API would report,
// taken from the virt-launcher pods bound to that node and their
// `sim.mdev-operator.io/allocated-devices` annotation (written by the VMI factory and the KubeVirt
// simulator in place of a device plugin). One pod informer serves every node of the fleet.
import type { KubeConfig } from '../../../src/kube/kubeconfig.ts';
import { z } from 'zod';
import type { PodDevices } from '../../../src/agent/podresources/types.ts';
import { informerFor, type Informer } from '../../../src/kube/informer.ts';
import { APP_VIRT_LAUNCHER, LABEL_APP, LABEL_CREATED_BY, LABEL_MIGRATION_JOB_UID } from '../../../src/kubevirt/types.ts';
import type { Logger } from '../../../src/observability/logger.ts';
import { LAUNCHER_CONTAINER, parseAllocatedDevices } from '../kubevirt/launcher-pod.ts';

const PODS = { group: '', version: 'v1', plural: 'pods', namespaced: true } as const;

const podSchema = z.looseObject({
  metadata: z.looseObject({
    name: z.string(),
    namespace: z.string(),
    annotations: z.record(z.string(), z.string()).optional(),
    labels: z.record(z.string(), z.string()).optional(),
    deletionTimestamp: z.string().optional(),
  }),
  spec: z.looseObject({
    nodeName: z.string().optional(),
    containers: z.array(z.looseObject({ name: z.string(), resources: z.looseObject({ limits: z.record(z.string(), z.unknown()).optional() }).optional() })).optional(),
  }),
});

interface LauncherPod {
  namespace: string;
  name: string;
  nodeName: string;
  resourceName: string;
  deviceIds: string[];
  /** The VMI the pod runs (virt-controller's created-by label). */
  vmiUid: string | undefined;
  /** A migration target pod's VMIM uid (kubevirt.io/migrationJobUID). */
  migrationJobUid: string | undefined;
}

function parsePod(raw: unknown): LauncherPod | undefined {
  const r = podSchema.safeParse(raw);
  if (!r.success || !r.data.spec.nodeName) return undefined;
  const p = r.data;
  const limits = p.spec.containers?.find((c) => c.name === LAUNCHER_CONTAINER)?.resources?.limits ?? {};
  const resourceName = Object.keys(limits).find((k) => k.includes('/')) ?? 'sim.mdev-operator.io/device';
  return { namespace: p.metadata.namespace, name: p.metadata.name, nodeName: p.spec.nodeName as string, resourceName, deviceIds: parseAllocatedDevices(p.metadata.annotations), vmiUid: p.metadata.labels?.[LABEL_CREATED_BY], migrationJobUid: p.metadata.labels?.[LABEL_MIGRATION_JOB_UID] };
}

export class FleetKubelet {
  readonly #pods: Informer<LauncherPod>;
  readonly #listeners: Array<(node: string) => void> = [];
  readonly #boundListeners: Array<(migrationJobUid: string) => void> = [];

  constructor(kc: KubeConfig, log: Logger) {
    // Only bound pods, as a kubelet watches only the pods bound to it: a pending target pod is not
    // malformed, and skipping it as one filled the logs and the malformed-objects metric.
    this.#pods = informerFor(kc, { resource: PODS, name: 'fleet-kubelet-pods', labelSelector: `${LABEL_APP}=${APP_VIRT_LAUNCHER}`, fieldSelector: 'spec.nodeName!=', parse: parsePod, logger: log });
    const changed = (p: LauncherPod): void => {
      for (const l of this.#listeners) l(p.nodeName);
    };
    const seen = (p: LauncherPod): void => {
      if (p.migrationJobUid && p.deviceIds.length > 0) for (const l of this.#boundListeners) l(p.migrationJobUid);
    };
    this.#pods.addHandlers({
      add: (p) => { seen(p); changed(p); },
      update: (o, n) => { seen(n); changed(o); if (o.nodeName !== n.nodeName) changed(n); },
      delete: changed,
    });
  }

  async start(): Promise<void> {
    this.#pods.start();
    await this.#pods.waitForSync();
  }

  stop(): Promise<void> {
    return this.#pods.stop();
  }

  /** Called with a node name whenever a launcher pod on it appears, changes or goes. */
  onNodeChange(listener: (node: string) => void): void {
    this.#listeners.push(listener);
  }

  /** Called with a migration target pod's VMIM uid once this kubelet's cache shows the pod bound with its devices. */
  onTargetPodBound(listener: (migrationJobUid: string) => void): void {
    this.#boundListeners.push(listener);
  }

  /** The devices launcher pods on the node hold, with their VMI's uid. */
  heldDevices(nodeName: string): { deviceId: string; vmiUid: string | undefined }[] {
    return this.#pods
      .list()
      .filter((p) => p.nodeName === nodeName)
      .flatMap((p) => p.deviceIds.map((deviceId) => ({ deviceId, vmiUid: p.vmiUid })));
  }

  /** What the node's PodResources List would return. */
  podDevices(nodeName: string): PodDevices[] {
    return this.#pods
      .list()
      .filter((p) => p.nodeName === nodeName && p.deviceIds.length > 0)
      .map((p) => ({ namespace: p.namespace, pod: p.name, container: LAUNCHER_CONTAINER, resourceName: p.resourceName, deviceIds: p.deviceIds }));
  }
}
