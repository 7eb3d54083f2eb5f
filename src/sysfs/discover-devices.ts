// Device instances: mdevs under bus/mdev/devices (with their type, parent and mdevctl creation
// parameters) and vendor-VFIO VFs carrying a vGPU without mdev (NVIDIA's current_vgpu_type).
import path from 'node:path';
import { isPciAddress, isUuid } from '../api/validation.ts';
import type { ScannedParent } from './discover-parents.ts';
import { readIdentity } from './discover-parents.ts';
import type { DiscoveryScan } from './discovery-scan.ts';
import type { CreationParam, DiscoveredDevice } from './inventory.ts';
import { IOMMU_GROUP_LINK, MDEV_BUS_DEVICES, MIGRATION_VERSION, NVIDIA_VF_VGPU_TYPE, PCI_BUS_DEVICES, SUPPORTED_TYPES } from './layout.ts';
import { readMdevctlDefinition } from './mdevctl.ts';

export function scanMdevs(scan: DiscoveryScan, parents: Map<string, ScannedParent>): DiscoveredDevice[] {
  const devices: DiscoveredDevice[] = [];
  const busDir = path.join(scan.layout.sysRoot, MDEV_BUS_DEVICES);
  for (const uuid of scan.list(busDir)) {
    const entry = path.join(busDir, uuid);
    if (!isUuid(uuid)) {
      scan.warn(entry, 'name is not a canonical lowercase UUID');
      continue;
    }
    const device = scanMdev(scan, parents, uuid, entry);
    if (device) devices.push(device);
  }
  return devices;
}

function scanMdev(scan: DiscoveryScan, parents: Map<string, ScannedParent>, uuid: string, entry: string): DiscoveredDevice | undefined {
  const dir = scan.confined(entry);
  const typeDir = dir === undefined ? undefined : scan.confined(path.join(dir, 'mdev_type'));
  if (dir === undefined || typeDir === undefined) return undefined;
  const parentDir = path.dirname(path.dirname(typeDir));
  const parent = path.basename(path.dirname(typeDir)) === SUPPORTED_TYPES ? parents.get(parentDir) : undefined;
  const type = parent?.types.get(path.basename(typeDir));
  if (!parent || !type) {
    return void scan.warn(entry, `mdev_type leads to ${typeDir}, not a type of a parent listed under class/mdev_bus`);
  }
  const attrPath = scan.optional(path.join(dir, MIGRATION_VERSION)) ?? type.capacity.typeAttrPath;
  const device: DiscoveredDevice = {
    kind: 'mdev',
    id: uuid,
    // Copies: capacity entries hold the same identity, and callers may annotate what they get.
    parent: { ...parent.identity },
    type: { ...type.info },
    creationParams: readCreationParams(scan, parent.identity.address, uuid, type.info.id),
    sysfsPath: dir,
  };
  if (attrPath !== undefined) device.attrPath = attrPath;
  return withIommuGroup(scan, device, entry);
}

/**
 * Records the group number the `iommu_group` link names. The link must resolve inside the root
 * and end in a decimal number: the agent matches kubelet device ids against it, so a forged link
 * could otherwise mark another VMI's device as free or taken.
 */
function withIommuGroup(scan: DiscoveryScan, device: DiscoveredDevice, entry: string): DiscoveredDevice {
  const link = path.join(entry, IOMMU_GROUP_LINK);
  const real = scan.optional(path.join(device.sysfsPath, IOMMU_GROUP_LINK));
  if (real === undefined) return device;
  const group = path.basename(real);
  if (/^[0-9]{1,9}$/.test(group) && path.basename(path.dirname(real)) === 'iommu_groups') {
    device.iommuGroup = String(Number(group));
  } else {
    scan.warn(link, `leads to ${real}, not a kernel/iommu_groups/<number> directory; device kept without an IOMMU group`);
  }
  return device;
}

/** From `<mdevctlRoot>/<parent>/<uuid>`; both names were validated before forming the path. */
function readCreationParams(scan: DiscoveryScan, parent: string, uuid: string, typeId: string): CreationParam[] {
  if (scan.layout.mdevctlRoot === undefined) return [];
  const p = path.join(scan.layout.mdevctlRoot, parent, uuid);
  const text = scan.readMdevctl(p);
  if (text === undefined) return [];
  const def = readMdevctlDefinition(text);
  if (!def.ok) {
    scan.warn(p, `mdevctl definition ignored: ${def.reason}`);
    return [];
  }
  if (def.typeId !== undefined && def.typeId !== typeId) {
    scan.warn(p, `mdevctl definition is for type ${def.typeId} but the device is ${typeId}; creation parameters ignored`);
    return [];
  }
  return def.creationParams;
}

/** NVIDIA vendor-VFIO mode: a VF whose `nvidia/current_vgpu_type` is non-zero carries a vGPU. */
export function scanVendorVfs(scan: DiscoveryScan): DiscoveredDevice[] {
  const devices: DiscoveredDevice[] = [];
  const busDir = path.join(scan.layout.sysRoot, PCI_BUS_DEVICES);
  for (const bdf of scan.list(busDir)) {
    const entry = path.join(busDir, bdf);
    if (!isPciAddress(bdf)) {
      scan.warn(entry, 'name is not a PCI address');
      continue;
    }
    const dir = scan.confined(entry);
    const raw = dir === undefined ? undefined : scan.readOptional(path.join(dir, NVIDIA_VF_VGPU_TYPE));
    if (dir === undefined || raw === undefined) continue;
    const vgpuType = raw.trim();
    if (!/^\d{1,9}$/.test(vgpuType)) {
      scan.warn(path.join(entry, NVIDIA_VF_VGPU_TYPE), `expected a vGPU type number, found ${JSON.stringify(raw.slice(0, 32))}`);
      continue;
    }
    if (Number(vgpuType) !== 0) devices.push(withIommuGroup(scan, vendorVf(scan, bdf, dir, `nvidia-${Number(vgpuType)}`), entry));
  }
  return devices;
}

function vendorVf(scan: DiscoveryScan, bdf: string, dir: string, typeId: string): DiscoveredDevice {
  const device: DiscoveredDevice = {
    kind: 'vfio-pci',
    id: bdf,
    parent: readIdentity(scan, bdf, dir),
    type: { id: typeId, deviceApi: 'vfio-pci' },
    creationParams: [],
    sysfsPath: dir,
  };
  const attrPath = scan.optional(path.join(dir, MIGRATION_VERSION));
  if (attrPath !== undefined) device.attrPath = attrPath;
  return device;
}
