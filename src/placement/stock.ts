// What a node holds, summarised once per fleet index instead of once per decision: per pool, its
// free and used devices, and per device type the free devices grouped into version classes with
// their target references already built. A decision then reads the one or two pools its VMI needs
// on each node instead of walking (and allocating for) every device of the fleet. Built by
// indexDevices, so adapters that keep an index between decisions keep this too.

import type { Device, TargetPool, TargetRef } from './types.ts';

/** Free devices of one type in one pool on one node. */
export interface TypeStock {
  /** Free devices of the type, whatever their state. */
  free: number;
  /** Free devices of the type without a migration version (no answer can make them a target). */
  unmigratable: number;
  /** Free migratable devices, one class per version (first-seen order), targets in device order. Shared: never mutate. */
  classes: readonly TargetPool[];
}

/** One pool on one node. */
export interface PoolSummary {
  /** Free devices of the pool, any type or state: the device plugin may hand out each of them. */
  free: number;
  inUse: number;
  /** Free devices by type, in first-seen order. */
  byType: Map<string, TypeStock>;
  /** What inventory.ts derives from this summary per source type, kept for the next decision on the index (inventory.ts's PoolStock). */
  stockByType?: Map<string, unknown>;
}

export interface NodeStock {
  /** Devices in use on the node, any pool. */
  consumed: number;
  pools: Map<string, PoolSummary>;
}

/** The summary of one node's devices (given in the node's canonical device order). */
export function stockOf(nodeName: string, devices: readonly Device[]): NodeStock {
  const pools = new Map<string, PoolSummary>();
  let consumed = 0;
  for (const d of devices) {
    let pool = pools.get(d.pool);
    if (!pool) pools.set(d.pool, (pool = { free: 0, inUse: 0, byType: new Map() }));
    if (d.consumerUid) {
      consumed++;
      pool.inUse++;
      continue;
    }
    pool.free++;
    let type = pool.byType.get(d.typeId);
    if (!type) pool.byType.set(d.typeId, (type = { free: 0, unmigratable: 0, classes: [] }));
    type.free++;
    if (!d.migratable || d.version === undefined) {
      type.unmigratable++;
      continue;
    }
    const ref: TargetRef = { kind: 'device', nodeName, name: d.name, typeId: d.typeId, pool: d.pool, parentAddress: d.parentAddress, version: d.version };
    classOf(type.classes as TargetPool[], d.typeId, d.pool, d.version).targets.push(ref);
  }
  return { consumed, pools };
}

function classOf(classes: TargetPool[], typeId: string, pool: string, version: string): TargetPool {
  for (const c of classes) if (c.version === version) return c;
  const cls: TargetPool = { typeId, pool, version, targets: [] };
  classes.push(cls);
  return cls;
}
