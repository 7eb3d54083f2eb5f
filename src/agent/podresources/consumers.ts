// Who holds which device: joins the kubelet's PodResources answer (pod namespace/name -> device
// ids and DRA claim devices) with the pods the agent read from the API for its node (pod -> uid,
// and the VMI when it is a virt-launcher pod). Pure.
//
// Device-plugin ids are what each plugin advertised, and plugins differ:
//  - an mdev UUID (NVIDIA's kubevirt-gpu-device-plugin for mdev vGPUs);
//  - a PCI address (plugins that hand out VFs by address, e.g. the SR-IOV device plugin);
//  - an IOMMU group number (KubeVirt's built-in mdev and PCI host-device plugins, and NVIDIA's
//    plugin for passthrough and vendor-VFIO VFs, advertise the device's /dev/vfio/<group>).
// UUIDs and PCI addresses are matched case-insensitively (sysfs prints lowercase; a plugin may
// not). IOMMU group numbers are only resolvable with the node's group -> device table, which
// discovery reads from each device's `iommu_group` link. No other form is guessed at: a prefixed
// id such as `pci-0000:81:00.1` is left unmatched, because no plugin we know of reports one and
// stripping unknown prefixes could attribute a device to the wrong VMI. DRA claim devices are
// resolved through the node's ResourceSlices (claim-devices.ts).
import { claimDeviceId, type ClaimDeviceIds } from './claim-devices.ts';
import { canonicalDeviceId } from './device-id.ts';
import { isClaimDevice, type ClaimDevice, type DeviceConsumer, type LauncherPod, type NodePod, type PodResourceEntry } from './types.ts';
import { ANNOTATION_DOMAIN, APP_VIRT_LAUNCHER, LABEL_APP, LABEL_CREATED_BY, LABEL_VM_NAME } from '../../kubevirt/types.ts';

export { canonicalDeviceId } from './device-id.ts';

/** IOMMU group number (as named under /sys/kernel/iommu_groups) -> ids of this node's devices in it. */
export type IommuGroups = ReadonlyMap<string, readonly string[]>;

/**
 * A device held by a pod the agent's pod cache does not know (not yet seen, or already deleted
 * while the kubelet still runs it): it is in use, but by whom is unknown for now.
 */
export type UnresolvedDevice = { deviceId: string; namespace: string; pod: string };

/** A device two different consumers claim; the first (in kubelet order) is kept in `consumers`. */
export type ConsumerConflict = { deviceId: string; kept: DeviceConsumer; dropped: DeviceConsumer };

export type ConsumerMapping = {
  /** Keyed by the canonical (lowercase) device id; look up with `consumerOf`. */
  consumers: Map<string, DeviceConsumer>;
  unresolved: UnresolvedDevice[];
  /** DRA claim devices that no ResourceSlice attribute (or UUID name) maps to a device id. */
  unmappedClaims: ClaimDevice[];
  conflicts: ConsumerConflict[];
};

/** The consumer of a device by its id, in any letter case. */
export function consumerOf(consumers: ReadonlyMap<string, DeviceConsumer>, deviceId: string): DeviceConsumer | undefined {
  const id = canonicalDeviceId(deviceId);
  return id === undefined ? undefined : consumers.get(id);
}

/**
 * Joins PodResources with the node's pods: a device held by a virt-launcher pod is the VMI's, one
 * held by any other known pod is that pod's (kind Pod). `iommuGroups` resolves group-number ids,
 * `claimIds` DRA claim devices.
 */
export function mapDeviceConsumers(
  entries: readonly PodResourceEntry[],
  pods: readonly NodePod[],
  iommuGroups: IommuGroups = new Map(),
  claimIds: ClaimDeviceIds = new Map(),
): ConsumerMapping {
  const byPod = indexPods(pods);
  const result: ConsumerMapping = { consumers: new Map(), unresolved: [], unmappedClaims: [], conflicts: [] };
  for (const entry of entries) {
    const pod = byPod.get(podKey(entry.namespace, entry.pod));
    for (const deviceId of deviceIdsOf(entry, iommuGroups, claimIds, result)) {
      if (pod) claim(result, deviceId, consumerFor(pod));
      else result.unresolved.push({ deviceId, namespace: entry.namespace, pod: entry.pod });
    }
  }
  return result;
}

