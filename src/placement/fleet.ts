// The cluster as the engine reads it: nodes, and devices and spare capacity indexed by node, all in
// a canonical order so that decisions do not depend on the order informers listed objects in.
// Building it is O(devices log devices); adapters keep one per snapshot and share it between
// decisions, so what a decision would otherwise recompute from every device (whose devices a VMI
// holds, each node's stock of free devices) is computed here once.

import { compareStrings } from './ordering.ts';
import { stockOf, type NodeStock } from './stock.ts';
import type { Capacity, Claim, Device, NodeInfo } from './types.ts';

export interface Fleet {
  /** Sorted by name. */
  nodes: NodeInfo[];
  /** Per node, sorted by device name. */
  devicesByNode: Map<string, Device[]>;
  /** Per node, sorted by (type, parent). */
  capacityByNode: Map<string, Capacity[]>;
  /** Per node: units of its pools claimed by in-flight migrations. */
  claimsByNode: Map<string, Claim[]>;
  /** Per consumer uid (a VMI's): the devices it holds, in no particular order. */
  devicesByConsumer: Map<string, Device[]>;
  /** Per node holding devices: its free and used devices by pool, type and version (see stock.ts). */
  stockByNode: Map<string, NodeStock>;
}

export type DeviceIndex = Omit<Fleet, 'nodes'>;

export function indexFleet(nodes: readonly NodeInfo[], devices: readonly Device[], capacity: readonly Capacity[] = [], claims: readonly Claim[] = []): Fleet {
  return { nodes: sortNodes(nodes), ...indexDevices(devices, capacity, claims) };
}

/** The device half of a Fleet. Adapters keep it while devices are unchanged and pair it with fresh nodes. */
export function indexDevices(devices: readonly Device[], capacity: readonly Capacity[] = [], claims: readonly Claim[] = []): DeviceIndex {
  const devicesByNode = groupBy(devices, (d) => d.nodeName);
  for (const list of devicesByNode.values()) list.sort((a, b) => compareStrings(a.name, b.name));
  const capacityByNode = groupBy(capacity, (c) => c.nodeName);
  for (const list of capacityByNode.values()) {
    list.sort((a, b) => compareStrings(a.typeId, b.typeId) || compareStrings(a.parentAddress, b.parentAddress));
  }
  const devicesByConsumer = groupBy(
    devices.filter((d) => d.consumerUid),
    (d) => d.consumerUid as string,
  );
  const stockByNode = new Map<string, NodeStock>();
  for (const [node, list] of devicesByNode) stockByNode.set(node, stockOf(node, list));
  return { devicesByNode, capacityByNode, claimsByNode: groupBy(claims, (c) => c.nodeName), devicesByConsumer, stockByNode };
}

/** The node half of a Fleet: a sorted copy. */
export function sortNodes(nodes: readonly NodeInfo[]): NodeInfo[] {
  return [...nodes].sort((a, b) => compareStrings(a.name, b.name));
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = out.get(k);
    if (list) list.push(item);
    else out.set(k, [item]);
  }
  return out;
}
