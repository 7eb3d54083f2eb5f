// A pod bound to the agent's node, reduced to what consumer tracking needs: who it is (uid, and
// the VMI when it is a virt-launcher pod), whether it can hold devices at all, and a lifecycle
// signature that changes when the kubelet moves it along (admitted, containers started, stopped).
// The kubelet allocates devices when it admits a pod and frees them when the pod terminates, and it
// reports both through pod status, so a changed signature is the moment to ask PodResources again.
// Pure.
import { launcherFromPod, type PodMeta } from './consumers.ts';
import type { NodePod } from './types.ts';

export type WatchedPod = NodePod & {
  /** Requests an extended resource (device plugin) or a ResourceClaim (DRA). */
  mayHoldDevices: boolean;
  /** Phase and each container's state; equal signatures mean nothing device-relevant happened. */
  lifecycle: string;
};

type Loose = Record<string, unknown>;

function record(v: unknown): Loose | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Loose) : undefined;
}

function array(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** A Pod from the API as a WatchedPod, or undefined without namespace, name and uid. */
export function parseNodePod(raw: unknown): WatchedPod | undefined {
  const obj = record(raw);
  const meta = record(obj?.metadata);
  if (typeof meta?.name !== 'string' || typeof meta.namespace !== 'string' || typeof meta.uid !== 'string') return undefined;
  const spec = record(obj?.spec);
  const pod: WatchedPod = {
    namespace: meta.namespace,
    name: meta.name,
    uid: meta.uid,
    mayHoldDevices: array(spec?.resourceClaims).length > 0 || [...array(spec?.containers), ...array(spec?.initContainers)].some(requestsExtendedResource),
    lifecycle: lifecycle(record(obj?.status)),
  };
  const launcher = launcherOf(meta as unknown as PodMeta);
  if (launcher) pod.launcher = launcher;
  return pod;
}

function launcherOf(meta: PodMeta): NodePod['launcher'] {
  try {
    return launcherFromPod(meta);
  } catch {
    return undefined; // malformed labels or owner references: an ordinary pod
  }
}

// Extended resources are the fully qualified names outside the kubernetes.io domain (core's
// IsExtendedResourceName); cpu, memory, hugepages-* and ephemeral-storage have no domain.
function requestsExtendedResource(container: unknown): boolean {
  const resources = record(record(container)?.resources);
  const names = [...Object.keys(record(resources?.limits) ?? {}), ...Object.keys(record(resources?.requests) ?? {})];
  return names.some((n) => n.includes('/') && !/^([a-z0-9.-]+\.)?kubernetes\.io\//.test(n));
}

function lifecycle(status: Loose | undefined): string {
  const states = [...array(status?.initContainerStatuses), ...array(status?.containerStatuses)].map((c) => {
    const s = record(c);
    return `${String(s?.name)}=${Object.keys(record(s?.state) ?? {}).join('')}`;
  });
  return `${String(status?.phase ?? '')}|${states.join(',')}`;
}

/** Whether a pod event may change which devices are held (add/delete: `before` or `after` undefined). */
export function podEventMatters(before: WatchedPod | undefined, after: WatchedPod | undefined): boolean {
  if (!(before?.mayHoldDevices || after?.mayHoldDevices)) return false;
  if (!before || !after) return true;
  return before.lifecycle !== after.lifecycle || before.uid !== after.uid || before.launcher?.vmiUid !== after.launcher?.vmiUid;
}
