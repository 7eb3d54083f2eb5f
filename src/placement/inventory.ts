// One node's stock of the pools a VMI needs. KubeVirt's device plugin, not the operator, picks which
// free device of a resource the target pod gets (the kubelet allocates any free device id of the
// requested resource), so what matters per (node, pool) is: every free device (all must accept the
// source), how many of them other in-flight migrations already claimed, and spare capacity to create
// more. It runs for every node of every decision, so it reads the node's stock summarised by the
// fleet index (stock.ts) and allocates only on nodes holding a needed pool.

import { compareStrings } from './ordering.ts';
import type { NodeStock, PoolSummary } from './stock.ts';
import type { Capacity, Claim, ResourcePool, Source, TargetPool, TargetRef } from './types.ts';

/** What the source needs, per pool; arrays rather than maps because a VMI has one or two pools. */
export interface Need {
  /** The source's pools, sorted. */
  pools: string[];
  /** The type of the source devices in each pool (parallel to `pools`). */
  types: string[];
  /** Units needed of each pool (parallel to `pools`). */
  wanted: number[];
  /** The source's distinct versions in each pool, sorted (parallel to `pools`). */
  versions: string[][];
}

export function needOf(source: Source): Need {
  const pools = [...new Set(source.devices.map((d) => d.pool))].sort(compareStrings);
  const inPool = (p: string) => source.devices.filter((d) => d.pool === p);
  return {
    pools,
    types: pools.map((p) => (inPool(p)[0] as Source['devices'][number]).typeId),
    wanted: pools.map((p) => inPool(p).length),
    versions: pools.map((p) => [...new Set(inPool(p).map((d) => d.version))].sort(compareStrings)),
  };
}

export interface PoolStock {
  /** Free migratable devices of the source's type, one class per version, in the node's device order. Shared with the fleet index: never mutate. */
  classes: readonly TargetPool[];
  /** Free devices of the pool of any type or state: the device plugin may hand out each of them. */
  free: number;
  /** Free devices in the pool that no answer can make a target: without a version string. */
  unmigratable: number;
  /** Free devices in the pool of another type than the source's, by type. */
  foreign: ReadonlyMap<string, number>;
  /** Their sum. */
  foreignTotal: number;
  inUse: number;
  /** Units of the pool other in-flight migrations claimed. */
  claimed: number;
  slots: { capacity: Capacity; count: number }[];
  slotTotal: number;
  /** Instances a parent could create but the request does not allow creating (allowCreateTarget unset). */
  notAllowed: number;
}

export interface Inventory {
  /** Parallel to `Need.pools`; undefined when the node has neither a device nor a parent of the pool. */
  stocks: (PoolStock | undefined)[];
  /** Unclaimed free devices of the needed pools. */
  freeDevices: number;
  /** Devices in use on the node, any pool. */
  consumed: number;
}

function poolIndex(pools: readonly string[], pool: string): number {
  for (let i = 0; i < pools.length; i++) if (pools[i] === pool) return i;
  return -1;
}

function stockAt(stocks: (PoolStock | undefined)[], i: number): PoolStock {
  return (stocks[i] ??= { classes: NO_CLASSES, free: 0, unmigratable: 0, foreign: NO_FOREIGN, foreignTotal: 0, inUse: 0, claimed: 0, slots: [], slotTotal: 0, notAllowed: 0 });
}

/** Units claimed on the node's pools by migrations other than `migrationUid` (its own claim counts as free). */
function claimedByOthers(i: number, need: Need, claims: readonly Claim[], migrationUid: string): number {
  let units = 0;
  for (const c of claims) if (c.migrationUid !== migrationUid && c.pool === need.pools[i]) units += c.units;
  return units;
}

/**
 * Spare capacity counts as creatable slots only with `allowCreate`; without it a parent of the type
 * still makes the node a NoCapacity (not a TypeMismatch), whose message names the spare instances,
 * so the remedy (allowCreateTarget) is visible. The node's devices come summarised (stock.ts), so
 * this reads only the pools the VMI needs.
 */
