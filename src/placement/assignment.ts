// Whether a node can take the VMI, pool by pool. The device plugin hands the target pod any free
// device of each resource it requests, so there is nothing to match: a pool fits when every class of
// its free devices accepts every source version in the pool, and it has enough unclaimed units —
// or, with allowCreateTarget, accepting slots for the rest (a created device joins the pool). The
// pairs name one representative unit per source device (a free device, or the slot to create).

import type { CandidateNode, DevicePair, ResourcePool, Score, SourceDevice, TargetPool, TargetRef } from './types.ts';

/** Does a target of `typeId` publishing `targetVersion` accept `sourceVersion`? */
export type Accepts = (typeId: string, sourceVersion: string, targetVersion: string) => boolean;

export interface AssignmentResult {
  /** One pair per source device when complete, in source order; partial otherwise. */
  pairs: DevicePair[];
  complete: boolean;
}

type Fit = { ok: true; units: TargetRef[] } | { ok: false };

/** Source devices of `pool`, in source order; a VMI has one or two devices, so no map. */
function inPool(sources: readonly SourceDevice[], pool: string): readonly SourceDevice[] {
  let all = true;
  for (const s of sources) if (s.pool !== pool) all = false;
  return all ? sources : sources.filter((s) => s.pool === pool);
}

function classAccepts(cls: TargetPool, sources: readonly SourceDevice[], accepts: Accepts): boolean {
  for (const s of sources) if (cls.typeId !== s.typeId || !accepts(cls.typeId, s.version, cls.version)) return false;
  return true;
}

/** The units `sources` take in one pool: existing devices first, then slots of accepting classes. */
function fitPool(r: ResourcePool, classes: readonly TargetPool[], sources: readonly SourceDevice[], accepts: Accepts): Fit {
  for (const j of r.deviceClasses) if (!classAccepts(classes[j] as TargetPool, sources, accepts)) return { ok: false };
  const fromDevices = Math.max(0, Math.min(r.available, sources.length));
  const units: TargetRef[] = [];
  // Distinct representatives while they last (the node has at least `free` of them).
  outer: for (const j of r.deviceClasses) {
    for (const t of (classes[j] as TargetPool).targets) {
      if (units.length === fromDevices) break outer;
      units.push(t);
    }
  }
  let toCreate = sources.length - units.length;
  if (toCreate === 0) return { ok: true, units };
  // Claims beyond the free devices would take any device created first (candidates never are).
  if (r.available < 0) return { ok: false };
  const created: TargetRef[] = [];
  for (const j of r.slotClasses) {
    const cls = classes[j] as TargetPool;
    if (!classAccepts(cls, sources, accepts)) continue;
    for (const t of cls.targets) {
      if (toCreate === 0) break;
      created.push(t);
      toCreate--;
    }
  }
  if (toCreate > 0) return { ok: false };
  return { ok: true, units: [...units, ...created] };
}

/** Fits every pool of the VMI on `node`; pairs cover the source devices of the pools that fit. */
export function assignTargets(sources: readonly SourceDevice[], node: Pick<CandidateNode, 'pools' | 'resources'>, accepts: Accepts): AssignmentResult {
  const only = node.resources.length === 1 ? (node.resources[0] as ResourcePool) : undefined;
  if (only && inPool(sources, only.pool) === sources) {
    // One pool holds every source device (the usual VMI): its fit is the whole assignment.
    const fit = fitPool(only, node.pools, sources, accepts);
    if (!fit.ok) return { pairs: [], complete: false };
    return { pairs: sources.map((s, k) => ({ source: s.name, target: fit.units[k] as TargetRef })), complete: true };
  }
  // The unit of each source device, by its index: source devices are few, and names are unique.
  const unit = new Array<TargetRef | undefined>(sources.length);
  let complete = true;
  for (const r of node.resources) {
    const members = inPool(sources, r.pool);
    const fit = fitPool(r, node.pools, members, accepts);
    if (!fit.ok) {
      complete = false;
      continue;
    }
    for (let k = 0; k < members.length; k++) unit[sources.indexOf(members[k] as SourceDevice)] = fit.units[k];
  }
  const pairs: DevicePair[] = [];
  for (let i = 0; i < sources.length; i++) {
    const target = unit[i];
    if (target) pairs.push({ source: (sources[i] as SourceDevice).name, target });
    else complete = false;
  }
  return { pairs, complete };
}

/** Whether every class of `node` (device and slot classes alike) accepts its pool's source devices: then any assignment is the optimistic one. */
export function acceptsAll(sources: readonly SourceDevice[], node: Pick<CandidateNode, 'pools' | 'resources'>, accepts: Accepts): boolean {
  for (const r of node.resources) {
    const members = inPool(sources, r.pool);
    for (const j of r.deviceClasses) if (!classAccepts(node.pools[j] as TargetPool, members, accepts)) return false;
    for (const j of r.slotClasses) if (!classAccepts(node.pools[j] as TargetPool, members, accepts)) return false;
  }
  return true;
}

export function scoreAssignment(pairs: readonly DevicePair[], freeDevices: number, consumed: number): Score {
  let creates = 0;
  for (const p of pairs) if (p.target.kind === 'slot') creates++;
  return { creates, leftover: freeDevices - (pairs.length - creates), consumed };
}
