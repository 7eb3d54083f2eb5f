// What discovery finds on a node, as plain data. The agent runtime turns these into MdevDevice
// objects; nothing here knows about Kubernetes.

export type DeviceKind = 'mdev' | 'vfio-pci';

/** One mdevctl `attrs` entry; order matters and keys may repeat, so this is a list, not a map. */
export interface CreationParam {
  key: string;
  value: string;
}

export interface ParentIdentity {
  /** PCI address (`0000:41:00.4`) or class-device name (`mtty`), as listed under class/mdev_bus. */
  address: string;
  /** Four lowercase hex digits without `0x` (`10de`), when the parent is a PCI device. */
  vendorId?: string;
  deviceId?: string;
  /** Basename of the parent's `driver` link (`nvidia`, `i915`). */
  driver?: string;
}

export interface MdevTypeInfo {
  /** Type directory name (`nvidia-1012`, `i915-GVTg_V5_4`). */
  id: string;
  name?: string;
  /** Multi-line descriptions are joined with ", " as mdevctl does. */
  description?: string;
  deviceApi?: string;
}

export interface DiscoveredDevice {
  kind: DeviceKind;
  /** mdev UUID, or the PCI address of a vendor-VFIO VF. */
  id: string;
  parent: ParentIdentity;
  type: MdevTypeInfo;
  creationParams: CreationParam[];
  /** Verified absolute path of the `migration_version` attribute to read and test; absent = not migratable. */
  attrPath?: string;
  /** Verified (real) absolute path of the device directory. */
  sysfsPath: string;
  /**
   * IOMMU group number from the device's `iommu_group` link; absent when the device has none.
   * KubeVirt's device plugins report this number, not the UUID, as the device id.
   */
  iommuGroup?: string;
}

/** Spare capacity of one type on one parent: what `allowCreateTarget` may use. */
export interface TypeCapacity {
  parent: ParentIdentity;
  type: MdevTypeInfo;
  availableInstances: number;
  /** Verified path of the type-level `migration_version`, for testing before creating a device. */
  typeAttrPath?: string;
  /** Verified path of the type's `create` attribute. */
  createPath?: string;
}

export interface DiscoveredInventory {
  devices: DiscoveredDevice[];
  capacity: TypeCapacity[];
  /** One line per skipped entry, each naming the path and why it was skipped. */
  warnings: string[];
}