export function takeInventory(
  need: Need,
  node: NodeStock | undefined,
  slots: readonly Capacity[],
  claims: readonly Claim[],
  migrationUid: string,
  allowCreate: boolean,
): Inventory {
  const stocks = new Array<PoolStock | undefined>(need.pools.length);
  // Without slots or claims nothing below changes a stock: share the one the summary keeps per type.
  const shared = slots.length === 0 && claims.length === 0;
  for (let i = 0; i < need.pools.length; i++) {
    const summary = node?.pools.get(need.pools[i] as string);
    if (summary) stocks[i] = shared ? sharedStock(summary, need.types[i] as string) : fromSummary(summary, need.types[i] as string);
  }
  for (const c of slots) {
    const i = poolIndex(need.pools, c.pool);
    if (i < 0 || c.typeId !== need.types[i]) continue;
    // A parent that supports the type counts as having the pool, even when it is full right now.
    const stock = stockAt(stocks, i);
    if (c.version === undefined || c.availableInstances <= 0) continue;
    // More slots than the VMI needs of this pool never change the outcome; capping keeps classes small.
    const count = Math.min(c.availableInstances, need.wanted[i] as number);
    if (!allowCreate) {
      stock.notAllowed += count;
      continue;
    }
    stock.slots.push({ capacity: c, count });
    stock.slotTotal += count;
  }
  let freeDevices = 0;
  for (let i = 0; i < stocks.length; i++) {
    const stock = stocks[i];
    if (!stock) continue;
    if (claims.length > 0) stock.claimed = claimedByOthers(i, need, claims, migrationUid);
    freeDevices += Math.max(0, stock.free - stock.claimed);
  }
  return { stocks, freeDevices, consumed: node?.consumed ?? 0 };
}

/** fromSummary, built once per (summary, type) and shared by the decisions on the index: never mutate it. */
function sharedStock(summary: PoolSummary, typeId: string): PoolStock {
  const memo = (summary.stockByType ??= new Map()) as Map<string, PoolStock>;
  let stock = memo.get(typeId);
  if (!stock) memo.set(typeId, (stock = fromSummary(summary, typeId)));
  return stock;
}

/** A needed pool's stock from the node's summary: free devices of other types than the source's are foreign. */
function fromSummary(summary: PoolSummary, typeId: string): PoolStock {
  const own = summary.byType.get(typeId);
  let foreign: ReadonlyMap<string, number> = NO_FOREIGN;
  let foreignTotal = 0;
  if (summary.byType.size > (own ? 1 : 0)) {
    const byType = new Map<string, number>();
    for (const [t, stock] of summary.byType) {
      if (t === typeId) continue;
      byType.set(t, stock.free);
      foreignTotal += stock.free;
    }
    foreign = byType;
  }
  return {
    classes: own?.classes ?? NO_CLASSES,
    free: summary.free,
    unmigratable: own?.unmigratable ?? 0,
    foreign,
    foreignTotal,
    inUse: summary.inUse,
    claimed: 0,
    slots: [],
    slotTotal: 0,
    notAllowed: 0,
  };
}

const NO_CLASSES: readonly TargetPool[] = [];
const NO_FOREIGN: ReadonlyMap<string, number> = new Map();

/** Needed pools the node has neither a device nor a parent of (by the source's type), joined with ' or '; '' when none. */
export function missingTypes(need: Need, inventory: Inventory): string {
  let out = '';
  for (let i = 0; i < need.pools.length; i++) if (!inventory.stocks[i]) out += (out ? ' or ' : '') + need.types[i];
  return out;
}

/** Why the node lacks enough units (per pool, sorted), or '' when it has enough. */
export function shortage(need: Need, inventory: Inventory): string {
  let out = '';
  for (let i = 0; i < need.pools.length; i++) {
    const stock = inventory.stocks[i] as PoolStock;
    const wanted = need.wanted[i] as number;
    const unclaimed = stock.free - stock.claimed;
    // Creating devices cannot rescue a pool whose claims exceed its free devices: the other
    // migrations' target pods would take the new devices first.
    if (unclaimed >= wanted || (unclaimed >= 0 && unclaimed + stock.slotTotal >= wanted)) continue;
    out += (out ? '; ' : '') + describeShortage(need.types[i] as string, wanted, stock);
  }
  return out;
}

/** True when the node would have enough units if no other migration claimed any (see NodeExplanation.claimBound). */
export function shortOnlyByClaims(need: Need, inventory: Inventory): boolean {
  for (let i = 0; i < need.pools.length; i++) {
    const stock = inventory.stocks[i] as PoolStock;
    if (stock.free + stock.slotTotal < (need.wanted[i] as number)) return false;
  }
  return true;
}

function describeShortage(typeId: string, wanted: number, stock: PoolStock): string {
  const has = Math.max(0, stock.free - stock.claimed) + stock.slotTotal;
  const detail = [
    stock.inUse > 0 ? `${stock.inUse} in use` : '',
    stock.claimed > 0 ? `${stock.claimed} claimed by other migrations` : '',
    stock.slotTotal > 0 ? `${stock.slotTotal} creatable` : '',
    stock.notAllowed > 0 ? `${stock.notAllowed} creatable with allowCreateTarget` : '',
  ].filter(Boolean);
  return `needs ${wanted} free ${typeId}, has ${has}${detail.length > 0 ? ` (${detail.join(', ')})` : ''}`;
}

/**
 * Why a pool can never be a target whatever the drivers answer: a free device the plugin may hand
 * out that has no version string or is of another type. '' when every pool is clean.
 */
