// One node's stock of the types a VMI needs: free, in use, reserved, unusable, spare slots, and the
// free targets grouped into pools. It runs for every node of every decision, so it is one pass over
// the node's own devices that allocates only on nodes holding a needed type (on a fleet of mixed
// boards, half the nodes are a TypeMismatch and cost no allocation at all).

import { compareStrings } from './ordering.ts';
import type { Capacity, Device, Source, TargetPool, TargetRef } from './types.ts';

/** What the source needs, per type; arrays rather than maps because a VMI has one or two types. */
export interface Need {
  /** The source's types, sorted. */
  types: string[];
  /** Devices needed of each type (parallel to `types`). */
  wanted: number[];
  /** The source's distinct versions of each type, sorted (parallel to `types`). */
  versions: string[][];
}

export function needOf(source: Source): Need {
  const types = [...source.versionsByType.keys()].sort(compareStrings);
  const wanted = types.map((t) => source.devices.reduce((n, d) => (d.typeId === t ? n + 1 : n), 0));
  return { types, wanted, versions: types.map((t) => source.versionsByType.get(t) as string[]) };
}

export interface TypeStock {
  /** Free devices as targets, one pool per version, in the node's device order (by name). */
  pools: TargetPool[];
  free: number;
  inUse: number;
  reserved: number;
  unusable: number;
  slots: { capacity: Capacity; count: number }[];
  slotTotal: number;
  /** Instances a parent could create but the request does not allow creating (allowCreateTarget unset). */
  notAllowed: number;
}

export interface Inventory {
  /** Parallel to `Need.types`; undefined when the node has neither a device nor a parent of the type. */
  stocks: (TypeStock | undefined)[];
  /** Free migratable devices of the needed types. */
  freeDevices: number;
  /** Devices in use on the node, any type. */
  consumed: number;
}

function typeIndex(types: readonly string[], typeId: string): number {
  for (let i = 0; i < types.length; i++) if (types[i] === typeId) return i;
  return -1;
}

function stockAt(stocks: (TypeStock | undefined)[], i: number): TypeStock {
  return (stocks[i] ??= { pools: [], free: 0, inUse: 0, reserved: 0, unusable: 0, slots: [], slotTotal: 0, notAllowed: 0 });
}

/**
 * Devices reserved by this very migration count as free, so a resumed reconcile decides alike.
 * Free devices become targets right away: nodes short of free devices are rare, and a second
 * pass to build the pools would cost every candidate a list of its free devices.
 */
/**
 * Spare capacity counts as creatable slots only with `allowCreate`; without it a parent of the type
 * still makes the node a NoCapacity (not a TypeMismatch), whose message names the spare instances,
 * so the remedy (allowCreateTarget) is visible.
 */
export function takeInventory(nodeName: string, need: Need, devices: readonly Device[], slots: readonly Capacity[], migrationUid: string, allowCreate: boolean): Inventory {
  const stocks = new Array<TypeStock | undefined>(need.types.length);
  let consumed = 0;
  let freeDevices = 0;
  for (const d of devices) {
    if (d.consumerUid) consumed++;
    const i = typeIndex(need.types, d.typeId);
    if (i < 0) continue;
    const stock = stockAt(stocks, i);
    if (d.consumerUid) stock.inUse++;
    else if (d.reservedBy && d.reservedBy !== migrationUid) stock.reserved++;
    else if (!d.migratable || d.version === undefined) stock.unusable++;
    else {
      const typeId = need.types[i] as string;
      const ref: TargetRef = { kind: 'device', nodeName, name: d.name, typeId, parentAddress: d.parentAddress, version: d.version };
      poolFor(stock.pools, 0, typeId, d.version).targets.push(ref);
      stock.free++;
      freeDevices++;
    }
  }
  for (const c of slots) {
    const i = typeIndex(need.types, c.typeId);
    if (i < 0) continue;
    // A parent that supports the type counts as having it, even when it is full right now.
    const stock = stockAt(stocks, i);
    if (c.version === undefined || c.availableInstances <= 0) continue;
    // More slots than the VMI needs of this type never change the outcome; capping keeps pools small.
    const count = Math.min(c.availableInstances, need.wanted[i] as number);
    if (!allowCreate) {
      stock.notAllowed += count;
      continue;
    }
    stock.slots.push({ capacity: c, count });
    stock.slotTotal += count;
  }
  return { stocks, freeDevices, consumed };
}

