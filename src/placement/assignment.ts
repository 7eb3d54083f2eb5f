// Matching source devices to distinct target devices on one node. A VMI with several devices needs
// one target per device, each of the same type and in a class that accepted that device's version.
// Pools are capacitated (many targets share a class), so this is a small bipartite b-matching,
// solved with augmenting paths (Kuhn): a greedy pass can fail where a matching exists when a VMI
// carries two versions of one type.

import type { DevicePair, Score, SourceDevice, TargetPool } from './types.ts';

/** Does a target of `typeId` publishing `targetVersion` accept `sourceVersion`? */
export type Accepts = (typeId: string, sourceVersion: string, targetVersion: string) => boolean;

export interface AssignmentResult {
  /** One pair per source device when complete, in source order; partial otherwise. */
  pairs: DevicePair[];
  complete: boolean;
}

export function assignTargets(sources: readonly SourceDevice[], pools: readonly TargetPool[], accepts: Accepts): AssignmentResult {
  if (sources.length === 1) return assignOne(sources[0] as SourceDevice, pools, accepts);
  return assignFirstFit(sources, pools, accepts) ?? assignByAugmenting(sources, pools, accepts);
}

/**
 * The matching's own first steps when nothing contends: augmenting from source i takes the first
 * usable pool outright if it has room, and changes nothing if no pool is usable. While every source
 * meets one of those two cases the result is the matching's, found without its bookkeeping; at the
 * first source whose first usable pool is full, undefined hands over to the full algorithm.
 */
function assignFirstFit(sources: readonly SourceDevice[], pools: readonly TargetPool[], accepts: Accepts): AssignmentResult | undefined {
  const poolOf = new Array<number>(sources.length);
  let matched = 0;
  for (let i = 0; i < sources.length; i++) {
    const s = sources[i] as SourceDevice;
    let j = 0;
    while (j < pools.length && !usable(s, pools[j] as TargetPool, accepts)) j++;
    if (j === pools.length) {
      poolOf[i] = -1;
      continue;
    }
    let held = 0;
    for (let h = 0; h < i; h++) if (poolOf[h] === j) held++;
    if (held >= (pools[j] as TargetPool).targets.length) return undefined;
    poolOf[i] = j;
    matched++;
  }
  return { pairs: materialize(sources, pools, poolOf), complete: matched === sources.length };
}

function usable(s: SourceDevice, p: TargetPool, accepts: Accepts): boolean {
  return p.typeId === s.typeId && p.targets.length > 0 && accepts(p.typeId, s.version, p.version);
}

/** Kuhn's algorithm over pools with capacities: finds a complete matching whenever one exists. */
function assignByAugmenting(sources: readonly SourceDevice[], pools: readonly TargetPool[], accepts: Accepts): AssignmentResult {
  const poolOf = new Array<number>(sources.length).fill(-1);
  const holders: number[][] = pools.map(() => []);
  const usableBy = sources.map((s) => pools.map((p) => usable(s, p, accepts)));

  const augment = (i: number, visited: Uint8Array): boolean => {
    const row = usableBy[i] as boolean[];
    for (let j = 0; j < pools.length; j++) {
      if (!row[j] || visited[j]) continue;
      visited[j] = 1;
      const held = holders[j] as number[];
      if (held.length < (pools[j] as TargetPool).targets.length) {
        held.push(i);
        poolOf[i] = j;
        return true;
      }
      for (let h = 0; h < held.length; h++) {
        const other = held[h] as number;
        if (augment(other, visited)) {
          held[h] = i;
          poolOf[i] = j;
          return true;
        }
      }
    }
    return false;
  };

  let matched = 0;
  for (let i = 0; i < sources.length; i++) {
    if (augment(i, new Uint8Array(pools.length))) matched++;
  }
  return { pairs: materialize(sources, pools, poolOf), complete: matched === sources.length };
}

/** The common single-device VMI: the first accepting pool, without building the matching state. */
function assignOne(source: SourceDevice, pools: readonly TargetPool[], accepts: Accepts): AssignmentResult {
  for (const pool of pools) {
    const target = pool.targets[0];
    if (target && pool.typeId === source.typeId && accepts(pool.typeId, source.version, pool.version)) {
      return { pairs: [{ source: source.name, target }], complete: true };
    }
  }
  return { pairs: [], complete: false };
}

/** Hand out each pool's targets in pool order to its sources in source order: deterministic. */
function materialize(sources: readonly SourceDevice[], pools: readonly TargetPool[], poolOf: number[]): DevicePair[] {
  const nextIndex = new Array<number>(pools.length).fill(0);
  const pairs: DevicePair[] = [];
  sources.forEach((s, i) => {
    const j = poolOf[i] as number;
    if (j < 0) return;
    const k = nextIndex[j] as number;
    nextIndex[j] = k + 1;
    pairs.push({ source: s.name, target: (pools[j] as TargetPool).targets[k]! });
  });
  return pairs;
}

export function scoreAssignment(pairs: readonly DevicePair[], freeDevices: number, consumed: number): Score {
  const creates = pairs.filter((p) => p.target.kind === 'slot').length;
  return { creates, leftover: freeDevices - (pairs.length - creates), consumed };
}
