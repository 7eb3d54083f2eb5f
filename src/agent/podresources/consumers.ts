// Which VMI holds which device: joins the kubelet's PodResources answer (pod namespace/name ->
// device ids) with the virt-launcher pods the agent read from the API (pod -> VMI). Pure.
//
// Device ids are what each device plugin advertised, and plugins differ:
//  - an mdev UUID (NVIDIA's kubevirt-gpu-device-plugin for mdev vGPUs);
//  - a PCI address (plugins that hand out VFs by address, e.g. the SR-IOV device plugin);
//  - an IOMMU group number (KubeVirt's built-in mdev and PCI host-device plugins, and NVIDIA's
//    plugin for passthrough and vendor-VFIO VFs, advertise the device's /dev/vfio/<group>).
// UUIDs and PCI addresses are matched case-insensitively (sysfs prints lowercase; a plugin may
// not). IOMMU group numbers are only resolvable with the node's group -> device table, which
// discovery reads from each device's `iommu_group` link. No other form is guessed at: a prefixed
// id such as `pci-0000:81:00.1` is left unmatched, because no plugin we know of reports one and
// stripping unknown prefixes could attribute a device to the wrong VMI.
import { isPciAddress, isUuid } from '../../api/validation.ts';
import type { DeviceConsumer, LauncherPod, PodDevices } from './types.ts';
import { ANNOTATION_DOMAIN, APP_VIRT_LAUNCHER, LABEL_APP, LABEL_CREATED_BY, LABEL_VM_NAME } from '../../kubevirt/types.ts';

/** IOMMU group number (as named under /sys/kernel/iommu_groups) -> ids of this node's devices in it. */
export type IommuGroups = ReadonlyMap<string, readonly string[]>;

/** A device held by a pod that is not a known virt-launcher pod (not a VMI, or not yet in the cache). */
export type UnattributedDevice = { deviceId: string; namespace: string; pod: string };

/** A device two different VMIs claim; the first (in kubelet order) is kept in `consumers`. */
export type ConsumerConflict = { deviceId: string; kept: DeviceConsumer; dropped: DeviceConsumer };

export type ConsumerMapping = {
  /** Keyed by the canonical (lowercase) device id; look up with `consumerOf`. */
  consumers: Map<string, DeviceConsumer>;
  unattributed: UnattributedDevice[];
  conflicts: ConsumerConflict[];
};

/** The canonical form of a UUID or PCI-address device id, or undefined for any other id. */
export function canonicalDeviceId(id: string): string | undefined {
  const lower = id.toLowerCase();
  return isUuid(lower) || isPciAddress(lower) ? lower : undefined;
}

/** The consumer of a device by its id, in any letter case. */
export function consumerOf(consumers: ReadonlyMap<string, DeviceConsumer>, deviceId: string): DeviceConsumer | undefined {
  const id = canonicalDeviceId(deviceId);
  return id === undefined ? undefined : consumers.get(id);
}

/** Joins PodResources with the virt-launcher lookup; `iommuGroups` resolves group-number ids. */
export function mapDeviceConsumers(
  podDevices: readonly PodDevices[],
  launchers: readonly LauncherPod[],
  iommuGroups: IommuGroups = new Map(),
): ConsumerMapping {
  const byPod = indexLaunchers(launchers);
  const result: ConsumerMapping = { consumers: new Map(), unattributed: [], conflicts: [] };
  for (const entry of podDevices) {
    const launcher = byPod.get(podKey(entry.namespace, entry.pod));
    for (const deviceId of entry.deviceIds.flatMap((id) => resolveDeviceId(id, iommuGroups))) {
      if (launcher) claim(result, deviceId, consumerFor(launcher));
      else result.unattributed.push({ deviceId, namespace: entry.namespace, pod: entry.pod });
    }
  }
  return result;
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

function indexLaunchers(launchers: readonly LauncherPod[]): Map<string, LauncherPod> {
  const byPod = new Map<string, LauncherPod>();
  for (const launcher of launchers) {
    const key = podKey(launcher.namespace, launcher.podName);
    if (!byPod.has(key)) byPod.set(key, launcher);
  }
  return byPod;
}

function podKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function consumerFor(launcher: LauncherPod): DeviceConsumer {
  return { kind: 'VirtualMachineInstance', namespace: launcher.namespace, name: launcher.vmiName, uid: launcher.vmiUid };
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
