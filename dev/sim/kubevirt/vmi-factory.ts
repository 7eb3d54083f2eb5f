// STAND-IN for starting a VM under KubeVirt: creates a VirtualMachineInstance that is already
// Running on a node, with the virt-launcher Pod KubeVirt would have created for it (same labels,
// owner reference and device-plugin limits, plus the allocated-devices annotation a fake kubelet
// or the fleet reads). For tests, the demo and benchmarks on the local control plane.
import type { KubeConfig } from '../../../src/kube/kubeconfig.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { resourcePath } from '../../../src/kube/resource.ts';
import { patchVmiStatus } from '../../../src/kubevirt/client.ts';
import {
  CONDITION_LIVE_MIGRATABLE,
  CONDITION_READY,
  KUBEVIRT_API_VERSION,
  LABEL_NODE_NAME,
  parseVmi,
  VMI_KIND,
  VMI_RESOURCE,
  type DeviceRequest,
  type NodeSelectorTerm,
  type Toleration,
  type Vmi,
} from '../../../src/kubevirt/types.ts';
import { isNotFound } from '../../../src/kube/errors.ts';
import { createPod, deletePod, ensureDefaultServiceAccount, listLauncherPods, markPodRunning } from './core-objects.ts';
import { buildLauncherPod, launcherPodName } from './launcher-pod.ts';

export interface RunningVmiSpec {
  namespace: string;
  name: string;
  nodeName: string;
  /** `spec.domain.devices.gpus[]`, e.g. `{name: 'gpu1', deviceName: 'nvidia.com/NVIDIA_H100-4C'}`. */
  gpus?: DeviceRequest[];
  hostDevices?: DeviceRequest[];
  /** Device ids the device plugin allocated to the launcher pod (the annotation's content). */
  deviceIds?: string[];
  nodeSelector?: Record<string, string>;
  requiredNodeTerms?: NodeSelectorTerm[];
  tolerations?: Toleration[];
  labels?: Record<string, string>;
  /** Default true; false sets the LiveMigratable condition to False (KubeVirt then refuses migrations). */
  liveMigratable?: boolean;
  /** `spec.resourceClaims[]` the DRA entries of gpus/hostDevices name by `claimName` (GPUsWithDRA). */
  resourceClaims?: { name: string; resourceClaimName: string }[];
}

export interface RunningVmi {
  vmi: Vmi;
  podName: string;
}

/** The VMI object to create (spec only; status is written through the status subresource). */
export function buildVmi(s: RunningVmiSpec): Record<string, unknown> {
  const devices: Record<string, unknown> = {
    disks: [],
    ...(s.gpus?.length ? { gpus: s.gpus } : {}),
    ...(s.hostDevices?.length ? { hostDevices: s.hostDevices } : {}),
  };
  return {
    apiVersion: KUBEVIRT_API_VERSION,
    kind: VMI_KIND,
    metadata: { name: s.name, namespace: s.namespace, labels: { ...s.labels, [LABEL_NODE_NAME]: s.nodeName } },
    spec: {
      domain: { devices, resources: { requests: { memory: '1Gi' } } },
      ...(s.nodeSelector ? { nodeSelector: s.nodeSelector } : {}),
      ...(s.requiredNodeTerms ? { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: s.requiredNodeTerms } } } } : {}),
      ...(s.tolerations ? { tolerations: s.tolerations } : {}),
      ...(s.resourceClaims ? { resourceClaims: s.resourceClaims } : {}),
    },
  };
}

function runningStatus(s: RunningVmiSpec): Record<string, unknown> {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const migratable = s.liveMigratable !== false;
  return {
    phase: 'Running',
    nodeName: s.nodeName,
    migrationMethod: 'BlockMigration',
    conditions: [
      { type: CONDITION_READY, status: 'True', lastProbeTime: null, lastTransitionTime: now },
      migratable
        ? { type: CONDITION_LIVE_MIGRATABLE, status: 'True', lastProbeTime: null, lastTransitionTime: null }
        : // What virt-handler reports for a VMI with more than one GPU (pkg/virt-handler/vm.go).
          { type: CONDITION_LIVE_MIGRATABLE, status: 'False', reason: 'HostDeviceNotLiveMigratable', message: 'VMI specifies too many GPUs', lastProbeTime: null, lastTransitionTime: null },
    ],
  };
}

/**
 * Creates the VMI, reports it Running on `nodeName`, and creates its Running virt-launcher pod.
 * The namespace must exist; its default ServiceAccount is waited for (or created) first.
 */
export async function createRunningVmi(kc: KubeConfig, s: RunningVmiSpec): Promise<RunningVmi> {
  await ensureDefaultServiceAccount(kc, s.namespace);
  const created = parseVmi(await kubeRequest(kc, { method: 'POST', path: resourcePath(VMI_RESOURCE, { namespace: s.namespace }), body: buildVmi(s) }));
  if (!created) throw new Error(`The API server returned a malformed VirtualMachineInstance ${s.namespace}/${s.name}: check the KubeVirt CRDs`);
  const podName = launcherPodName(s.name);
  await createPod(kc, buildLauncherPod({
    namespace: s.namespace,
    podName,
    nodeName: s.nodeName,
    vmi: { name: s.name, uid: created.metadata.uid },
    resourceNames: [...(s.gpus ?? []), ...(s.hostDevices ?? [])].flatMap((d) => (d.deviceName ? [d.deviceName] : [])),
    allocatedDevices: s.deviceIds ?? [],
  }), s.namespace);
  await markPodRunning(kc, s.namespace, podName);
  const vmi = await patchVmiStatus(kc, { namespace: s.namespace, name: s.name }, runningStatus(s));
  if (!vmi) throw new Error(`VirtualMachineInstance ${s.namespace}/${s.name} became malformed after its status update: check the KubeVirt CRDs`);
  return { vmi, podName };
}

/**
 * Deletes a VMI and its launcher pods at once. Without a kubelet a graceful pod deletion never
 * completes (pods bound to a node stay Terminating), so the pods go first with grace period 0.
 */
export async function deleteRunningVmi(kc: KubeConfig, namespace: string, name: string): Promise<void> {
  try {
    const vmi = parseVmi(await kubeRequest(kc, { method: 'GET', path: resourcePath(VMI_RESOURCE, { namespace, name }) }));
    if (vmi) for (const p of await listLauncherPods(kc, { namespace, vmiUid: vmi.metadata.uid })) await deletePod(kc, namespace, p.metadata.name);
    await kubeRequest(kc, { method: 'DELETE', path: resourcePath(VMI_RESOURCE, { namespace, name }) });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}