function deviceIdsOf(entry: PodResourceEntry, iommuGroups: IommuGroups, claimIds: ClaimDeviceIds, result: ConsumerMapping): string[] {
  if (!isClaimDevice(entry)) return entry.deviceIds.flatMap((id) => resolveDeviceId(id, iommuGroups));
  const id = claimDeviceId(entry, claimIds);
  if (id === undefined) result.unmappedClaims.push(entry);
  return id === undefined ? [] : [id];
}

function claim(result: ConsumerMapping, deviceId: string, consumer: DeviceConsumer): void {
  const existing = result.consumers.get(deviceId);
  if (!existing) {
    result.consumers.set(deviceId, consumer);
  } else if (existing.uid !== consumer.uid) {
    result.conflicts.push({ deviceId, kept: existing, dropped: consumer });
  }
}

function resolveDeviceId(reported: string, iommuGroups: IommuGroups): string[] {
  const direct = canonicalDeviceId(reported);
  if (direct !== undefined) return [direct];
  // A group holds every function that cannot be isolated from the device, so all are in use.
  const members = /^[0-9]+$/.test(reported) ? iommuGroups.get(reported) : undefined;
  return (members ?? []).flatMap((id) => canonicalDeviceId(id) ?? []);
}

function indexPods(pods: readonly NodePod[]): Map<string, NodePod> {
  const byPod = new Map<string, NodePod>();
  for (const pod of pods) {
    const key = podKey(pod.namespace, pod.name);
    if (!byPod.has(key)) byPod.set(key, pod);
  }
  return byPod;
}

function podKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function consumerFor(pod: NodePod): DeviceConsumer {
  const l = pod.launcher;
  return l
    ? { kind: 'VirtualMachineInstance', namespace: l.namespace, name: l.vmiName, uid: l.vmiUid }
    : { kind: 'Pod', namespace: pod.namespace, name: pod.name, uid: pod.uid };
}

/** The parts of a Pod's metadata `launcherFromPod` reads (plain data, as the API returns it). */
export type PodMeta = {
  namespace: string;
  name: string;
  labels?: Readonly<Record<string, string>>;
  annotations?: Readonly<Record<string, string>>;
  ownerReferences?: readonly { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
};

/**
 * The VMI a virt-launcher pod runs, or undefined for any other pod. Sources, most reliable first:
 * the controller owner reference KubeVirt sets to the VMI; then the `kubevirt.io/created-by`
 * label (VMI uid) with the `kubevirt.io/domain` annotation (VMI name). The `vm.kubevirt.io/name`
 * label is the last resort only: KubeVirt sets it to the VMI's sanitized *hostname*, which
 * differs from the VMI name when `spec.hostname` is set or the name is longer than 63 characters.
 */
export function launcherFromPod(pod: PodMeta): LauncherPod | undefined {
  const base = { namespace: pod.namespace, podName: pod.name };
  const owner = pod.ownerReferences?.find(
    (ref) => ref.controller === true && ref.kind === 'VirtualMachineInstance' && ref.apiVersion.startsWith('kubevirt.io/'),
  );
  if (owner && owner.name && owner.uid) return { ...base, vmiName: owner.name, vmiUid: owner.uid };
  if (pod.labels?.[LABEL_APP] !== APP_VIRT_LAUNCHER) return undefined;
  const vmiUid = pod.labels[LABEL_CREATED_BY];
  const vmiName = pod.annotations?.[ANNOTATION_DOMAIN] ?? pod.labels[LABEL_VM_NAME];
  return vmiUid && vmiName ? { ...base, vmiName, vmiUid } : undefined;
}
