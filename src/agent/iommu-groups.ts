// The node's IOMMU group -> device table, from discovery. KubeVirt's mdev and PCI host-device
// plugins report a device by its group number (/dev/vfio/<N>), so without this table the devices
// they hand to VMIs would look free and the webhook would let their migrations through unchecked.
import type { IommuGroups } from './podresources/consumers.ts';
import type { DiscoveredDevice } from '../sysfs/inventory.ts';

/** Group number -> ids of the discovered devices in that group (devices without a group are left out). */
export function iommuGroupsOf(devices: readonly Pick<DiscoveredDevice, 'id' | 'iommuGroup'>[]): IommuGroups {
  const groups = new Map<string, string[]>();
  for (const { id, iommuGroup } of devices) {
    if (iommuGroup === undefined) continue;
    const members = groups.get(iommuGroup);
    if (members) members.push(id);
    else groups.set(iommuGroup, [id]);
  }
  return groups;
}
