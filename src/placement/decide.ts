// Step 4 of §4: with a verdict per class, match every source device to a distinct accepting target
// on one node, rank the nodes that manage it, and explain every node that does not.

import { assignTargets, scoreAssignment } from './assignment.ts';
import type { Accepts } from './assignment.ts';
import { compareProbes, normalizeProbe } from './classes.ts';
import { targetId, verdictKey } from './keys.ts';
import { compareRanked, compareStrings } from './ordering.ts';
import type { CandidateFilter, CandidateNode, ClassVerdict, Decision, DevicePair, NodeExplanation, ProbeRequest, RankedNode, Source, TargetPool, Verdict, VerdictMap } from './types.ts';

/** Order of verdicts in explanations: the most useful first. */
export const VERDICT_ORDER: readonly Verdict[] = ['Compatible', 'Incompatible', 'NoCapacity', 'TypeMismatch', 'AgentUnavailable', 'Excluded'];
const VERDICT_RANK = new Map(VERDICT_ORDER.map((v, i) => [v, i]));

export function decide(source: Source, filter: CandidateFilter, verdicts: VerdictMap): Decision {
  const lookup = memoizedLookup(verdicts);
  const accepts: Accepts = (typeId, sourceVersion, targetVersion) => lookup(typeId, sourceVersion, targetVersion)?.accepted === true;
  const explainIncompatible = incompatibleExplainer(source, lookup);
  const ranking: RankedNode[] = [];
  const incompatible: NodeExplanation[] = [];
  for (const node of filter.candidates) {
    const { pairs, complete } = assignTargets(source.devices, node.pools, accepts);
    if (complete) ranking.push({ node: node.name, score: scoreAssignment(pairs, node.freeDevices, node.consumed), pairs });
    else incompatible.push({ node: node.name, verdict: 'Incompatible', message: explainIncompatible(node, pairs.length) });
  }
  ranking.sort(compareRanked);
  const chosen = ranking[0] ?? null;
  const confirmationProbes = chosen ? confirmations(source, chosen, verdicts) : [];
  const compatible = ranking.map((r, i) => ({ node: r.node, verdict: 'Compatible' as const, message: describeCompatible(r, i === 0) }));
  const explanations = sortExplanations([compatible, incompatible, filter.rejected], chosen?.node);
  const totals = countVerdicts(explanations);
  return {
    ranking,
    chosen,
    needsConfirmation: confirmationProbes.length > 0,
    confirmationProbes,
    explanations,
    totals,
    reason: chosen ? '' : noTargetReason(source, totals),
  };
}

/**
 * `decide` again after confirmation answers. Matching and explanations read only whether each
 * verdict exists, accepts, and its reason; when no answer changed those, only the confirmations
 * can differ, so the previous decision is kept and they alone are recomputed. A confirmation that
 * agrees with the cache (the usual warm decision) thus costs no second pass over the fleet.
 */
export function redecide(source: Source, filter: CandidateFilter, previous: Decision, before: VerdictMap, after: VerdictMap): Decision {
  if (!sameOutcomes(before, after)) return decide(source, filter, after);
  const confirmationProbes = previous.chosen ? confirmations(source, previous.chosen, after) : [];
  return { ...previous, needsConfirmation: confirmationProbes.length > 0, confirmationProbes };
}

function sameOutcomes(before: VerdictMap, after: VerdictMap): boolean {
  if (before.size !== after.size) return false;
  for (const [key, v] of after) {
    const prior = before.get(key);
    if (!prior || prior.accepted !== v.accepted || prior.reason !== v.reason) return false;
  }
  return true;
}

/**
 * Verdict lookups through nested maps filled on first use: the same few (type, source, target)
 * triples are asked about on every node, and building the joined key each time dominated large
 * decisions.
 */
type VerdictLookup = (typeId: string, sourceVersion: string, targetVersion: string) => ClassVerdict | undefined;

function memoizedLookup(verdicts: VerdictMap): VerdictLookup {
  const memo = new Map<string, Map<string, Map<string, ClassVerdict | null>>>();
  return (typeId, sourceVersion, targetVersion) => {
    let bySource = memo.get(typeId);
    if (!bySource) memo.set(typeId, (bySource = new Map()));
    let byTarget = bySource.get(sourceVersion);
    if (!byTarget) bySource.set(sourceVersion, (byTarget = new Map()));
    let v = byTarget.get(targetVersion);
    if (v === undefined) {
      v = verdicts.get(verdictKey(typeId, sourceVersion, targetVersion)) ?? null;
      byTarget.set(targetVersion, v);
    }
    return v ?? undefined;
  };
}

/** The first `limit` explanations (already in display order); status objects stay small. */
export function boundedCandidates<T>(list: readonly T[], limit = 50): T[] {
  return list.slice(0, Math.max(0, limit));
}

function describeCompatible(r: RankedNode, isChosen: boolean): string {
  const n = r.pairs.length;
  const fit = `${n} device${n === 1 ? '' : 's'} matched, ${r.score.creates} to create, ${r.score.leftover} free left, ${r.score.consumed} in use`;
  return isChosen ? `chosen: ${fit}` : fit;
}

/**
 * Why no complete assignment exists: the rejection reasons on this node, or missing answers. The
 * message depends only on the node's (type, version) pools and how many devices matched, and
 * nodes repeat a handful of those, so messages are built once per shape.
 */
