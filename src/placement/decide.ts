// Step 4 of §4: with a verdict per class, a node is Compatible when every pool the VMI needs fits
// there (every class of its free devices accepts the source, enough unclaimed units or accepting
// slots), ranked by score; every other node is explained.

import { assignTargets } from './assignment.ts';
import { LazyCandidate, rankScoreOf } from './lazy-candidate.ts';
import { ScreenedFilter } from './screened.ts';
import type { Accepts } from './assignment.ts';
import { compareProbes, normalizeProbe } from './classes.ts';
import { targetId, verdictKey } from './keys.ts';
import { compareStrings } from './ordering.ts';
import type { CandidateFilter, CandidateNode, ClassVerdict, Decision, DevicePair, NodeExplanation, ProbeRequest, RankedNode, Source, SourceDevice, TargetPool, TargetRef, Verdict, VerdictMap } from './types.ts';

/** Order of verdicts in explanations: the most useful first. */
export const VERDICT_ORDER: readonly Verdict[] = ['Compatible', 'Incompatible', 'NoCapacity', 'TypeMismatch', 'AgentUnavailable', 'Excluded'];
const VERDICT_RANK = new Map(VERDICT_ORDER.map((v, i) => [v, i]));

export function decide(source: Source, filter: CandidateFilter, verdicts: VerdictMap): Decision {
  if (filter instanceof ScreenedFilter) return decideByGroups(source, filter, verdicts);
  const lookup = memoizedLookup(verdicts);
  const accepts: Accepts = (typeId, sourceVersion, targetVersion) => lookup(typeId, sourceVersion, targetVersion)?.accepted === true;
  const sources = source.devices;
  const byPool = sourcesByPool(sources);
  // Candidates come in (optimistic score, name) order and a Compatible node scores as it did
  // optimistically (the same units fit, only which classes answered differs), so the Compatible
  // ones, in candidate order, are the ranking: the first is chosen, the rest are ranked on demand.
  const compatible: { node: CandidateNode; pairs: DevicePair[] | undefined }[] = [];
  const incompatible: CandidateNode[] = [];
  for (const node of filter.candidates) {
    const fit = quickFit(node, byPool, accepts);
    if (fit === 'all') {
      compatible.push({ node, pairs: undefined });
      continue;
    }
    if (fit === 'none') {
      incompatible.push(node);
      continue;
    }
    const { pairs, complete } = assignTargets(sources, node, accepts);
    if (complete) compatible.push({ node, pairs });
    else incompatible.push(node);
  }
  const first = compatible[0];
  const chosen = first ? rankedOf(first.node, first.pairs) : null;
  const totals = countVerdicts(compatible.length, incompatible.length, filter.rejected);
  const state: DecisionState = {
    chosen,
    chosenNode: first?.node,
    totals,
    reason: chosen ? '' : noTargetReason(source, totals),
    ranking: once(() => (chosen ? [chosen, ...compatible.slice(1).map((c) => rankedOf(c.node, c.pairs))] : [])),
    explanations: once(() => explain(source, lookup, state.ranking(), incompatible, filter.rejected)),
  };
  return new LazyDecision(state, first && chosen ? confirmations(source, chosen, first.node, verdicts) : []);
}

/**
 * `decide` on a screened filter: a candidate holds only classes of free devices of one pool, so it
 * is Compatible exactly when every class it holds accepts, and the candidates of one group (same
 * classes) answer alike. Each class and group is judged once; the chosen node is the best-ranked
 * candidate of the accepting groups, and the totals are the groups' sizes. Ranking and
 * explanations walk the candidates only when read.
 */
