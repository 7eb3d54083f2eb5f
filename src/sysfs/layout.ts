// Where the kernel's sysfs entries and mdevctl's definitions live. In production the agent sees
// the host's /sys at /host/sys and /etc/mdevctl.d at /host/etc/mdevctl.d, so the two roots are
// configured separately.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { isParentName, isUuid } from '../api/validation.ts';

export interface SysfsLayout {
  /** The directory holding `class/`, `bus/` and `devices/` (the host's /sys). */
  sysRoot: string;
  /** The directory holding `<parent>/<uuid>` mdevctl definitions (the host's /etc/mdevctl.d). */
  mdevctlRoot?: string;
}

/**
 * Accepts either a sysfs root itself (`/host/sys`) or a root that has `sys/` below it (a fake
 * tree, like mdevctl's MDEVCTL_ENV_ROOT), in which case `etc/mdevctl.d` is taken from there too.
 */
export function layoutForRoot(root: string, mdevctlRoot?: string): SysfsLayout {
  const abs = path.resolve(root);
  if (!existsSync(path.join(abs, 'class')) && existsSync(path.join(abs, 'sys', 'class'))) {
    return { sysRoot: path.join(abs, 'sys'), mdevctlRoot: mdevctlRoot ?? path.join(abs, 'etc', 'mdevctl.d') };
  }
  return mdevctlRoot === undefined ? { sysRoot: abs } : { sysRoot: abs, mdevctlRoot };
}

export const MDEV_BUS_CLASS = path.join('class', 'mdev_bus');
export const MDEV_BUS_DEVICES = path.join('bus', 'mdev', 'devices');
export const PCI_BUS_DEVICES = path.join('bus', 'pci', 'devices');
export const SUPPORTED_TYPES = 'mdev_supported_types';
export const MIGRATION_VERSION = 'migration_version';
/** NVIDIA's per-VF vGPU selector in vendor-VFIO mode; "0" means no vGPU type is set. */
export const NVIDIA_VF_VGPU_TYPE = path.join('nvidia', 'current_vgpu_type');
/** A device's link to its IOMMU group, `../../kernel/iommu_groups/<N>` (what /dev/vfio/<N> opens). */
export const IOMMU_GROUP_LINK = 'iommu_group';
export const IOMMU_GROUPS_DIR = path.join('kernel', 'iommu_groups');

/**
 * The bus path of an mdev, for code that starts from an id (a probe, a create request) rather
 * than a listing. Throws on anything but a canonical UUID, so an id like `../../../etc` never
 * becomes a path.
 */
export function mdevBusPath(layout: SysfsLayout, uuid: string): string {
  if (!isUuid(uuid)) throw new Error(`mdev id ${JSON.stringify(uuid)} is not a canonical lowercase UUID; refusing to use it in a path`);
  return path.join(layout.sysRoot, MDEV_BUS_DEVICES, uuid);
}

/** Where mdevctl keeps a device's definition; both names must be valid. */
export function mdevctlDefinitionPath(layout: SysfsLayout, parent: string, uuid: string): string {
  if (layout.mdevctlRoot === undefined) throw new Error('no mdevctl root is configured');
  if (!isParentName(parent)) throw new Error(`parent ${JSON.stringify(parent)} is not a PCI address or device name; refusing to use it in a path`);
  if (!isUuid(uuid)) throw new Error(`mdev id ${JSON.stringify(uuid)} is not a canonical lowercase UUID; refusing to use it in a path`);
  return path.join(layout.mdevctlRoot, parent, uuid);
}
