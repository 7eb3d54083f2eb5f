// The cluster as the engine reads it: nodes, and devices and spare capacity indexed by node, all in
// a canonical order so that decisions do not depend on the order informers listed objects in.
// Building it is O(devices log devices); adapters may keep one and rebuild it on change.

import { compareStrings } from './ordering.ts';
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
}

export type DeviceIndex = Pick<Fleet, 'devicesByNode' | 'capacityByNode' | 'claimsByNode'>;

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
  return { devicesByNode, capacityByNode, claimsByNode: groupBy(claims, (c) => c.nodeName) };
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