function decideByGroups(source: Source, filter: ScreenedFilter, verdicts: VerdictMap): Decision {
  const lookup = memoizedLookup(verdicts);
  const { classes, list } = filter.groups;
  const classOk = classes.map((c) => source.devices.every((s) => c.typeId === s.typeId && lookup(c.typeId, s.version, c.version)?.accepted === true));
  const stamp = filter.mark();
  const groupOk = new Uint8Array(list.length);
  let best = -1;
  let compatible = 0;
  let incompatible = 0;
  list.forEach((g, gi) => {
    const size = filter.sizeOf(gi);
    if (size === 0) return;
    if (!g.classes.every((k) => classOk[k])) {
      incompatible += size;
      return;
    }
    groupOk[gi] = 1;
    compatible += size;
    const first = filter.firstOf(gi, stamp);
    if (first >= 0 && (best < 0 || first < best)) best = first;
  });
  const node = best >= 0 ? filter.candidateAt(best) : undefined;
  const chosen = node ? rankedOf(node, undefined) : null;
  const counts = filter.counts;
  const totals = Object.fromEntries(VERDICT_ORDER.map((v) => [v, counts[v]])) as Record<Verdict, number>;
  totals.Compatible = compatible;
  totals.Incompatible += incompatible;
  const split = once(() => {
    const { list: candidates, groups } = filter.listed();
    const ranked: RankedNode[] = [];
    const refused: CandidateNode[] = [];
    candidates.forEach((c, i) => {
      if (!groupOk[groups[i] as number]) refused.push(c);
      else if (c !== node) ranked.push(rankedOf(c, undefined));
    });
    return { ranked, refused };
  });
  const state: DecisionState = {
    chosen,
    chosenNode: node,
    totals,
    reason: chosen ? '' : noTargetReason(source, totals),
    ranking: once(() => (chosen ? [chosen, ...split().ranked] : [])),
    explanations: once(() => explain(source, lookup, state.ranking(), split().refused, filter.rejected)),
    first: (limit) => (filter.sorted ? firstByGroups(source, filter, lookup, chosen, groupOk, limit) : state.explanations().slice(0, Math.max(0, limit))),
  };
  return new LazyDecision(state, chosen && node ? confirmations(source, chosen, node, verdicts) : []);
}

/**
 * The first `limit` explanations of a grouped decision, in display order, from one walk over the
 * nodes in name order that keeps at most `limit` per verdict and stops once the Compatible ones
 * fill the list (the usual case: a status write reads 20 of them). Builds the pools of only the
 * candidates it describes.
 */
function firstByGroups(source: Source, filter: ScreenedFilter, lookup: VerdictLookup, chosen: RankedNode | null, groupOk: Uint8Array, limit: number): NodeExplanation[] {
  if (limit <= 0) return [];
  const describe = compatibleDescriber();
  const explainIncompatible = incompatibleExplainer(source, lookup);
  const head: NodeExplanation[] = chosen ? [{ node: chosen.node, verdict: 'Compatible', message: describe(chosen, true) }] : [];
  const room = limit - head.length;
  const buckets: NodeExplanation[][] = VERDICT_ORDER.map(() => []);
  const compatible = buckets[0] as NodeExplanation[];
  if (room > 0) {
    filter.walk((name, rejection, rank, group) => {
      if (rejection) {
        const bucket = buckets[VERDICT_RANK.get(rejection.verdict) as number] as NodeExplanation[];
        if (bucket.length < room) bucket.push(rejection);
        return true;
      }
      if (name === chosen?.node) return true;
      const node = filter.candidateAt(rank);
      if (groupOk[group]) compatible.push({ node: name, verdict: 'Compatible', message: describe(rankedOf(node, undefined), false) });
      else if ((buckets[1] as NodeExplanation[]).length < room) (buckets[1] as NodeExplanation[]).push({ node: name, verdict: 'Incompatible', message: explainIncompatible(node) });
      return compatible.length < room;
    });
  }
  return head.concat(...buckets).slice(0, limit);
}

/**
 * The first `limit` of `decision.explanations`, building no more of them than that takes where the
 * decision allows (a grouped decision on a half in name order); otherwise a prefix of the full list.
 */
export function firstExplanations(decision: Decision, limit: number): NodeExplanation[] {
  const first = LazyDecision.stateOf(decision)?.first;
  return first ? first(limit) : boundedCandidates(decision.explanations, limit);
}

/**
 * What a decision is made of. The ranking and the explanations cover every node, so they are built
 * only when read: placing a VMI needs the chosen node and the totals; a status takes the first few
 * explanations, and a refusal or `explain` the rest.
 */
interface DecisionState {
  chosen: RankedNode | null;
  /** The chosen candidate (its pools and classes), for the confirmations of later rounds. */
  chosenNode: CandidateNode | undefined;
  totals: Record<Verdict, number>;
  reason: string;
  ranking: () => RankedNode[];
  explanations: () => NodeExplanation[];
  /** The first explanations without building the rest, where the decision can (firstExplanations). */
  first?: (limit: number) => NodeExplanation[];
}

/**
 * A Decision whose ranking and explanations are built on first read. A class rather than an
 * object literal with getters: V8 allocates such literals in the old generation, where a dead
 * decision would keep its whole young filter alive through every scavenge until a full collection.
 */
