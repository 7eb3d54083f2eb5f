// Which device of this node a DRA claim device is. The kubelet names an allocated claim device by
// (driver, pool, device) only; the driver's ResourceSlice for the node lists that device with its
// attributes, and those carry the id the agent publishes under:
//  - `mdevUUID` (in the driver's domain, so also `<driver>/mdevUUID`): the attribute KubeVirt v1.9
//    reads to find a DRA vGPU's mdev (pkg/dra/metadata/types.go, MDevUUIDAttribute);
//  - `resource.kubernetes.io/pciBusID`: the standard PCI address attribute, which KubeVirt reads
//    for DRA PCI host devices (a vendor-VFIO VF).
// A device named by its own mdev UUID (a DNS label, so a valid DRA device name) is matched too.
// Nothing else is guessed: CDI device names are not used (see client.ts), and a device whose
// slice carries neither attribute stays unmapped, counted and logged. Pure.
import { isUuid } from '../../api/validation.ts';
import { canonicalDeviceId } from './device-id.ts';
import type { ClaimDevice } from './types.ts';

export const MDEV_UUID_ATTRIBUTE = 'mdevUUID';
export const PCI_BUS_ID_ATTRIBUTE = 'resource.kubernetes.io/pciBusID';

/** The part of a resource.k8s.io/v1 ResourceSlice the mapping reads. */
export type SliceDevices = {
  driver: string;
  pool: string;
  generation: number;
  /** Device name → canonical id from its attributes (absent when none names a device). */
  devices: ReadonlyMap<string, string | undefined>;
};

/** (driver, pool, device name) → canonical device id of this node. */
export type ClaimDeviceIds = ReadonlyMap<string, string>;

export function claimKey(driver: string, pool: string, device: string): string {
  return `${driver}\0${pool}\0${device}`;
}

type Loose = Record<string, unknown>;

function record(v: unknown): Loose | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Loose) : undefined;
}

function stringAttribute(attributes: Loose | undefined, name: string): string | undefined {
  const value = record(attributes?.[name])?.string;
  return typeof value === 'string' ? value : undefined;
}

/** A ResourceSlice reduced to its device ids, or undefined when it is not one (the informer skips it). */
export function parseResourceSlice(raw: unknown): SliceDevices | undefined {
  const spec = record(record(raw)?.spec);
  const pool = record(spec?.pool);
  if (typeof spec?.driver !== 'string' || typeof pool?.name !== 'string') return undefined;
  const driver = spec.driver;
  const devices = new Map<string, string | undefined>();
  for (const d of Array.isArray(spec.devices) ? spec.devices : []) {
    const device = record(d);
    if (typeof device?.name !== 'string') continue;
    const attributes = record(device.attributes);
    const named =
      stringAttribute(attributes, MDEV_UUID_ATTRIBUTE) ??
      stringAttribute(attributes, `${driver}/${MDEV_UUID_ATTRIBUTE}`) ??
      stringAttribute(attributes, PCI_BUS_ID_ATTRIBUTE);
    devices.set(device.name, named === undefined ? undefined : canonicalDeviceId(named));
  }
  const generation = typeof pool.generation === 'number' ? pool.generation : 0;
  return { driver, pool: pool.name, generation, devices };
}

/**
 * The id map of a node's slices. A pool may span several slices; only those of its highest
 * generation count, as the resource.k8s.io API tells consumers (older ones are being replaced).
 */
export function claimDeviceIds(slices: readonly SliceDevices[]): Map<string, string> {
  const newest = new Map<string, number>();
  for (const s of slices) {
    const key = claimKey(s.driver, s.pool, '');
    newest.set(key, Math.max(newest.get(key) ?? s.generation, s.generation));
  }
  const ids = new Map<string, string>();
  for (const s of slices) {
    if (s.generation !== newest.get(claimKey(s.driver, s.pool, ''))) continue;
    for (const [name, id] of s.devices) if (id !== undefined) ids.set(claimKey(s.driver, s.pool, name), id);
  }
  return ids;
}

/** The canonical id of a claim device on this node, or undefined when nothing names it. */
export function claimDeviceId(device: ClaimDevice, ids: ClaimDeviceIds): string | undefined {
  const named = ids.get(claimKey(device.driver, device.pool, device.device));
  if (named !== undefined) return named;
  const lower = device.device.toLowerCase();
  return isUuid(lower) ? lower : undefined;
}
