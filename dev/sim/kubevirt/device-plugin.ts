// STAND-IN for the kubelet's device manager and a device plugin on the migration target: when the
// target pod is admitted on its node, every resource its compute container requests gets that many
// device ids picked from the node's free ones — any free id of the resource, as the kubelet does
// for a plugin without GetPreferredAllocation (KubeVirt's mediated-device plugin has none: it
// advertises the mdevs of one type name as interchangeable). The pick is random with a seed, so
// tests can make the operator's pool rule matter and still replay a run.

/** A small deterministic PRNG (mulberry32): the same seed gives the same sequence. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface AllocationRequest {
  /** Resource name → units requested (the compute container's extended-resource limits). */
  requests: ReadonlyMap<string, number>;
  /** Resource name → free device ids on the node (not held by any pod), in any order. */
  free: ReadonlyMap<string, readonly string[]>;
}

export type AllocationResult = { ok: true; deviceIds: string[] } | { ok: false; reason: string };

/** Picks the devices, or says which resource the node cannot satisfy (kubelet admission fails then). */
export function allocate(req: AllocationRequest, random: () => number): AllocationResult {
  const out: string[] = [];
  for (const [resource, count] of [...req.requests].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const pool = [...(req.free.get(resource) ?? [])].sort();
    if (pool.length < count) {
      return { ok: false, reason: `UnexpectedAdmissionError: requested ${count} of ${resource}, ${pool.length} available on the node` };
    }
    for (let i = 0; i < count; i++) out.push(...pool.splice(Math.floor(random() * pool.length), 1));
  }
  return { ok: true, deviceIds: out };
}
