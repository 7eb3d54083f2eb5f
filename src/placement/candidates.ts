// Step 2 of §4: every node but the source gets either a pre-probe rejection (AgentUnavailable,
// Excluded, TypeMismatch, NoCapacity) or becomes a candidate with its free target pools. Checks run
// cheapest first and one pass over each node's own devices, so the step is linear in the fleet.

import { assignTargets, scoreAssignment } from './assignment.ts';
import type { Fleet } from './fleet.ts';
import { compareScores, compareStrings } from './ordering.ts';
import { exclusionReason } from './scheduling.ts';
import type { Capacity, CandidateFilter, CandidateNode, Device, NodeExplanation, Request, Source, TargetPool, TargetRef } from './types.ts';

export function filterCandidates(source: Source, fleet: Fleet, request: Request): CandidateFilter {
  const allowList = request.targetNodes && request.targetNodes.length > 0 ? new Set(request.targetNodes) : undefined;
  const need = countByType(source);
  const candidates: CandidateNode[] = [];
  const rejected: NodeExplanation[] = [];
  for (const node of fleet.nodes) {
    if (node.name === source.nodeName) continue;
    const reject = (verdict: NodeExplanation['verdict'], message: string) => rejected.push({ node: node.name, verdict, message });
    if (!node.agentFresh) {
      reject('AgentUnavailable', `agent lease mdev-agent.${node.name} is expired or missing`);
      continue;
    }
    const excluded = exclusionReason(source.vm, node, allowList);
    if (excluded) {
      reject('Excluded', excluded);
      continue;
    }
    const devices = fleet.devicesByNode.get(node.name) ?? [];
    const slots = request.allowCreateTarget ? (fleet.capacityByNode.get(node.name) ?? []) : [];
    const inventory = takeInventory(need, devices, slots, request.migrationUid);
    if (inventory.missingTypes.length > 0) {
      reject('TypeMismatch', `no ${inventory.missingTypes.join(' or ')} device${request.allowCreateTarget ? ' and no spare capacity for one' : ''}`);
      continue;
    }
    if (inventory.shortage) {
      reject('NoCapacity', inventory.shortage);
      continue;
    }
    candidates.push(makeCandidate(node.name, source, inventory));
  }
  candidates.sort((a, b) => compareScores(a.optimistic.score, b.optimistic.score) || compareStrings(a.name, b.name));
  return { candidates, rejected };
}

function countByType(source: Source): Map<string, number> {
  const need = new Map<string, number>();
  for (const d of source.devices) need.set(d.typeId, (need.get(d.typeId) ?? 0) + 1);
  return need;
}

interface TypeStock {
  free: Device[];
  inUse: number;
  reserved: number;
  unusable: number;
  slots: { capacity: Capacity; count: number }[];
  slotTotal: number;
}

interface Inventory {
  byType: Map<string, TypeStock>;
  missingTypes: string[];
  shortage: string;
  freeDevices: number;
  consumed: number;
}

function takeInventory(need: Map<string, number>, devices: readonly Device[], slots: readonly Capacity[], migrationUid: string): Inventory {
  const byType = new Map<string, TypeStock>();
  for (const typeId of need.keys()) byType.set(typeId, { free: [], inUse: 0, reserved: 0, unusable: 0, slots: [], slotTotal: 0 });
  let consumed = 0;
  const present = new Set<string>();
  for (const d of devices) {
    if (d.consumerUid) consumed++;
    const stock = byType.get(d.typeId);
    if (!stock) continue;
    present.add(d.typeId);
    if (d.consumerUid) stock.inUse++;
    else if (d.reservedBy && d.reservedBy !== migrationUid) stock.reserved++;
    else if (!d.migratable || d.version === undefined) stock.unusable++;
    else stock.free.push(d);
  }
  for (const c of slots) {
    const stock = byType.get(c.typeId);
    if (!stock) continue;
    // A parent that supports the type counts as having it, even when it is full right now.
    present.add(c.typeId);
    if (c.version === undefined || c.availableInstances <= 0) continue;
    // More slots than the VMI needs of this type never change the outcome; capping keeps pools small.
    const count = Math.min(c.availableInstances, need.get(c.typeId) as number);
    stock.slots.push({ capacity: c, count });
    stock.slotTotal += count;
  }
  const missingTypes = [...need.keys()].filter((t) => !present.has(t)).sort(compareStrings);
  const shortages: string[] = [];
  let freeDevices = 0;
  for (const [typeId, stock] of [...byType].sort((a, b) => compareStrings(a[0], b[0]))) {
    freeDevices += stock.free.length;
    const wanted = need.get(typeId) as number;
    if (stock.free.length + stock.slotTotal < wanted) shortages.push(describeShortage(typeId, wanted, stock));
  }
  return { byType, missingTypes, shortage: shortages.join('; '), freeDevices, consumed };
}

