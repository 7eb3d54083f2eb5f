// Which targets an MdevProbe asks this node to test, and the verdicts that need no test at all
// (a source string that fails validation, a device of another node or type, an unknown parent).
// Pure: the responder runs the planned tests through the compatibility backend.
import { LIMITS, type MdevProbeSpec, type ProbeResult } from '../api/v1alpha1/index.ts';
import { checkVersionString, isTypeId } from '../api/validation.ts';
import type { DiscoveredDevice, TypeCapacity } from '../sysfs/inventory.ts';

/** One device of this node as the responder sees it: the discovered device and whether it is free. */
export interface InventoryDevice {
  device: DiscoveredDevice;
  /** No consumer known; a device in use is never a target of its own. */
  free: boolean;
  /** The version this pass read (and published), when the device is migratable. */
  version?: string;
}

export interface ProbeInventory {
  nodeName: string;
  /** By MdevDevice object name. */
  devices: ReadonlyMap<string, InventoryDevice>;
  capacity: readonly TypeCapacity[];
}

export type PlannedTest =
  | { target: 'device'; device: string; subject: DiscoveredDevice; version?: string }
  | { target: 'parent'; parent: string; subject: TypeCapacity };

export interface ProbePlan {
  /** Verdicts decided without touching a device (kept results of earlier generations included). */
  results: ProbeResult[];
  tests: PlannedTest[];
}

type Target = { device: string } | { parent: string };

function keyOf(t: Target): string {
  return 'device' in t ? `d/${t.device}` : `p/${t.parent}`;
}

function reject(t: Target, reason: string): ProbeResult {
  return { ...t, accepted: false, reason };
}

/**
 * Plans a probe. `previous` are results already written for an earlier generation of the same
 * probe (source and type are immutable, so they still hold); their targets are not tested again.
 */
export function planProbe(spec: MdevProbeSpec, inv: ProbeInventory, previous: readonly ProbeResult[] = []): ProbePlan {
  const kept = new Map(previous.map((r) => [keyOf(r.device !== undefined ? { device: r.device } : { parent: r.parent ?? '' }), r]));
  const targets = listTargets(spec, inv);
  const plan: ProbePlan = { results: [], tests: [] };
  const refusal = sourceRefusal(spec);
  for (const t of targets) {
    const done = kept.get(keyOf(t));
    if (done) plan.results.push(done);
    else if (refusal !== undefined) plan.results.push(reject(t, refusal));
    else planTarget(spec, inv, t, plan);
  }
  return plan;
}

function sourceRefusal(spec: MdevProbeSpec): string | undefined {
  const check = checkVersionString(spec.sourceVersion);
  if (!check.ok) return `source version refused before any write: ${check.reason}`;
  if (!isTypeId(spec.typeId)) return `typeId ${JSON.stringify(spec.typeId.slice(0, 64))} is not a valid mdev type id`;
  return undefined;
}

/** Listed devices, else every device of the type (plus spare capacity when none is free); then parents. */
function listTargets(spec: MdevProbeSpec, inv: ProbeInventory): Target[] {
  const targets: Target[] = [];
  const seen = new Set<string>();
  const add = (t: Target): void => {
    if (seen.has(keyOf(t))) return;
    seen.add(keyOf(t));
    targets.push(t);
  };
  const listed = spec.devices ?? [];
  const ofType = [...inv.devices].filter(([, d]) => d.device.type.id === spec.typeId);
  if (listed.length > 0) listed.forEach((device) => add({ device }));
  else ofType.slice(0, LIMITS.probeDevices).forEach(([device]) => add({ device }));
  if (listed.length === 0 && !ofType.some(([, d]) => d.free)) {
    for (const c of inv.capacity) {
      if (c.type.id === spec.typeId && c.availableInstances > 0) add({ parent: c.parent.address });
    }
  }
  for (const parent of spec.parents ?? []) add({ parent });
  if (spec.create) add({ parent: spec.create.parent });
  return targets.slice(0, LIMITS.probeDevices + LIMITS.probeParents);
}

function planTarget(spec: MdevProbeSpec, inv: ProbeInventory, t: Target, plan: ProbePlan): void {
  if ('device' in t) {
    const entry = inv.devices.get(t.device);
    if (!entry) return void plan.results.push(reject(t, `${t.device} is not a device of node ${inv.nodeName}`));
    const type = entry.device.type.id;
    if (type !== spec.typeId) {
      return void plan.results.push(reject(t, `type mismatch: ${t.device} is of type ${type}, the source is ${spec.typeId}`));
    }
    plan.tests.push({ target: 'device', device: t.device, subject: entry.device, ...(entry.version !== undefined ? { version: entry.version } : {}) });
    return;
  }
  const slot = inv.capacity.find((c) => c.parent.address === t.parent && c.type.id === spec.typeId);
  if (!slot) return void plan.results.push(reject(t, `node ${inv.nodeName} has no type ${spec.typeId} on parent ${t.parent}`));
  plan.tests.push({ target: 'parent', parent: t.parent, subject: slot });
}