class LazyDecision implements Decision {
  readonly chosen: RankedNode | null;
  readonly needsConfirmation: boolean;
  readonly confirmationProbes: ProbeRequest[];
  readonly totals: Record<Verdict, number>;
  readonly reason: string;
  readonly #state: DecisionState;

  constructor(state: DecisionState, confirmationProbes: ProbeRequest[]) {
    this.chosen = state.chosen;
    this.needsConfirmation = confirmationProbes.length > 0;
    this.confirmationProbes = confirmationProbes;
    this.totals = state.totals;
    this.reason = state.reason;
    this.#state = state;
  }

  get ranking(): RankedNode[] {
    return this.#state.ranking();
  }

  get explanations(): NodeExplanation[] {
    return this.#state.explanations();
  }

  static stateOf(decision: Decision): DecisionState | undefined {
    return decision instanceof LazyDecision ? decision.#state : undefined;
  }
}

function once<T>(build: () => T): () => T {
  let value: T | undefined;
  let done = false;
  return () => {
    if (!done) {
      value = build();
      done = true;
    }
    return value as T;
  };
}

/** A Compatible node's ranking entry; where every class accepted, its pairs are the optimistic ones. */
function rankedOf(node: CandidateNode, pairs: DevicePair[] | undefined): RankedNode {
  return { node: node.name, score: rankScoreOf(node), pairs: pairs ?? node.optimistic.pairs };
}

function sourcesByPool(sources: readonly SourceDevice[]): Map<string, SourceDevice[]> {
  const out = new Map<string, SourceDevice[]>();
  for (const s of sources) {
    const list = out.get(s.pool);
    if (list) list.push(s);
    else out.set(s.pool, [s]);
  }
  return out;
}

/**
 * 'all' when every class of the node accepts its pool's source devices (then the optimistic
 * assignment stands), 'none' when a class of free devices does not (the plugin may hand out any of
 * them, so that pool never fits), otherwise 'some' (a slot class refused; others may make up for
 * it): match for real.
 */
function quickFit(node: CandidateNode, byPool: ReadonlyMap<string, readonly SourceDevice[]>, accepts: Accepts): 'all' | 'none' | 'some' {
  // The filter's candidates answer without building their pools when no slot is involved.
  const plain = node instanceof LazyCandidate ? node.plainClasses : undefined;
  if (plain) {
    for (const cls of plain) if (!classAccepts(cls, byPool, accepts)) return 'none';
    return 'all';
  }
  // A refusing device class fails its pool whatever the slots; a refusing slot class may be made up for by others.
  for (const cls of node.pools) if (cls.targets[0]?.kind !== 'slot' && !classAccepts(cls, byPool, accepts)) return 'none';
  for (const cls of node.pools) if (!classAccepts(cls, byPool, accepts)) return 'some';
  return 'all';
}

function classAccepts(cls: TargetPool, byPool: ReadonlyMap<string, readonly SourceDevice[]>, accepts: Accepts): boolean {
  for (const s of byPool.get(cls.pool) ?? NO_SOURCES) if (cls.typeId !== s.typeId || !accepts(cls.typeId, s.version, cls.version)) return false;
  return true;
}

const NO_SOURCES: readonly SourceDevice[] = [];

/** Every node but the source, in display order (see sortExplanations). */
function explain(source: Source, lookup: VerdictLookup, ranking: readonly RankedNode[], incompatible: readonly CandidateNode[], rejected: readonly NodeExplanation[]): NodeExplanation[] {
  const describe = compatibleDescriber();
  const explainIncompatible = incompatibleExplainer(source, lookup);
  const compatible = ranking.map((r, i) => ({ node: r.node, verdict: 'Compatible' as const, message: describe(r, i === 0) }));
  const refused = incompatible.map((node) => ({ node: node.name, verdict: 'Incompatible' as const, message: explainIncompatible(node) }));
  return sortExplanations([compatible, refused, rejected], ranking[0]?.node);
}

/**
 * `decide` again after confirmation answers. Matching and explanations read only whether each
 * verdict exists, accepts, and its reason; when no answer changed those, only the confirmations
 * can differ, so the previous decision is kept and they alone are recomputed. A confirmation that
 * agrees with the cache (the usual warm decision) thus costs no second pass over the fleet.
 */
