// STAND-IN fleet for the admission and CLI tests: Node objects, fresh agent Leases and published
// MdevDevices written directly (as the agents would), plus running VMIs from the KubeVirt stand-in.
// No agent process runs, so probe answers come from `standinProber` (a stand-in for the agents'
// drivers: every node accepts except those listed as rejecting).
import { randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import type { KubeConfig } from '../../../src/kube/kubeconfig.ts';
import { API_VERSION, deviceObjectName, LABEL_NODE, LABEL_TYPE } from '../../../src/api/v1alpha1/index.ts';
import { MDEV_DEVICES, MDEV_NODES, NODES } from '../../../src/controller/resources.ts';
import type { ProbeSender } from '../../../src/controller/decision.ts';
import { mergePatch } from '../../../src/kube/apply.ts';
import { isAlreadyExists, isNotFound } from '../../../src/kube/errors.ts';
import { agentLeaseName } from '../../../src/api/v1alpha1/names.ts';
import { toMicroTime } from '../../../src/kube/lease-store.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { resourcePath } from '../../../src/kube/resource.ts';
import { installKubevirtStandins } from '../../../dev/standins/kubevirt-crds.ts';
import { targetId } from '../../../src/placement/index.ts';
import { createRunningVmi } from '../../../dev/sim/kubevirt/vmi-factory.ts';
import { testKubeconfigPath } from '../../support/cluster.ts';

export const GPU_TYPE = 'nvidia-1012';
export const VERSION_550 = 'nv1;board=H100-PCIE-80GB;type=nvidia-1012;host=550.54.15;vgpu=0x12';
export const VERSION_535 = 'nv1;board=H100-PCIE-80GB;type=nvidia-1012;host=535.161.08;vgpu=0x11';
export const REJECT_REASON = 'EINVAL: host driver branch 535 is older than the source branch 550';

/** Installs the operator's CRDs and the KubeVirt stand-in CRDs (idempotent). */
export async function installCrds(kc: KubeConfig): Promise<void> {
  execFileSync('kubectl', ['--kubeconfig', testKubeconfigPath(), 'apply', '--server-side', '--force-conflicts', '-f', 'crds/'], { stdio: 'pipe' });
  await installKubevirtStandins(kc);
}

async function create(kc: KubeConfig, path: string, body: unknown): Promise<void> {
  try {
    await kubeRequest(kc, { method: 'POST', path, body });
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
  }
}

/**
 * A stand-in Node as a KubeVirt node with a running agent looks: hostname and virt-handler's
 * schedulable label, a fresh agent Lease, and the agent's MdevNode (where capacity claims go).
 */
export async function createNodeWithAgent(kc: KubeConfig, node: string, leaseNamespace: string, opts: { unschedulable?: boolean } = {}): Promise<void> {
  await create(kc, resourcePath(NODES), { apiVersion: 'v1', kind: 'Node', metadata: { name: node, labels: { 'kubernetes.io/hostname': node, 'kubevirt.io/schedulable': 'true' } }, spec: { unschedulable: opts.unschedulable ?? false } });
  await create(kc, `/apis/coordination.k8s.io/v1/namespaces/${leaseNamespace}/leases`, {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: agentLeaseName(node) },
    // Long duration: nothing renews it during the test.
    spec: { holderIdentity: node, leaseDurationSeconds: 3600, renewTime: toMicroTime(Date.now()) },
  });
  await create(kc, resourcePath(MDEV_NODES), { apiVersion: API_VERSION, kind: 'MdevNode', metadata: { name: node, labels: { [LABEL_NODE]: node } }, spec: { nodeName: node, backend: 'simulated' } });
}

export interface DeviceSpec {
  node: string;
  version: string;
  consumer?: { namespace: string; name: string; uid: string };
  parent?: string;
}

/** Publishes one MdevDevice (spec, then status through the subresource); returns its name. */
export async function publishDevice(kc: KubeConfig, d: DeviceSpec): Promise<string> {
  const id = randomUUID();
  const name = deviceObjectName(d.node, id);
  await kubeRequest(kc, {
    method: 'POST',
    path: resourcePath(MDEV_DEVICES),
    body: {
      apiVersion: API_VERSION,
      kind: 'MdevDevice',
      metadata: { name, labels: { [LABEL_NODE]: d.node, [LABEL_TYPE]: GPU_TYPE } },
      spec: { nodeName: d.node, id, kind: 'mdev', type: { id: GPU_TYPE, name: 'GRID H100-4C', deviceApi: 'vfio-pci' }, parent: { address: d.parent ?? '0000:41:00.4', vendorId: '10de', deviceId: '2331', driver: 'nvidia' } },
    },
  });
  const status = { migrationVersion: d.version, migratable: true, backend: 'simulated', ...(d.consumer ? { consumer: { kind: 'VirtualMachineInstance', ...d.consumer } } : {}) };
  await mergePatch(kc, MDEV_DEVICES, { name }, { status }, { subresource: 'status' });
  return name;
}

/**
 * Stand-in Nodes have no kubelet, so kube-controller-manager taints them not-ready/unreachable;
 * the VMIs tolerate that, or every node would be Excluded.
 */
export const STANDIN_NODE_TOLERATIONS = [
  { key: 'node.kubernetes.io/not-ready', operator: 'Exists' as const },
  { key: 'node.kubernetes.io/unreachable', operator: 'Exists' as const },
];

/** A Running stand-in VMI on `node` with one vGPU, and the MdevDevice it consumes. */
export async function gpuVmi(kc: KubeConfig, namespace: string, name: string, node: string, version = VERSION_550): Promise<{ uid: string; device: string }> {
  const { vmi } = await createRunningVmi(kc, { namespace, name, nodeName: node, gpus: [{ name: 'gpu1', deviceName: 'nvidia.com/NVIDIA_H100-4C' }], tolerations: STANDIN_NODE_TOLERATIONS });
  const device = await publishDevice(kc, { node, version, consumer: { namespace, name, uid: vmi.metadata.uid } });
  return { uid: vmi.metadata.uid, device };
}

export async function deleteQuietly(kc: KubeConfig, path: string): Promise<void> {
  await kubeRequest(kc, { method: 'DELETE', path }).catch((err: unknown) => {
    if (!isNotFound(err)) throw err;
  });
}

/** STAND-IN for the agents' probe answers: nodes in `rejecting` refuse every source string. */
export function standinProber(rejecting: ReadonlySet<string>): ProbeSender & { requests: number } {
  const sender = {
    requests: 0,
    async run(requests: readonly Parameters<ProbeSender['run']>[0][number][]) {
      sender.requests += requests.length;
      return {
        answers: requests.map((request) => ({
          request,
          results: request.targets.map((t) => (rejecting.has(t.nodeName) ? { target: targetId(t), accepted: false, reason: REJECT_REASON } : { target: targetId(t), accepted: true })),
        })),
        timedOut: [],
        sent: requests.length,
      };
    },
  };
  return sender;
}