export function unusablePools(need: Need, inventory: Inventory): string {
  let out = '';
  for (let i = 0; i < need.pools.length; i++) {
    const stock = inventory.stocks[i] as PoolStock;
    const foreign = stock.foreignTotal;
    if (stock.unmigratable === 0 && foreign === 0) continue;
    const detail = [
      stock.unmigratable > 0 ? `${stock.unmigratable} not migratable (no migration version)` : '',
      ...[...stock.foreign].sort(([a], [b]) => compareStrings(a, b)).map(([t, n]) => `${n} of type ${t}`),
    ].filter(Boolean);
    out += (out ? '; ' : '') + `${stock.unmigratable + foreign} of ${stock.free} free ${need.types[i]} devices incompatible: pool mixed (${detail.join(', ')})`;
  }
  return out;
}

/**
 * The classes of the needed pools: existing devices before creatable slots; within each, a version
 * equal to one of the source's first (an exact duplicate is the likeliest to be accepted), then by
 * version string. Targets keep the node's device order. Each ResourcePool indexes its classes.
 */
export function buildPools(nodeName: string, need: Need, inventory: Inventory): { pools: readonly TargetPool[]; resources: ResourcePool[] } {
  let devicePools: readonly TargetPool[] = [];
  const slotPools: TargetPool[] = [];
  for (let i = 0; i < need.pools.length; i++) {
    const stock = inventory.stocks[i];
    if (!stock) continue;
    const typeId = need.types[i] as string;
    const pool = need.pools[i] as string;
    devicePools = devicePools.length === 0 ? stock.classes : [...devicePools, ...stock.classes];
    const firstSlot = slotPools.length;
    for (const { capacity, count } of stock.slots) {
      const ref: TargetRef = { kind: 'slot', nodeName, parentAddress: capacity.parentAddress, typeId, pool, version: capacity.version as string };
      const targets = classFor(slotPools, firstSlot, typeId, pool, ref.version).targets;
      for (let k = 0; k < count; k++) targets.push(ref);
    }
  }
  const pools = devicePools.length + slotPools.length <= 1 ? (devicePools.length > 0 ? devicePools : slotPools) : [...sortPools(need, devicePools), ...sortPools(need, slotPools)];
  const resources: ResourcePool[] = [];
  for (let i = 0; i < need.pools.length; i++) {
    const stock = inventory.stocks[i] as PoolStock;
    const pool = need.pools[i] as string;
    // One pool of existing devices only (the usual VMI): every class is a device class of it.
    const only = need.pools.length === 1 && slotPools.length === 0;
    let deviceClasses = firstIndices(pools.length);
    let slotClasses = NO_INDICES;
    if (!only) {
      const devices: number[] = [];
      const slots: number[] = [];
      for (let j = 0; j < pools.length; j++) {
        const c = pools[j] as TargetPool;
        if (c.pool !== pool) continue;
        if (c.targets[0]?.kind === 'slot') slots.push(j);
        else devices.push(j);
      }
      deviceClasses = devices;
      slotClasses = slots;
    }
    resources.push({ pool, typeId: need.types[i] as string, wanted: need.wanted[i] as number, free: stock.free, available: stock.free - stock.claimed, deviceClasses, slotClasses });
  }
  return { pools, resources };
}

const NO_INDICES: readonly number[] = [];
const INDICES: (readonly number[])[] = [];

/** [0, 1, …, n-1], shared: nodes have a handful of classes, so these few arrays serve every decision. */
function firstIndices(n: number): readonly number[] {
  return (INDICES[n] ??= Array.from({ length: n }, (_, j) => j));
}

/** The class of `version` among classes[from..] (this pool's), created on first use; nodes carry few versions. */
function classFor(classes: TargetPool[], from: number, typeId: string, pool: string, version: string): TargetPool {
  for (let j = from; j < classes.length; j++) if ((classes[j] as TargetPool).version === version && (classes[j] as TargetPool).pool === pool) return classes[j] as TargetPool;
  const cls: TargetPool = { typeId, pool, version, targets: [] };
  classes.push(cls);
  return cls;
}

function sortPools(need: Need, pools: readonly TargetPool[]): TargetPool[] {
  const exact = (c: TargetPool) => ((need.versions[poolIndex(need.pools, c.pool)] ?? []).includes(c.version) ? 0 : 1);
  const keyed = pools.map((pool) => ({ pool, exact: exact(pool) }));
  keyed.sort((a, b) => compareStrings(a.pool.pool, b.pool.pool) || compareStrings(a.pool.typeId, b.pool.typeId) || a.exact - b.exact || compareStrings(a.pool.version, b.pool.version));
  return keyed.map((k) => k.pool);
}
