// The virt-launcher Pod of a VMI as KubeVirt's virt-controller would create it (labels, owner
// reference, device-plugin resource limits), plus the STAND-IN annotation that records which
// device ids the device plugin allocated on the node (what a real kubelet reports through its
// PodResources API). Pure builders: no I/O.
import { randomInt } from 'node:crypto';
import {
  ANNOTATION_DOMAIN,
  APP_VIRT_LAUNCHER,
  KUBEVIRT_API_VERSION,
  LABEL_APP,
  LABEL_CREATED_BY,
  LABEL_MIGRATION_JOB_UID,
  LABEL_VM_NAME,
  VMI_KIND,
} from '../../../src/kubevirt/types.ts';

/** Stand-in for the kubelet's device-plugin allocation: comma-separated device ids. */
export const ANNOTATION_ALLOCATED_DEVICES = 'sim.mdev-operator.io/allocated-devices';
/** On a migration target pod: the VMIM's name (api/core/v1 MigrationJobNameAnnotation). */
export const ANNOTATION_MIGRATION_JOB_NAME = 'kubevirt.io/migrationJobName';
/** Failure injection on a VMIM: the phase at which the simulated migration fails. */
export const ANNOTATION_FAIL_AT = 'sim.mdev-operator.io/fail-at';

export const LAUNCHER_CONTAINER = 'compute';
export const LAUNCHER_IMAGE = 'quay.io/kubevirt/virt-launcher:stand-in';

// Kubernetes' generateName alphabet (k8s.io/apiserver/pkg/storage/names): no vowels, no 0/1/3.
const SUFFIX_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** `virt-launcher-<vmi>-<5 random>`, as the pod's generateName would produce. */
export function launcherPodName(vmiName: string, random: () => number = () => randomInt(SUFFIX_ALPHABET.length)): string {
  let suffix = '';
  for (let i = 0; i < 5; i++) suffix += SUFFIX_ALPHABET[random() % SUFFIX_ALPHABET.length];
  return `virt-launcher-${vmiName}-${suffix}`;
}

export function formatAllocatedDevices(ids: readonly string[]): string {
  return ids.join(',');
}

/** The device ids a launcher pod's annotation lists; empty when absent. */
export function parseAllocatedDevices(annotations: Readonly<Record<string, string>> | undefined): string[] {
  const raw = annotations?.[ANNOTATION_ALLOCATED_DEVICES] ?? '';
  return raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

export interface LauncherPodInput {
  namespace: string;
  podName: string;
  /** The node for a pod created bound (a VMI's own pod); absent for a migration target the scheduler binds. */
  nodeName?: string;
  vmi: { name: string; uid: string };
  /** Device-plugin resource names the VMI requests (gpus[] and hostDevices[] deviceName), repeats counted. */
  resourceNames: readonly string[];
  allocatedDevices: readonly string[];
  /** Set on a migration target pod: the VMIM's uid and name. */
  migration?: { uid: string; name: string };
  /** The target pod's node selector, as KubeVirt renders it (see target-pod.ts). */
  nodeSelector?: Record<string, string>;
  /** The compute container's memory request (the VMI's guest memory; KubeVirt adds its overhead). */
  memory?: string;
}

/** Extended-resource limits: one unit per requested device, as virt-launcher's compute container asks. */
function deviceLimits(resourceNames: readonly string[]): Record<string, string> {
  const counts = new Map<string, number>();
  for (const r of resourceNames) counts.set(r, (counts.get(r) ?? 0) + 1);
  return Object.fromEntries([...counts].sort(([a], [b]) => a.localeCompare(b)).map(([r, n]) => [r, String(n)]));
}

export function buildLauncherPod(p: LauncherPodInput): Record<string, unknown> {
  const limits = deviceLimits(p.resourceNames);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: p.podName,
      namespace: p.namespace,
      labels: {
        [LABEL_APP]: APP_VIRT_LAUNCHER,
        [LABEL_CREATED_BY]: p.vmi.uid,
        [LABEL_VM_NAME]: p.vmi.name,
        ...(p.migration ? { [LABEL_MIGRATION_JOB_UID]: p.migration.uid } : {}),
      },
      annotations: {
        [ANNOTATION_DOMAIN]: p.vmi.name,
        [ANNOTATION_ALLOCATED_DEVICES]: formatAllocatedDevices(p.allocatedDevices),
        ...(p.migration ? { [ANNOTATION_MIGRATION_JOB_NAME]: p.migration.name } : {}),
      },
      ownerReferences: [
        { apiVersion: KUBEVIRT_API_VERSION, kind: VMI_KIND, name: p.vmi.name, uid: p.vmi.uid, controller: true, blockOwnerDeletion: true },
      ],
    },
    spec: {
      ...(p.nodeName ? { nodeName: p.nodeName } : {}),
      ...(p.nodeSelector ? { nodeSelector: p.nodeSelector } : {}),
      // KubeVirt keeps a migration target off the source node with pod anti-affinity on the VMI
      // (createMigrationPodAntiAffinityRule in pkg/virt-controller/watch/migration/migration.go).
      ...(p.migration
        ? { affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { [LABEL_CREATED_BY]: p.vmi.uid } }, topologyKey: 'kubernetes.io/hostname' }] } } }
        : {}),
      serviceAccountName: 'default',
      // KubeVirt's launcher pods do not mount the service-account token.
      automountServiceAccountToken: false,
      restartPolicy: 'Never',
      containers: [
        {
          name: LAUNCHER_CONTAINER,
          image: LAUNCHER_IMAGE,
          ...(Object.keys(limits).length > 0 || p.memory
            ? { resources: { ...(p.memory ? { requests: { memory: p.memory } } : {}), ...(Object.keys(limits).length > 0 ? { limits } : {}) } }
            : {}),
        },
      ],
    },
  };
}
