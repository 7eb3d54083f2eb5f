// Step 3 of §4: equivalence classes instead of exhaustive search. Candidate targets with the same
// (type, version string) answer the driver's test alike, so each class needs one answer per source
// version: from the verdict cache, or from one probe on a representative.
//
// The representative is taken from the best-ranked node holding the class, and that node's probe
// lists every target its assignment would use: the probe costs the same, and if that node wins no
// confirmation probe is needed. Representatives on the same node for the same (type, source
// version) share one probe, so probes never exceed unknown (source version, class) pairs.

import { LazyCandidate } from './lazy-candidate.ts';
import { ScreenedFilter, screenedClasses } from './screened.ts';
import { targetId, verdictKey } from './keys.ts';
import { compareStrings } from './ordering.ts';
import type { CandidateFilter, CandidateNode, ClassVerdict, EquivalenceClass, ProbeAnswer, ProbePlan, ProbeRequest, Source, TargetRef, VerdictMap } from './types.ts';
import type { VerdictCache } from './verdict-cache.ts';

/** buildClasses of a filter's candidates, counted by group where the filter has groups (screened.ts). */
export function classesOf(filter: CandidateFilter): EquivalenceClass[] {
  return filter instanceof ScreenedFilter ? screenedClasses(filter) : buildClasses(filter.candidates);
}

/** Classes of the candidates' free targets, sorted by (type, version). Candidates must be in rank order. */
export function buildClasses(candidates: readonly CandidateNode[]): EquivalenceClass[] {
  // Nested maps rather than a joined key: no string building per pool on large fleets.
  const byType = new Map<string, Map<string, EquivalenceClass>>();
  const all: EquivalenceClass[] = [];
  let last: EquivalenceClass | undefined;
  for (const node of candidates) {
    // The filter's candidates list their classes from the stock, without building their pools.
    const classes = (node instanceof LazyCandidate && node.plainClasses) || node.pools;
    for (const pool of classes) {
      // Neighbours in rank order often share a class: skip the lookups then.
      let cls = last && last.typeId === pool.typeId && last.version === pool.version ? last : undefined;
      if (!cls) {
        let byVersion = byType.get(pool.typeId);
        if (!byVersion) byType.set(pool.typeId, (byVersion = new Map()));
        cls = byVersion.get(pool.version);
      }
      if (!cls) {
        const used = node.optimistic.pairs.map((p) => p.target).filter((t) => t.typeId === pool.typeId && t.version === pool.version);
        cls = { typeId: pool.typeId, version: pool.version, size: 0, nodes: [], preferred: used.length > 0 ? used : [pool.targets[0] as TargetRef] };
        (byType.get(pool.typeId) as Map<string, EquivalenceClass>).set(pool.version, cls);
        all.push(cls);
      }
      last = cls;
      cls.size += pool.targets.length;
      if (cls.nodes[cls.nodes.length - 1] !== node.name) cls.nodes.push(node.name);
    }
  }
  return all.sort((a, b) => compareStrings(a.typeId, b.typeId) || compareStrings(a.version, b.version));
}

export function planProbes(source: Source, classes: readonly EquivalenceClass[], cache: VerdictCache): ProbePlan {
  const verdicts: VerdictMap = new Map();
  const batches = new Map<string, ProbeRequest>();
  let unknownPairs = 0;
  for (const cls of classes) {
    for (const sourceVersion of source.versionsByType.get(cls.typeId) ?? []) {
      const cached = cache.get(cls.typeId, sourceVersion, cls.version);
      if (cached) {
        verdicts.set(verdictKey(cls.typeId, sourceVersion, cls.version), { ...cached, origin: 'cache', probedTargets: [] });
        continue;
      }
      unknownPairs++;
      const nodeName = (cls.preferred[0] as TargetRef).nodeName;
      const batchKey = `${nodeName}\u0000${verdictKey(cls.typeId, sourceVersion, '')}`;
      let probe = batches.get(batchKey);
      if (!probe) batches.set(batchKey, (probe = { nodeName, typeId: cls.typeId, sourceVersion, targets: [] }));
      probe.targets.push(...cls.preferred);
    }
  }
  const probes = [...batches.values()].map(normalizeProbe).sort(compareProbes);
  return { classes: [...classes], probes, verdicts, unknownPairs };
}

/** Targets deduplicated (slots repeat per instance) and sorted by id. */
export function normalizeProbe(probe: ProbeRequest): ProbeRequest {
  const byId = new Map<string, TargetRef>();
  for (const t of probe.targets) byId.set(targetId(t), t);
  const targets = [...byId.entries()].sort((a, b) => compareStrings(a[0], b[0])).map(([, t]) => t);
  return { ...probe, targets };
}

export function compareProbes(a: ProbeRequest, b: ProbeRequest): number {
  return compareStrings(a.nodeName, b.nodeName) || compareStrings(a.typeId, b.typeId) || compareStrings(a.sourceVersion, b.sourceVersion);
}

/**
 * Fold probe answers into the verdicts (returns a new map) and into the cache. Results for targets
 * the request did not list are ignored. Two targets of one class answering differently break the
 * protocol's contract; the class is then rejected, because a wrong "accept" costs a failed
 * migration while a wrong "reject" only costs a candidate.
 */
export function applyProbeAnswers(verdicts: VerdictMap, answers: readonly ProbeAnswer[], cache?: VerdictCache): VerdictMap {
  const out: VerdictMap = new Map(verdicts);
  const touched = new Map<string, { typeId: string; sourceVersion: string; targetVersion: string }>();
  for (const { request, results } of answers) {
    const targets = new Map(request.targets.map((t) => [targetId(t), t] as const));
    for (const result of results) {
      const target = targets.get(result.target);
      if (!target) continue;
      const key = verdictKey(request.typeId, request.sourceVersion, target.version);
      out.set(key, merge(out.get(key), result.target, result.accepted, result.reason));
      touched.set(key, { typeId: request.typeId, sourceVersion: request.sourceVersion, targetVersion: target.version });
    }
  }
  if (cache) {
    for (const [key, k] of touched) {
      const v = out.get(key) as ClassVerdict;
      cache.set(k.typeId, k.sourceVersion, k.targetVersion, v.reason === undefined ? { accepted: v.accepted } : { accepted: v.accepted, reason: v.reason });
    }
  }
  return out;
}

function merge(prior: ClassVerdict | undefined, target: string, accepted: boolean, answerReason: string | undefined): ClassVerdict {
  const fresh: ClassVerdict = { accepted, origin: 'probe', probedTargets: [target] };
  if (!accepted) fresh.reason = answerReason ?? 'driver rejected the source version';
  if (!prior || prior.origin === 'cache') return fresh;
  if (prior.accepted === accepted) {
    return prior.probedTargets.includes(target) ? prior : { ...prior, probedTargets: [...prior.probedTargets, target].sort(compareStrings) };
  }
  const rejection = (accepted ? prior.reason : fresh.reason) ?? '';
  const reason = rejection.startsWith(INCONSISTENT) ? rejection : `${INCONSISTENT}${rejection}`;
  return { accepted: false, origin: 'probe', probedTargets: [], reason };
}

const INCONSISTENT = 'targets with one version string answered differently, so all are treated as rejected: ';
