// Parents (class/mdev_bus/<parent>) with their PCI identity and supported types.
import { readlinkSync } from 'node:fs';
import path from 'node:path';
import { isParentName, isTypeId } from '../api/validation.ts';
import type { DiscoveryScan } from './discovery-scan.ts';
import type { MdevTypeInfo, ParentIdentity, TypeCapacity } from './inventory.ts';
import { MDEV_BUS_CLASS, MIGRATION_VERSION, SUPPORTED_TYPES } from './layout.ts';

export interface ScannedType {
  info: MdevTypeInfo;
  capacity: TypeCapacity;
}

export interface ScannedParent {
  identity: ParentIdentity;
  types: Map<string, ScannedType>;
}

/** Parents keyed by their real directory, which is where an mdev's `mdev_type` link leads. */
export function scanParents(scan: DiscoveryScan): Map<string, ScannedParent> {
  const parents = new Map<string, ScannedParent>();
  const classDir = path.join(scan.layout.sysRoot, MDEV_BUS_CLASS);
  for (const name of scan.list(classDir)) {
    const entry = path.join(classDir, name);
    if (!isParentName(name)) {
      scan.warn(entry, 'name is not a PCI address or device name');
      continue;
    }
    const dir = scan.confined(entry);
    if (dir === undefined) continue;
    const identity = readIdentity(scan, name, dir);
    parents.set(dir, { identity, types: scanTypes(scan, identity, dir) });
  }
  return parents;
}

/** PCI `vendor`/`device` ("0x10de\n") and the `driver` link's basename; all optional. */
export function readIdentity(scan: DiscoveryScan, address: string, dir: string): ParentIdentity {
  const identity: ParentIdentity = { address };
  const vendorId = readPciId(scan, path.join(dir, 'vendor'));
  const deviceId = readPciId(scan, path.join(dir, 'device'));
  const driver = readDriverName(scan, path.join(dir, 'driver'));
  if (vendorId) identity.vendorId = vendorId;
  if (deviceId) identity.deviceId = deviceId;
  if (driver) identity.driver = driver;
  return identity;
}

function readPciId(scan: DiscoveryScan, p: string): string | undefined {
  const raw = scan.readOptional(p);
  if (raw === undefined) return undefined;
  const m = /^0x([0-9a-fA-F]{4})$/.exec(raw.trim());
  if (!m?.[1]) return void scan.warn(p, `expected a 16-bit hex id like 0x10de, found ${JSON.stringify(raw.slice(0, 32))}`);
  return m[1].toLowerCase();
}

function readDriverName(scan: DiscoveryScan, p: string): string | undefined {
  let target: string;
  try {
    target = readlinkSync(p);
  } catch {
    return undefined; // no driver bound (or not a link): the field is optional
  }
  const name = path.basename(target);
  if (isParentName(name)) return name;
  return void scan.warn(p, `driver link name ${JSON.stringify(name.slice(0, 64))} is not a valid name`);
}

function scanTypes(scan: DiscoveryScan, parent: ParentIdentity, parentDir: string): Map<string, ScannedType> {
  const types = new Map<string, ScannedType>();
  const typesDir = path.join(parentDir, SUPPORTED_TYPES);
  for (const typeId of scan.list(typesDir)) {
    const entry = path.join(typesDir, typeId);
    if (!isTypeId(typeId)) {
      scan.warn(entry, 'name is not a valid mdev type id');
      continue;
    }
    const dir = scan.confined(entry);
    if (dir !== undefined) types.set(typeId, scanType(scan, parent, typeId, dir));
  }
  return types;
}

function scanType(scan: DiscoveryScan, parent: ParentIdentity, typeId: string, dir: string): ScannedType {
  const info: MdevTypeInfo = { id: typeId };
  const name = scan.readOptional(path.join(dir, 'name'));
  const description = scan.readOptional(path.join(dir, 'description'));
  const deviceApi = scan.readOptional(path.join(dir, 'device_api'));
  if (name !== undefined) info.name = name;
  if (description !== undefined) info.description = description.split('\n').filter((l) => l !== '').join(', ');
  if (deviceApi !== undefined) info.deviceApi = deviceApi;
  const capacity: TypeCapacity = { parent, type: info, availableInstances: readAvailable(scan, path.join(dir, 'available_instances')) };
  const attr = scan.optional(path.join(dir, MIGRATION_VERSION));
  const create = scan.optional(path.join(dir, 'create'));
  if (attr !== undefined) capacity.typeAttrPath = attr;
  if (create !== undefined) capacity.createPath = create;
  return { info, capacity };
}

/** `%u\n`; anything else (or absent) counts as no spare capacity, with a warning. */
function readAvailable(scan: DiscoveryScan, p: string): number {
  const raw = scan.readOptional(p);
  if (raw !== undefined && /^\d{1,9}$/.test(raw)) return Number(raw);
  if (raw !== undefined) scan.warn(p, `expected an unsigned integer, found ${JSON.stringify(raw.slice(0, 32))}`);
  return 0;
}