/** Needed types the node has neither a device nor a parent of, joined with ' or '; '' when none. */
export function missingTypes(need: Need, inventory: Inventory): string {
  let out = '';
  for (let i = 0; i < need.types.length; i++) if (!inventory.stocks[i]) out += (out ? ' or ' : '') + need.types[i];
  return out;
}

/** Why the node lacks enough free targets (per type, sorted), or '' when it has enough. */
export function shortage(need: Need, inventory: Inventory): string {
  let out = '';
  for (let i = 0; i < need.types.length; i++) {
    const stock = inventory.stocks[i] as TypeStock;
    const wanted = need.wanted[i] as number;
    if (stock.free + stock.slotTotal >= wanted) continue;
    out += (out ? '; ' : '') + describeShortage(need.types[i] as string, wanted, stock);
  }
  return out;
}

function describeShortage(typeId: string, wanted: number, stock: TypeStock): string {
  const has = stock.free + stock.slotTotal;
  const detail = [
    stock.inUse > 0 ? `${stock.inUse} in use` : '',
    stock.reserved > 0 ? `${stock.reserved} reserved by another migration` : '',
    stock.unusable > 0 ? `${stock.unusable} not migratable` : '',
    stock.slotTotal > 0 ? `${stock.slotTotal} creatable` : '',
    stock.notAllowed > 0 ? `${stock.notAllowed} creatable with allowCreateTarget` : '',
  ].filter(Boolean);
  return `needs ${wanted} free ${typeId}, has ${has}${detail.length > 0 ? ` (${detail.join(', ')})` : ''}`;
}

/**
 * Existing devices before creatable slots; within each, a version equal to one of the source's
 * first (an exact duplicate is the likeliest to be accepted), then by version string. Targets keep
 * the node's device order.
 */
export function buildPools(nodeName: string, need: Need, inventory: Inventory): TargetPool[] {
  let devicePools: TargetPool[] = [];
  const slotPools: TargetPool[] = [];
  for (let i = 0; i < need.types.length; i++) {
    const stock = inventory.stocks[i];
    if (!stock) continue;
    const typeId = need.types[i] as string;
    devicePools = devicePools.length === 0 ? stock.pools : [...devicePools, ...stock.pools];
    const firstSlot = slotPools.length;
    for (const { capacity, count } of stock.slots) {
      const ref: TargetRef = { kind: 'slot', nodeName, parentAddress: capacity.parentAddress, typeId, version: capacity.version as string };
      const targets = poolFor(slotPools, firstSlot, typeId, ref.version).targets;
      for (let k = 0; k < count; k++) targets.push(ref);
    }
  }
  if (devicePools.length + slotPools.length <= 1) return devicePools.length > 0 ? devicePools : slotPools;
  return [...sortPools(need, devicePools), ...sortPools(need, slotPools)];
}

/** The pool of `version` among pools[from..] (this type's), created on first use; nodes carry few versions. */
function poolFor(pools: TargetPool[], from: number, typeId: string, version: string): TargetPool {
  for (let j = from; j < pools.length; j++) if ((pools[j] as TargetPool).version === version) return pools[j] as TargetPool;
  const pool: TargetPool = { typeId, version, targets: [] };
  pools.push(pool);
  return pool;
}

function sortPools(need: Need, pools: TargetPool[]): TargetPool[] {
  const exact = (pool: TargetPool) => ((need.versions[typeIndex(need.types, pool.typeId)] as string[]).includes(pool.version) ? 0 : 1);
  const keyed = pools.map((pool) => ({ pool, exact: exact(pool) }));
  keyed.sort((a, b) => compareStrings(a.pool.typeId, b.pool.typeId) || a.exact - b.exact || compareStrings(a.pool.version, b.pool.version));
  return keyed.map((k) => k.pool);
}
