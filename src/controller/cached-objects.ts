// What the controller's informers (and so the webhook, which reads the same caches) keep of each
// object: only the fields decisions, admission and status writes read. Each kind has a type that
// names those fields and a projection that copies them out of the validated object, applied in the
// informer's parse (caches.ts), so everything else the API server sends — creation timestamps,
// owner references, conditions, the parts of a VMI's domain placement never looks at — is dropped
// as the object arrives instead of living in the cache for the life of the process (issue 16).
//
// The types are the guard: code that reads a cached object sees only these fields, so reading one
// that a projection drops does not compile. A full object (a test fixture, a fresh GET) is still
// accepted wherever a cached one is, because every cached type is a subset of its API type.
//
// Repeated strings (a type id, a parent address, a version string shared by every device of a
// class) are interned: JSON.parse gives each object its own copy, and thousands of copies of the
// same 70-byte version string are most of a device's size.
import type { CapacityClaim, CapacityEntry, ConsumerReference, MdevDevice, MdevDeviceSpec, MdevDeviceStatus, MdevNode, Reservation } from '../api/v1alpha1/index.ts';

/** One copy per distinct value: strings that repeat across thousands of cached objects. */
export class StringPool {
  readonly #values = new Map<string, string>();

  intern(value: string): string;
  intern(value: string | undefined): string | undefined;
  intern(value: string | undefined): string | undefined {
    if (value === undefined) return undefined;
    const known = this.#values.get(value);
    if (known !== undefined) return known;
    this.#values.set(value, value);
    return value;
  }

  /** Distinct values held (they are never dropped: the set of types, parents and versions is small). */
  get size(): number {
    return this.#values.size;
  }
}

// ---------------------------------------------------------------------------------------------
// MdevDevice
// ---------------------------------------------------------------------------------------------

/** An MdevDevice as the caches keep it. */
export interface CachedDevice {
  metadata: { name: string; resourceVersion?: string };
  spec: {
    nodeName: string;
    type: MdevDeviceSpec['type'];
    parent: { address: string };
    creationParams?: MdevDeviceSpec['creationParams'];
  };
  status?: {
    migratable: boolean;
    migrationVersion?: string;
    versionKind?: MdevDeviceStatus['versionKind'];
    consumer?: ConsumerReference;
    /** Deprecated; kept so the controller can clear one it finds. */
    reservation?: Reservation;
  };
}

export function cachedDevice(d: MdevDevice, pool: StringPool): CachedDevice {
  const { spec, status } = d;
  const type: MdevDeviceSpec['type'] = { id: pool.intern(spec.type.id) };
  if (spec.type.name !== undefined) type.name = pool.intern(spec.type.name);
  const out: CachedDevice = {
    metadata: { name: d.metadata.name },
    spec: { nodeName: pool.intern(spec.nodeName), type, parent: { address: pool.intern(spec.parent.address) } },
  };
  if (d.metadata.resourceVersion !== undefined) out.metadata.resourceVersion = d.metadata.resourceVersion;
  if (spec.creationParams && spec.creationParams.length > 0) out.spec.creationParams = spec.creationParams;
  if (status) {
    const s: NonNullable<CachedDevice['status']> = { migratable: status.migratable };
    if (status.migrationVersion !== undefined) s.migrationVersion = pool.intern(status.migrationVersion);
    if (status.versionKind !== undefined) s.versionKind = status.versionKind;
    if (status.consumer) s.consumer = status.consumer;
    if (status.reservation) s.reservation = status.reservation;
    out.status = s;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// MdevNode
// ---------------------------------------------------------------------------------------------

/** One capacity entry as placement reads it (parent by address only). */
export interface CachedCapacity {
  parent: { address: string };
  type: CapacityEntry['type'];
  availableInstances: number;
  migratable: boolean;
  migrationVersion?: string;
}

/**
 * An MdevNode as the caches keep it: spare capacity for placement, and the claims whole — claims
 * are written back as a list, so every field of every claim must survive the cache.
 */
export interface CachedMdevNode {
  metadata: { name: string; resourceVersion?: string };
  spec: { nodeName: string; capacity?: CachedCapacity[] };
  status?: { claims?: CapacityClaim[] };
}

export function cachedMdevNode(n: MdevNode, pool: StringPool): CachedMdevNode {
  const out: CachedMdevNode = { metadata: { name: n.metadata.name }, spec: { nodeName: pool.intern(n.spec.nodeName) } };
  if (n.metadata.resourceVersion !== undefined) out.metadata.resourceVersion = n.metadata.resourceVersion;
  if (n.spec.capacity && n.spec.capacity.length > 0) {
    out.spec.capacity = n.spec.capacity.map((c) => {
      const type: CapacityEntry['type'] = { id: pool.intern(c.type.id) };
      if (c.type.name !== undefined) type.name = pool.intern(c.type.name);
      const entry: CachedCapacity = { parent: { address: pool.intern(c.parent.address) }, type, availableInstances: c.availableInstances, migratable: c.migratable };
      if (c.migrationVersion !== undefined) entry.migrationVersion = pool.intern(c.migrationVersion);
      return entry;
    });
  }
  if (n.status?.claims && n.status.claims.length > 0) out.status = { claims: n.status.claims };
  return out;
}