function incompatibleExplainer(source: Source, lookup: VerdictLookup): (node: CandidateNode, matched: number) => string {
  // Nested maps for the common single-pool node (no key to build); a joined key otherwise.
  const single = new Map<string, Map<string, string[]>>();
  const joined = new Map<string, string>();
  return (node, matched) => {
    const only = node.pools.length === 1 ? (node.pools[0] as TargetPool) : undefined;
    if (only) {
      let byVersion = single.get(only.typeId);
      if (!byVersion) single.set(only.typeId, (byVersion = new Map()));
      let byMatched = byVersion.get(only.version);
      if (!byMatched) byVersion.set(only.version, (byMatched = []));
      return (byMatched[matched] ??= explainIncompatible(source, node, lookup, matched));
    }
    let key = String(matched);
    for (const pool of node.pools) key += SEP + pool.typeId + SEP + pool.version;
    let message = joined.get(key);
    if (message === undefined) joined.set(key, (message = explainIncompatible(source, node, lookup, matched)));
    return message;
  };
}

const SEP = '\u0000';

/** Why `node` cannot take the VMI; exported for the reference engine in the tests. */
export function explainIncompatible(source: Source, node: CandidateNode, lookup: VerdictLookup, matched: number): string {
  const reasons = new Set<string>();
  let unknown = 0;
  for (const pool of node.pools) {
    for (const sourceVersion of source.versionsByType.get(pool.typeId) ?? []) {
      const v = lookup(pool.typeId, sourceVersion, pool.version);
      if (!v) unknown++;
      else if (!v.accepted) reasons.add(v.reason ?? 'driver rejected the source version');
    }
  }
  const parts: string[] = [];
  if (matched > 0) parts.push(`only ${matched} of ${source.devices.length} devices have an accepting target`);
  const list = [...reasons].sort(compareStrings);
  if (list.length > 0) parts.push(list.slice(0, 3).join('; ') + (list.length > 3 ? ` (+${list.length - 3} more)` : ''));
  if (unknown > 0) parts.push(`not verified: no verdict for ${unknown} version class${unknown === 1 ? '' : 'es'} (probe unanswered)`);
  return parts.join('; ');
}

/** Chosen targets whose verdict was not given by a probe of that very target in this decision. */
function confirmations(source: Source, chosen: RankedNode, verdicts: VerdictMap): ProbeRequest[] {
  const versionOf = new Map(source.devices.map((d) => [d.name, d.version]));
  const batches = new Map<string, ProbeRequest>();
  for (const pair of chosen.pairs) {
    if (isConfirmed(pair, versionOf, verdicts)) continue;
    const sourceVersion = versionOf.get(pair.source) as string;
    const key = verdictKey(pair.target.typeId, sourceVersion, '');
    let probe = batches.get(key);
    if (!probe) batches.set(key, (probe = { nodeName: chosen.node, typeId: pair.target.typeId, sourceVersion, targets: [] }));
    probe.targets.push(pair.target);
  }
  return [...batches.values()].map(normalizeProbe).sort(compareProbes);
}

function isConfirmed(pair: DevicePair, versionOf: Map<string, string>, verdicts: VerdictMap): boolean {
  const v = verdicts.get(verdictKey(pair.target.typeId, versionOf.get(pair.source) as string, pair.target.version));
  return v !== undefined && v.origin === 'probe' && v.probedTargets.includes(targetId(pair.target));
}

/**
 * Chosen first, then by verdict, then by name: a stable sort of the lists' concatenation by
 * (rank, name), done as a bucket per rank and a name sort within each. The rejected list arrives in
 * name order, so only the Compatible and Incompatible buckets need real sorting work.
 */
function sortExplanations(lists: readonly (readonly NodeExplanation[])[], chosen: string | undefined): NodeExplanation[] {
  const buckets: NodeExplanation[][] = [[], ...VERDICT_ORDER.map(() => [])];
  for (const list of lists) {
    for (const e of list) (buckets[e.node === chosen ? 0 : (VERDICT_RANK.get(e.verdict) as number) + 1] as NodeExplanation[]).push(e);
  }
  for (const bucket of buckets) if (!isSortedByName(bucket)) bucket.sort(byName);
  return ([] as NodeExplanation[]).concat(...buckets);
}

const byName = (a: NodeExplanation, b: NodeExplanation) => compareStrings(a.node, b.node);

function isSortedByName(list: readonly NodeExplanation[]): boolean {
  for (let i = 1; i < list.length; i++) if ((list[i - 1] as NodeExplanation).node > (list[i] as NodeExplanation).node) return false;
  return true;
}

function countVerdicts(list: readonly NodeExplanation[]): Record<Verdict, number> {
  const totals = Object.fromEntries(VERDICT_ORDER.map((v) => [v, 0])) as Record<Verdict, number>;
  for (const e of list) totals[e.verdict]++;
  return totals;
}

function noTargetReason(source: Source, totals: Record<Verdict, number>): string {
  const vm = `VMI ${source.vm.namespace}/${source.vm.name}`;
  const counts = VERDICT_ORDER.filter((v) => totals[v] > 0).map((v) => `${totals[v]} ${v}`);
  if (counts.length === 0) return `no node other than ${source.nodeName} exists to move ${vm} to`;
  return `no node can take ${vm}: ${counts.join(', ')}; see the candidate list for each node's reason`;
}
