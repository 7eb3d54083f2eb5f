// KubeVirt's own constraints on a migration target, so placement excludes (with the reason) a node
// KubeVirt would never schedule the target pod on, instead of choosing it and watching the target
// pod stay Pending. Restated from KubeVirt v1.9:
// - pkg/virt-controller/services/nodeselectorrenderer.go: every virt-launcher pod selects
//   `kubevirt.io/schedulable=true` (virt-handler labels its node so), `kubernetes.io/arch` when the
//   VMI names an architecture, then the KubeVirt CR's
//   `spec.configuration.developerConfiguration.nodeSelectors`; the VMI's own nodeSelector wins a key
//   collision with all of these.
// - pkg/virt-controller/watch/migration/migration.go (createTargetPod): the VMIM's
//   addedNodeSelector is merged under the pod's selectors (the VMI's win a collision); a host-model
//   CPU adds the source node's `host-model-cpu.node.kubevirt.io/<model>` as
//   `cpu-model-migration.node.kubevirt.io/<model>` and each `host-model-required-features...` as
//   `cpu-feature.node.kubevirt.io/<feature>` (prepareNodeSelectorForHostCpuModel), and the source's
//   `cpu-vendor.node.kubevirt.io/<vendor>` is required unless a vendor key is already selected.
//   Pod anti-affinity keeps the target off the source node.
// - The CR's `spec.workloads.nodePlacement` places virt-handler: a node outside it has none.
//   pkg/virt-operator/resource/placement/placement.go (InjectPlacementMetadata) adds
//   `kubernetes.io/os=linux` to its nodeSelector; the DaemonSet controller adds its own
//   tolerations to every daemon pod (DAEMONSET_TOLERATIONS).
// Pure: plain data in and out.
import type { NodeSelectorTerm, Toleration, Vmi } from './types.ts';

export const LABEL_SCHEDULABLE = 'kubevirt.io/schedulable';
export const LABEL_ARCH = 'kubernetes.io/arch';
export const HOST_MODEL_CPU_LABEL = 'host-model-cpu.node.kubevirt.io/';
export const HOST_MODEL_REQUIRED_FEATURES_LABEL = 'host-model-required-features.node.kubevirt.io/';
export const SUPPORTED_HOST_MODEL_MIGRATION_CPU = 'cpu-model-migration.node.kubevirt.io/';
export const CPU_FEATURE_LABEL = 'cpu-feature.node.kubevirt.io/';
export const CPU_VENDOR_LABEL = 'cpu-vendor.node.kubevirt.io/';
export const CPU_MODEL_HOST_MODEL = 'host-model';

export const LABEL_OS = 'kubernetes.io/os';

/**
 * Tolerations the DaemonSet controller adds to every daemon pod, virt-handler's included
 * (k8s pkg/controller/daemon/util/daemonset_util.go, AddOrUpdateDaemonPodTolerations; the
 * network-unavailable one only for host-network pods, which virt-handler is not).
 */
export const DAEMONSET_TOLERATIONS: readonly Toleration[] = [
  { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/pid-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
];

/** What the operator reads of the KubeVirt CR (absent when the cluster has none it can read). */
export interface KubevirtCluster {
  /** `spec.configuration.developerConfiguration.nodeSelectors`: every virt-launcher pod selects them. */
  nodeSelectors: Record<string, string>;
  /** `spec.workloads.nodePlacement`: where virt-handler runs. */
  workloadPlacement?: { nodeSelector: Record<string, string>; requiredTerms?: NodeSelectorTerm[]; tolerations: Toleration[] };
}

/** A node label KubeVirt's target pod selects, and why. */
export interface LabelRequirement {
  key: string;
  value: string;
  why: string;
}

export interface TargetRequirements {
  labels: LabelRequirement[];
  /** Set when no node can satisfy them (e.g. a host-model VMI on a node without a host-model label). */
  error?: string;
}

export function kubevirtTargetRequirements(vmi: Vmi, sourceNode: { name: string; labels: Readonly<Record<string, string>> } | undefined, cluster: KubevirtCluster | undefined): TargetRequirements {
  const own = vmi.spec.nodeSelector ?? {};
  const byKey = new Map<string, LabelRequirement>();
  const add = (key: string, value: string, why: string): void => {
    // The VMI's own selector wins a key collision; placement checks it separately.
    if (!Object.hasOwn(own, key)) byKey.set(key, { key, value, why });
  };
  add(LABEL_SCHEDULABLE, 'true', 'KubeVirt runs VMIs only where virt-handler is ready and labels the node so');
  if (vmi.spec.architecture) add(LABEL_ARCH, vmi.spec.architecture.toLowerCase(), `the VMI's spec.architecture is ${vmi.spec.architecture}`);
  for (const [key, value] of Object.entries(cluster?.nodeSelectors ?? {})) add(key, value, "the KubeVirt CR's spec.configuration.developerConfiguration.nodeSelectors");
  let error: string | undefined;
  const labels = sourceNode?.labels ?? {};
  if (vmi.spec.domain?.cpu?.model === CPU_MODEL_HOST_MODEL) {
    const hostModel = hostModelRequirements(labels);
    if (hostModel.length === 0) {
      error = `the VMI uses CPU model host-model, but its node ${sourceNode?.name ?? '(unknown)'} has no ${HOST_MODEL_CPU_LABEL}<model> label, so KubeVirt cannot select a target CPU (is virt-handler's node labeller running there?)`;
    }
    for (const r of hostModel) add(r.key, r.value, r.why);
  }
  const selected = [...Object.keys(own), ...byKey.keys()];
  if (!selected.some((k) => k.startsWith(CPU_VENDOR_LABEL))) {
    const vendor = Object.keys(labels).filter((k) => k.startsWith(CPU_VENDOR_LABEL)).sort()[0];
    if (vendor) add(vendor, 'true', `migrations stay within the source node's CPU vendor (${vendor.slice(CPU_VENDOR_LABEL.length)})`);
  }
  const out: TargetRequirements = { labels: [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)) };
  if (error) out.error = error;
  return out;
}

function hostModelRequirements(labels: Readonly<Record<string, string>>): LabelRequirement[] {
  const out: LabelRequirement[] = [];
  let model: string | undefined;
  for (const [key, value] of Object.entries(labels)) {
    if (key.startsWith(HOST_MODEL_CPU_LABEL)) {
      model = key.slice(HOST_MODEL_CPU_LABEL.length);
      out.push({ key: SUPPORTED_HOST_MODEL_MIGRATION_CPU + model, value, why: `the VMI's host-model CPU is ${model} on its source node` });
    } else if (key.startsWith(HOST_MODEL_REQUIRED_FEATURES_LABEL)) {
      const feature = key.slice(HOST_MODEL_REQUIRED_FEATURES_LABEL.length);
      out.push({ key: CPU_FEATURE_LABEL + feature, value, why: `the source's host-model CPU requires feature ${feature}` });
    }
  }
  return model === undefined ? [] : out;
}
