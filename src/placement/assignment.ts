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

/** Source devices grouped by pool, in source order. */
function byPool(sources: readonly SourceDevice[]): Map<string, SourceDevice[]> {
  const out = new Map<string, SourceDevice[]>();
  for (const s of sources) {
    const list = out.get(s.pool);
    if (list) list.push(s);
    else out.set(s.pool, [s]);
  }
  return out;
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
  const grouped = byPool(sources);
  const pairs: DevicePair[] = [];
  let complete = true;
  const unitOf = new Map<string, TargetRef>();
  for (const r of node.resources) {
    const inPool = grouped.get(r.pool) ?? [];
    const fit = fitPool(r, node.pools, inPool, accepts);
    if (!fit.ok) {
      complete = false;
      continue;
    }
    inPool.forEach((s, i) => unitOf.set(s.name, fit.units[i] as TargetRef));
  }
  for (const s of sources) {
    const target = unitOf.get(s.name);
    if (target) pairs.push({ source: s.name, target });
    else complete = false;
  }
  return { pairs, complete };
}

export function scoreAssignment(pairs: readonly DevicePair[], freeDevices: number, consumed: number): Score {
  const creates = pairs.filter((p) => p.target.kind === 'slot').length;
  return { creates, leftover: freeDevices - (pairs.length - creates), consumed };
}
