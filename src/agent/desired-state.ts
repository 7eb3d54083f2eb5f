// What the agent wants the API server to hold for its node, computed from plain data: the
// discovered inventory, each device's version reading and who uses it. Pure; the publisher
// compares the result with what it last applied and writes only the difference.
import { createHash } from 'node:crypto';
import {
  API_VERSION,
  LABEL_NODE,
  LABEL_TYPE,
  LABEL_VERSION_HASH,
  LIMITS,
  deviceObjectName,
  versionHash,
  type Backend,
  type ConsumerReference,
} from '../api/v1alpha1/index.ts';
import type { VersionRead } from '../compat/backend.ts';
import type { DiscoveredDevice, MdevTypeInfo, ParentIdentity, TypeCapacity } from '../sysfs/inventory.ts';

export interface DeviceReading {
  device: DiscoveredDevice;
  version: VersionRead;
}

export interface CapacityReading {
  capacity: TypeCapacity;
  version: VersionRead;
}

export interface DesiredInput {
  nodeName: string;
  /** The Node's uid; the owner reference (GC on node deletion) is set only when it is known. */
  nodeUid?: string;
  backend: Backend;
  devices: readonly DeviceReading[];
  capacity: readonly CapacityReading[];
  /** Consumers by canonical device id (lowercase UUID or PCI address). */
  consumers: ReadonlyMap<string, ConsumerReference>;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
}

/** The metadata the agent owns on its objects. */
export interface DesiredMeta {
  name: string;
  labels: Record<string, string>;
  ownerReferences?: OwnerReference[];
}

/** One object as two apply bodies: metadata+spec (main resource) and status (status subresource). */
export interface DesiredObject {
  kind: 'MdevDevice' | 'MdevNode';
  metadata: DesiredMeta;
  spec: Record<string, unknown>;
  status?: Record<string, unknown>;
}

export function desiredDevice(input: DesiredInput, reading: DeviceReading): DesiredObject {
  const { device, version } = reading;
  const labels: Record<string, string> = { [LABEL_NODE]: input.nodeName, [LABEL_TYPE]: typeLabelValue(device.type.id) };
  if (version.migratable) labels[LABEL_VERSION_HASH] = versionHash(version.version);
  const spec: Record<string, unknown> = {
    nodeName: input.nodeName,
    id: device.id,
    kind: device.kind,
    type: typeSpec(device.type),
    parent: parentSpec(device.parent),
  };
  if (device.creationParams.length > 0) {
    spec.creationParams = device.creationParams.slice(0, LIMITS.creationParams).map((p) => ({ key: p.key, value: p.value }));
  }
  const status: Record<string, unknown> = { ...versionStatus(version), backend: input.backend };
  // A capacity entry is a class key by definition; only a device says which kind its string is.
  if (version.migratable && version.kind) status.versionKind = version.kind;
  const consumer = input.consumers.get(device.id.toLowerCase());
  if (consumer) status.consumer = { kind: consumer.kind, namespace: consumer.namespace, name: consumer.name, uid: consumer.uid };
  const metadata = meta(deviceObjectName(input.nodeName, device.id), input);
  metadata.labels = { ...metadata.labels, ...labels };
  return { kind: 'MdevDevice', metadata, spec, status };
}

export function desiredNode(input: DesiredInput): DesiredObject {
  const capacity = input.capacity
    .map(capacityEntry)
    .sort((a, b) => compareKey(a).localeCompare(compareKey(b)))
    .slice(0, LIMITS.capacityEntries);
  const spec: Record<string, unknown> = { nodeName: input.nodeName, backend: input.backend };
  if (capacity.length > 0) spec.capacity = capacity;
  return { kind: 'MdevNode', metadata: meta(input.nodeName, input), spec };
}

function capacityEntry(r: CapacityReading): Record<string, unknown> {
  return {
    parent: parentSpec(r.capacity.parent),
    type: typeSpec(r.capacity.type),
    availableInstances: r.capacity.availableInstances,
    ...versionStatus(r.version),
  };
}

function compareKey(entry: Record<string, unknown>): string {
  const parent = entry.parent as { address: string };
  const type = entry.type as { id: string };
  return `${parent.address}\0${type.id}`;
}

function meta(name: string, input: DesiredInput): DesiredMeta {
  const m: DesiredMeta = { name, labels: { [LABEL_NODE]: input.nodeName } };
  if (input.nodeUid) m.ownerReferences = [{ apiVersion: 'v1', kind: 'Node', name: input.nodeName, uid: input.nodeUid }];
  return m;
}

function versionStatus(version: VersionRead): Record<string, unknown> {
  return version.migratable
    ? { migrationVersion: version.version, migratable: true }
    : { migratable: false, reason: clamp(version.reason, LIMITS.reason) };
}

function typeSpec(type: MdevTypeInfo): Record<string, unknown> {
  const out: Record<string, unknown> = { id: type.id };
  if (type.name !== undefined) out.name = clamp(printable(type.name), 256);
  if (type.deviceApi !== undefined) out.deviceApi = clamp(printable(type.deviceApi), 64);
  return out;
}

function parentSpec(parent: ParentIdentity): Record<string, unknown> {
  const out: Record<string, unknown> = { address: parent.address };
  if (parent.vendorId !== undefined) out.vendorId = parent.vendorId;
  if (parent.deviceId !== undefined) out.deviceId = parent.deviceId;
  if (parent.driver !== undefined) out.driver = parent.driver;
  return out;
}

/** Sysfs text goes to the API verbatim only when printable; control bytes become '?'. */
function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?');
}

function clamp(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 3)}...`;
}

const LABEL_VALUE = /^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/;

/**
 * The type label: the type id when it is a valid label value (almost always: `nvidia-1012`),
 * else `t-<16 hex>` of it, because type ids may hold ':' or '+' or be longer than 63 characters.
 */
export function typeLabelValue(typeId: string): string {
  return LABEL_VALUE.test(typeId) ? typeId : `t-${createHash('sha256').update(typeId).digest('hex').slice(0, 16)}`;
}

/** The apply body for the main resource: identity, owned metadata and spec. */
export function specBody(obj: DesiredObject): Record<string, unknown> {
  return { apiVersion: API_VERSION, kind: obj.kind, metadata: obj.metadata, spec: obj.spec };
}

/** The apply body for the status subresource. */
export function statusBody(obj: DesiredObject): Record<string, unknown> {
  return { apiVersion: API_VERSION, kind: obj.kind, metadata: { name: obj.metadata.name }, status: obj.status };
}