export function redecide(source: Source, filter: CandidateFilter, previous: Decision, before: VerdictMap, after: VerdictMap): Decision {
  const state = LazyDecision.stateOf(previous);
  if (!state || !sameOutcomes(before, after)) return decide(source, filter, after);
  const confirmationProbes = previous.chosen && state.chosenNode ? confirmations(source, previous.chosen, state.chosenNode, after) : [];
  return new LazyDecision(state, confirmationProbes);
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
  // A VMI usually has one type and one source version: the last (type, source) pair skips two lookups.
  let lastType: string | undefined;
  let lastSource: string | undefined;
  let lastTargets: Map<string, ClassVerdict | null> | undefined;
  return (typeId, sourceVersion, targetVersion) => {
    let byTarget = typeId === lastType && sourceVersion === lastSource ? lastTargets : undefined;
    if (!byTarget) {
      let bySource = memo.get(typeId);
      if (!bySource) memo.set(typeId, (bySource = new Map()));
      byTarget = bySource.get(sourceVersion);
      if (!byTarget) bySource.set(sourceVersion, (byTarget = new Map()));
      lastType = typeId;
      lastSource = sourceVersion;
      lastTargets = byTarget;
    }
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

/** describeCompatible, built once per distinct fit: nodes repeat a handful of (devices, score) shapes. */
function compatibleDescriber(): (r: RankedNode, isChosen: boolean) => string {
  const memo = new Map<number, string>();
  return (r, isChosen) => {
    const { creates, leftover, consumed } = r.score;
    const n = r.pairs.length;
    // Packed into 44 bits when each part fits its field (always, but for absurd nodes), so keys never collide.
    if (isChosen || n >= 64 || creates >= 64 || leftover < -32768 || leftover >= 32768 || consumed >= 65536) return describeCompatible(r, isChosen);
    const key = ((n * 64 + creates) * 65536 + leftover + 32768) * 65536 + consumed;
    let message = memo.get(key);
    if (message === undefined) memo.set(key, (message = describeCompatible(r, false)));
    return message;
  };
}

/**
 * Why `node` cannot take the VMI: how many free devices of each pool reject it (a pool is only
 * usable when all do accept, since the device plugin may hand out any of them), the drivers'
 * reasons, and classes still without an answer. The message depends only on the node's pool shapes
 * (classes, their sizes, free and available units), and nodes repeat a handful of those, so
 * messages are built once per shape.
 */
function incompatibleExplainer(source: Source, lookup: VerdictLookup): (node: CandidateNode) => string {
  const memo = new Map<string, string>();
  return (node) => {
    let key = '';
    for (const r of node.resources) {
      key += `${SEP}${r.pool}${SEP}${r.free}${SEP}${r.available}`;
      for (const j of r.deviceClasses) key += `${SEP}d${(node.pools[j] as TargetPool).version}${SEP}${(node.pools[j] as TargetPool).targets.length}`;
      for (const j of r.slotClasses) key += `${SEP}s${(node.pools[j] as TargetPool).version}${SEP}${(node.pools[j] as TargetPool).targets.length}`;
    }
    let message = memo.get(key);
    if (message === undefined) memo.set(key, (message = explainIncompatible(source, node, lookup)));
    return message;
  };
}

const SEP = '\u0000';

/** Per class of `pool` on a node: rejected by some source version, unknown, or accepted by all. */
function classState(source: Source, cls: TargetPool, lookup: VerdictLookup, reasons: Set<string>): 'rejected' | 'unknown' | 'accepted' {
  let unknown = false;
  for (const sourceVersion of versionsInPool(source, cls.pool)) {
    const v = cls.typeId === typeInPool(source, cls.pool) ? lookup(cls.typeId, sourceVersion, cls.version) : undefined;
    if (!v) unknown = true;
    else if (!v.accepted) {
      reasons.add(v.reason ?? 'driver rejected the source version');
      return 'rejected';
    }
  }
  return unknown ? 'unknown' : 'accepted';
}

function versionsInPool(source: Source, pool: string): string[] {
  const out: string[] = [];
  for (const d of source.devices) if (d.pool === pool && !out.includes(d.version)) out.push(d.version);
  return out;
}

function typeInPool(source: Source, pool: string): string | undefined {
  return source.devices.find((d) => d.pool === pool)?.typeId;
}

/** Why `node` cannot take the VMI; exported for the reference engine in the tests. */
export function explainIncompatible(source: Source, node: CandidateNode, lookup: VerdictLookup): string {
  const reasons = new Set<string>();
  const parts: string[] = [];
  let unknown = 0;
  for (const r of node.resources) {
    let rejected = 0;
    let unknownHere = 0;
    for (const j of r.deviceClasses) {
      const cls = node.pools[j] as TargetPool;
      const state = classState(source, cls, lookup, reasons);
      if (state === 'rejected') rejected += cls.targets.length;
      else if (state === 'unknown') unknownHere++;
    }
    unknown += unknownHere;
    if (rejected > 0) {
      parts.push(`${rejected} of ${r.free} free ${r.typeId} devices incompatible${rejected < r.free ? ': pool mixed' : ''}`);
      continue;
    }
    if (unknownHere > 0 || r.available >= r.wanted) continue;
    // Every free device accepts, but the pool is short: the slots to create more did not all answer yes.
    let acceptingSlots = 0;
    for (const j of r.slotClasses) {
      const cls = node.pools[j] as TargetPool;
      const state = classState(source, cls, lookup, reasons);
      if (state === 'accepted') acceptingSlots += cls.targets.length;
      else if (state === 'unknown') unknown++;
    }
    const missing = r.wanted - Math.max(0, r.available);
    if (acceptingSlots < missing) parts.push(`needs ${missing} more ${r.typeId} created, and the spare capacity for them was refused`);
  }
  const list = [...reasons].sort(compareStrings);
  if (list.length > 0) parts.push(list.slice(0, 3).join('; ') + (list.length > 3 ? ` (+${list.length - 3} more)` : ''));
  if (unknown > 0) parts.push(`not verified: no verdict for ${unknown} version class${unknown === 1 ? '' : 'es'} (probe unanswered)`);
  return parts.join('; ');
}

/**
 * Classes on the chosen node whose verdict was not given by a probe of one of that node's own
 * targets in this decision: every class of free devices of the VMI's pools (the device plugin may
 * hand out any of them) and the slot classes it creates from. One representative per class: the
 * unit the assignment uses, else the class's first target.
 */
function confirmations(source: Source, chosen: RankedNode, node: CandidateNode, verdicts: VerdictMap): ProbeRequest[] {
  const used = new Map<TargetPool, TargetRef>();
  const classOf = (t: TargetRef) => node.pools.find((c) => c.version === t.version && c.pool === t.pool && c.targets[0]?.kind === t.kind);
  for (const pair of chosen.pairs) {
    const cls = classOf(pair.target);
    if (cls && !used.has(cls)) used.set(cls, pair.target);
  }
  const classes = new Set<TargetPool>();
  for (const r of node.resources) for (const j of r.deviceClasses) classes.add(node.pools[j] as TargetPool);
  for (const cls of used.keys()) classes.add(cls);
  const batches = new Map<string, ProbeRequest>();
  for (const cls of classes) {
    const ids = new Set(cls.targets.map(targetId));
    for (const sourceVersion of versionsInPool(source, cls.pool)) {
      const v = verdicts.get(verdictKey(cls.typeId, sourceVersion, cls.version));
      if (v !== undefined && v.origin === 'probe' && v.probedTargets.some((id) => ids.has(id))) continue;
      const key = verdictKey(cls.typeId, sourceVersion, '');
      let probe = batches.get(key);
      if (!probe) batches.set(key, (probe = { nodeName: chosen.node, typeId: cls.typeId, sourceVersion, targets: [] }));
      probe.targets.push(used.get(cls) ?? (cls.targets[0] as TargetRef));
    }
  }
  return [...batches.values()].map(normalizeProbe).sort(compareProbes);
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

/** Totals from the counts of the candidates' outcomes and the filter's rejections, so nothing is explained to count it. */
function countVerdicts(compatible: number, incompatible: number, rejected: readonly NodeExplanation[]): Record<Verdict, number> {
  const totals = Object.fromEntries(VERDICT_ORDER.map((v) => [v, 0])) as Record<Verdict, number>;
  totals.Compatible = compatible;
  totals.Incompatible = incompatible;
  for (const e of rejected) totals[e.verdict]++;
  return totals;
}

function noTargetReason(source: Source, totals: Record<Verdict, number>): string {
  const vm = `VMI ${source.vm.namespace}/${source.vm.name}`;
  const counts = VERDICT_ORDER.filter((v) => totals[v] > 0).map((v) => `${totals[v]} ${v}`);
  if (counts.length === 0) return `no node other than ${source.nodeName} exists to move ${vm} to`;
  return `no node can take ${vm}: ${counts.join(', ')}; see the candidate list for each node's reason`;
}
