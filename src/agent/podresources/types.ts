// Plain data shared by the PodResources client (which produces it), the consumer mapping (which
// reads it) and the fake kubelet. No I/O here.

/** One container's devices of one resource, flattened from a kubelet PodResources answer. */
export type PodDevices = {
  namespace: string;
  pod: string;
  container: string;
  /** The extended resource the device plugin registered, e.g. `nvidia.com/GRID_T4-1Q`. */
  resourceName: string;
  /** The ids exactly as the device plugin advertised them (mdev UUID, PCI address, IOMMU group...). */
  deviceIds: string[];
};

/** What the agent learned from the API about one virt-launcher pod on its node. */
export type LauncherPod = {
  namespace: string;
  podName: string;
  vmiName: string;
  vmiUid: string;
};

/** `status.consumer` of an MdevDevice. */
export type DeviceConsumer = {
  kind: 'VirtualMachineInstance';
  namespace: string;
  name: string;
  uid: string;
};