function describeShortage(typeId: string, wanted: number, stock: TypeStock): string {
  const has = stock.free.length + stock.slotTotal;
  const detail = [
    stock.inUse > 0 ? `${stock.inUse} in use` : '',
    stock.reserved > 0 ? `${stock.reserved} reserved by another migration` : '',
    stock.unusable > 0 ? `${stock.unusable} not migratable` : '',
    stock.slotTotal > 0 ? `${stock.slotTotal} creatable` : '',
  ].filter(Boolean);
  return `needs ${wanted} free ${typeId}, has ${has}${detail.length > 0 ? ` (${detail.join(', ')})` : ''}`;
}

function makeCandidate(nodeName: string, source: Source, inventory: Inventory): CandidateNode {
  const pools = buildPools(nodeName, source, inventory);
  const { pairs } = assignTargets(source.devices, pools, () => true);
  const score = scoreAssignment(pairs, inventory.freeDevices, inventory.consumed);
  return { name: nodeName, pools, freeDevices: inventory.freeDevices, consumed: inventory.consumed, optimistic: { pairs, score } };
}

/**
 * Existing devices before creatable slots; within each, a version equal to one of the source's
 * first (an exact duplicate is the likeliest to be accepted), then by version string.
 */
function buildPools(nodeName: string, source: Source, inventory: Inventory): TargetPool[] {
  const devicePools: TargetPool[] = [];
  const slotPools: TargetPool[] = [];
  for (const [typeId, stock] of inventory.byType) {
    const devicesByVersion = new Map<string, TargetRef[]>();
    for (const d of stock.free) {
      const ref: TargetRef = { kind: 'device', nodeName, name: d.name, typeId, parentAddress: d.parentAddress, version: d.version as string };
      pushTo(devicesByVersion, ref.version, ref);
    }
    const slotsByVersion = new Map<string, TargetRef[]>();
    for (const { capacity, count } of stock.slots) {
      const ref: TargetRef = { kind: 'slot', nodeName, parentAddress: capacity.parentAddress, typeId, version: capacity.version as string };
      for (let i = 0; i < count; i++) pushTo(slotsByVersion, ref.version, ref);
    }
    for (const [version, targets] of devicesByVersion) devicePools.push({ typeId, version, targets });
    for (const [version, targets] of slotsByVersion) slotPools.push({ typeId, version, targets });
  }
  if (devicePools.length + slotPools.length <= 1) return [...devicePools, ...slotPools];
  return [...sortPools(source, devicePools), ...sortPools(source, slotPools)];
}

function sortPools(source: Source, pools: TargetPool[]): TargetPool[] {
  const keyed = pools.map((pool) => ({ pool, exact: (source.versionsByType.get(pool.typeId) ?? []).includes(pool.version) ? 0 : 1 }));
  keyed.sort((a, b) => compareStrings(a.pool.typeId, b.pool.typeId) || a.exact - b.exact || compareStrings(a.pool.version, b.pool.version));
  return keyed.map((k) => k.pool);
}

function pushTo<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
