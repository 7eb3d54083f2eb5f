// Plain data shared by the PodResources client (which produces it), the consumer mapping (which
// reads it) and the fake kubelet. No I/O here.

/** One container's devices of one device-plugin resource, flattened from a kubelet PodResources answer. */
export type PodDevices = {
  namespace: string;
  pod: string;
  container: string;
  /** The extended resource the device plugin registered, e.g. `nvidia.com/GRID_T4-1Q`. */
  resourceName: string;
  /** The ids exactly as the device plugin advertised them (mdev UUID, PCI address, IOMMU group...). */
  deviceIds: string[];
};

/** One DRA device a container's ResourceClaim was allocated (PodResources `dynamic_resources`). */
export type ClaimDevice = {
  namespace: string;
  pod: string;
  container: string;
  claim: { namespace: string; name: string };
  /** (driver, pool, device) names the device uniquely, as in the driver's ResourceSlice. */
  driver: string;
  pool: string;
  device: string;
};

/** What the kubelet reports one container holds: device-plugin devices or a DRA claim's device. */
export type PodResourceEntry = PodDevices | ClaimDevice;

export function isClaimDevice(entry: PodResourceEntry): entry is ClaimDevice {
  return 'claim' in entry;
}

/** What the agent learned from the API about one virt-launcher pod on its node. */
export type LauncherPod = {
  namespace: string;
  podName: string;
  vmiName: string;
  vmiUid: string;
};

/** A pod bound to the agent's node, as far as consumers go; `launcher` when it runs a VMI. */
export type NodePod = {
  namespace: string;
  name: string;
  uid: string;
  launcher?: LauncherPod;
};

/**
 * `status.consumer` of an MdevDevice: the VMI whose virt-launcher pod holds the device, or the
 * pod itself when it runs no VMI (such a device is in use all the same and never a target).
 */
export type DeviceConsumer = {
  kind: 'VirtualMachineInstance' | 'Pod';
  namespace: string;
  name: string;
  uid: string;
};
