// A simple reference path for the engine's steps that were restructured for speed: the candidate
// filter, the pool fit and `decide`, written the plain way (maps per node and pool, one sort of all
// explanations, a full decide after every confirmation round). The equivalence test holds the
// engine to exactly these results. It reuses only the engine's untouched parts: ordering, keys,
// scheduling predicates, the class/probe steps, the score and the message wording.

import { applyProbeAnswers, buildClasses, planProbes, resolveSource, scoreAssignment, targetId, verdictKey, VERDICT_ORDER } from '../../../src/placement/index.ts';
import type {
  CandidateFilter,
  CandidateNode,
  Capacity,
  Claim,
  Decision,
  Device,
  DevicePair,
  Fleet,
  NodeExplanation,
  PlaceInput,
  PlaceOutcome,
  Prober,
  ProbeRequest,
  RankedNode,
  ResourcePool,
  Source,
  SourceDevice,
  TargetPool,
  TargetRef,
  Verdict,
  VerdictCache,
  VerdictMap,
} from '../../../src/placement/index.ts';
import { affinityMatches, formatTaint, unmatchedSelector, untoleratedTaint } from '../../../src/placement/scheduling.ts';
import { compareProbes, normalizeProbe } from '../../../src/placement/classes.ts';
// The message text is shared on purpose: the reference checks which nodes get which verdict, and
// the engine's per-pool-shape message cache, not the wording.
import { explainIncompatible } from '../../../src/placement/decide.ts';
import { compareRanked, compareScores, compareStrings } from '../../../src/placement/ordering.ts';

type Accepts = (typeId: string, sourceVersion: string, targetVersion: string) => boolean;

function excluded(source: Source, node: Fleet['nodes'][number], allow: Set<string> | undefined): string | undefined {
  if (allow && !allow.has(node.name)) return 'not in spec.targetNodes';
  if (node.unreadable) return `the Node object could not be read: ${node.unreadable}`;
  if (node.unschedulable) return 'cordoned';
  const taint = untoleratedTaint(node.taints, source.vm.tolerations);
  if (taint) return `taint ${formatTaint(taint)} not tolerated`;
  const miss = unmatchedSelector(source.vm.nodeSelector, node.labels);
  if (miss) return `nodeSelector ${miss[0]}=${miss[1]} not matched (label ${Object.hasOwn(node.labels, miss[0]) ? `is ${node.labels[miss[0]]}` : 'is absent'})`;
  if (!affinityMatches(source.vm.requiredAffinity, node)) return 'required node affinity not satisfied (no term matches)';
  return undefined;
}

interface Stock {
  pool: string;
  typeId: string;
  wanted: number;
  versions: string[];
  present: boolean;
  free: Device[];
  inUse: number;
  claimed: number;
  slots: { capacity: Capacity; count: number }[];
  notAllowed: number;
}

function stocksOf(source: Source, node: string, fleet: Fleet, request: PlaceInput['request']): Stock[] {
  const pools = [...new Set(source.devices.map((d) => d.pool))].sort(compareStrings);
  return pools.map((pool) => {
    const mine = source.devices.filter((d) => d.pool === pool);
    const typeId = (mine[0] as SourceDevice).typeId;
    const devices = (fleet.devicesByNode.get(node) ?? []).filter((d) => d.pool === pool);
    const caps = (fleet.capacityByNode.get(node) ?? []).filter((c) => c.pool === pool && c.typeId === typeId);
    const usable = caps.filter((c) => c.version !== undefined && c.availableInstances > 0).map((capacity) => ({ capacity, count: Math.min(capacity.availableInstances, mine.length) }));
    const claims: Claim[] = (fleet.claimsByNode.get(node) ?? []).filter((c) => c.pool === pool && c.migrationUid !== request.migrationUid);
    return {
      pool,
      typeId,
      wanted: mine.length,
      versions: [...new Set(mine.map((d) => d.version))].sort(compareStrings),
      present: devices.length > 0 || caps.length > 0,
      free: devices.filter((d) => !d.consumerUid),
      inUse: devices.filter((d) => d.consumerUid).length,
      claimed: claims.reduce((n, c) => n + c.units, 0),
      slots: request.allowCreateTarget ? usable : [],
      notAllowed: request.allowCreateTarget ? 0 : usable.reduce((n, s) => n + s.count, 0),
    };
  });
}

export function referenceFilter(source: Source, fleet: Fleet, request: PlaceInput['request']): CandidateFilter {
  const allow = request.targetNodes && request.targetNodes.length > 0 ? new Set(request.targetNodes) : undefined;
  const candidates: CandidateNode[] = [];
  const rejected: NodeExplanation[] = [];
  for (const node of fleet.nodes) {
    if (node.name === source.nodeName) continue;
    const reject = (verdict: Verdict, message: string) => rejected.push({ node: node.name, verdict, message });
    if (!node.agentFresh) {
      reject('AgentUnavailable', `agent lease mdev-agent.${node.name} is expired or missing`);
      continue;
    }
    const why = excluded(source, node, allow);
    if (why) {
      reject('Excluded', why);
      continue;
    }
    const stocks = stocksOf(source, node.name, fleet, request);
    const missing = stocks.filter((s) => !s.present).map((s) => s.typeId);
    if (missing.length > 0) {
      reject('TypeMismatch', `no ${missing.join(' or ')} device${request.allowCreateTarget ? ' and no spare capacity for one' : ''}`);
      continue;
    }
    const shortages = stocks.filter((s) => !enough(s)).map(shortageText);
    if (shortages.length > 0) {
      // Claim-bound: every pool would be enough if no other migration held a claim there.
      const claimBound = stocks.every((s) => enough({ ...s, claimed: 0 }));
      rejected.push({ node: node.name, verdict: 'NoCapacity', message: shortages.join('; '), ...(claimBound ? { claimBound: true as const } : {}) });
      continue;
    }
    const mixed = stocks.map(mixedText).filter(Boolean);
    if (mixed.length > 0) {
      reject('Incompatible', mixed.join('; '));
      continue;
    }
    const { pools, resources } = referencePools(node.name, stocks);
    const freeDevices = stocks.reduce((n, s) => n + Math.max(0, s.free.length - s.claimed), 0);
    const consumed = (fleet.devicesByNode.get(node.name) ?? []).filter((d) => d.consumerUid).length;
    const { pairs } = referenceAssign(source.devices, { pools, resources }, () => true);
    candidates.push({ name: node.name, pools, resources, freeDevices, consumed, optimistic: { pairs, score: scoreAssignment(pairs, freeDevices, consumed) } });
  }
  candidates.sort((a, b) => compareScores(a.optimistic.score, b.optimistic.score) || compareStrings(a.name, b.name));
  return { candidates, rejected };
}

function enough(s: Stock): boolean {
  const unclaimed = s.free.length - s.claimed;
  const creatable = s.slots.reduce((n, x) => n + x.count, 0);
  return unclaimed >= s.wanted || (unclaimed >= 0 && unclaimed + creatable >= s.wanted);
}

function shortageText(s: Stock): string {
  const creatable = s.slots.reduce((n, x) => n + x.count, 0);
  const detail = [
    s.inUse > 0 ? `${s.inUse} in use` : '',
    s.claimed > 0 ? `${s.claimed} claimed by other migrations` : '',
    creatable > 0 ? `${creatable} creatable` : '',
    s.notAllowed > 0 ? `${s.notAllowed} creatable with allowCreateTarget` : '',
  ].filter(Boolean);
  return `needs ${s.wanted} free ${s.typeId}, has ${Math.max(0, s.free.length - s.claimed) + creatable}${detail.length > 0 ? ` (${detail.join(', ')})` : ''}`;
}

function mixedText(s: Stock): string {
  const unmigratable = s.free.filter((d) => d.typeId === s.typeId && (!d.migratable || d.version === undefined)).length;
  const foreign = new Map<string, number>();
  for (const d of s.free) if (d.typeId !== s.typeId) foreign.set(d.typeId, (foreign.get(d.typeId) ?? 0) + 1);
  const foreignCount = [...foreign.values()].reduce((a, b) => a + b, 0);
  if (unmigratable + foreignCount === 0) return '';
  const detail = [
    unmigratable > 0 ? `${unmigratable} not migratable (no migration version)` : '',
    ...[...foreign].sort(([a], [b]) => compareStrings(a, b)).map(([t, n]) => `${n} of type ${t}`),
  ].filter(Boolean);
  return `${unmigratable + foreignCount} of ${s.free.length} free ${s.typeId} devices incompatible: pool mixed (${detail.join(', ')})`;
}

function referencePools(nodeName: string, stocks: Stock[]): { pools: TargetPool[]; resources: ResourcePool[] } {
  const group = (refs: TargetRef[]) => {
    const byVersion = new Map<string, TargetRef[]>();
    for (const r of refs) byVersion.set(r.version, [...(byVersion.get(r.version) ?? []), r]);
    return [...byVersion].map(([version, targets]) => ({ typeId: (refs[0] as TargetRef).typeId, pool: (refs[0] as TargetRef).pool, version, targets }));
  };
  const devicePools: TargetPool[] = [];
  const slotPools: TargetPool[] = [];
  for (const s of stocks) {
    devicePools.push(...group(s.free.map((d) => ({ kind: 'device' as const, nodeName, name: d.name, typeId: s.typeId, pool: s.pool, parentAddress: d.parentAddress, version: d.version as string }))));
    const slots = s.slots.flatMap(({ capacity, count }) => {
      const ref: TargetRef = { kind: 'slot', nodeName, parentAddress: capacity.parentAddress, typeId: s.typeId, pool: s.pool, version: capacity.version as string };
      return Array.from({ length: count }, () => ref);
    });
    slotPools.push(...group(slots));
  }
  const versionsOf = new Map(stocks.map((s) => [s.pool, s.versions]));
  const order = (pools: TargetPool[]) =>
    pools
      .map((pool) => ({ pool, exact: (versionsOf.get(pool.pool) ?? []).includes(pool.version) ? 0 : 1 }))
      .sort((a, b) => compareStrings(a.pool.pool, b.pool.pool) || compareStrings(a.pool.typeId, b.pool.typeId) || a.exact - b.exact || compareStrings(a.pool.version, b.pool.version))
      .map((k) => k.pool);
  const pools = [...order(devicePools), ...order(slotPools)];
  const resources = stocks.map((s) => ({
    pool: s.pool,
    typeId: s.typeId,
    wanted: s.wanted,
    free: s.free.length,
    available: s.free.length - s.claimed,
    deviceClasses: pools.flatMap((c, j) => (c.pool === s.pool && c.targets[0]?.kind === 'device' ? [j] : [])),
    slotClasses: pools.flatMap((c, j) => (c.pool === s.pool && c.targets[0]?.kind === 'slot' ? [j] : [])),
  }));
  return { pools, resources };
}

/** The pool rule stated plainly: every free class accepts every source version of its pool; units from devices, then slots. */
export function referenceAssign(sources: readonly SourceDevice[], node: Pick<CandidateNode, 'pools' | 'resources'>, accepts: Accepts): { pairs: DevicePair[]; complete: boolean } {
  const chosen = new Map<string, TargetRef>();
  let complete = true;
  for (const r of node.resources) {
    const mine = sources.filter((s) => s.pool === r.pool);
    const ok = (c: TargetPool) => mine.every((s) => c.typeId === s.typeId && accepts(c.typeId, s.version, c.version));
    const deviceClasses = r.deviceClasses.map((j) => node.pools[j] as TargetPool);
    if (!deviceClasses.every(ok)) {
      complete = false;
      continue;
    }
    const fromDevices = deviceClasses.flatMap((c) => c.targets).slice(0, Math.max(0, Math.min(r.available, mine.length)));
    const rest = mine.length - fromDevices.length;
    const slots = rest > 0 && r.available >= 0 ? r.slotClasses.map((j) => node.pools[j] as TargetPool).filter(ok).flatMap((c) => c.targets).slice(0, rest) : [];
    if (fromDevices.length + slots.length < mine.length) {
      complete = false;
      continue;
    }
    const units = [...fromDevices, ...slots];
    mine.forEach((s, i) => chosen.set(s.name, units[i] as TargetRef));
  }
  const pairs = sources.flatMap((s) => (chosen.has(s.name) ? [{ source: s.name, target: chosen.get(s.name) as TargetRef }] : []));
  return { pairs, complete: complete && pairs.length === sources.length };
}

export function referenceDecide(source: Source, filter: CandidateFilter, verdicts: VerdictMap): Decision {
  const get = (t: string, s: string, v: string) => verdicts.get(verdictKey(t, s, v));
  const ranking: RankedNode[] = [];
  const incompatible: NodeExplanation[] = [];
  for (const node of filter.candidates) {
    const { pairs, complete } = referenceAssign(source.devices, node, (t, s, v) => get(t, s, v)?.accepted === true);
    if (complete) ranking.push({ node: node.name, score: scoreAssignment(pairs, node.freeDevices, node.consumed), pairs });
    else incompatible.push({ node: node.name, verdict: 'Incompatible', message: explainIncompatible(source, node, get) });
  }
  ranking.sort(compareRanked);
  const chosen = ranking[0] ?? null;
  const chosenNode = chosen ? filter.candidates.find((c) => c.name === chosen.node) : undefined;
  const confirmationProbes = chosen && chosenNode ? referenceConfirmations(source, chosen, chosenNode, verdicts) : [];
  const compatible = ranking.map((r, i) => {
    const fit = `${r.pairs.length} device${r.pairs.length === 1 ? '' : 's'} matched, ${r.score.creates} to create, ${r.score.leftover} free left, ${r.score.consumed} in use`;
    return { node: r.node, verdict: 'Compatible' as const, message: i === 0 ? `chosen: ${fit}` : fit };
  });
  const rank = (e: NodeExplanation) => (e.node === chosen?.node ? -1 : VERDICT_ORDER.indexOf(e.verdict));
  const explanations = [...compatible, ...incompatible, ...filter.rejected].sort((a, b) => rank(a) - rank(b) || compareStrings(a.node, b.node));
  const totals = Object.fromEntries(VERDICT_ORDER.map((v) => [v, explanations.filter((e) => e.verdict === v).length])) as Record<Verdict, number>;
  const counts = VERDICT_ORDER.filter((v) => totals[v] > 0).map((v) => `${totals[v]} ${v}`);
  const vm = `VMI ${source.vm.namespace}/${source.vm.name}`;
  const reason = chosen
    ? ''
    : counts.length === 0
      ? `no node other than ${source.nodeName} exists to move ${vm} to`
      : `no node can take ${vm}: ${counts.join(', ')}; see the candidate list for each node's reason`;
  return { ranking, chosen, needsConfirmation: confirmationProbes.length > 0, confirmationProbes, explanations, totals, reason };
}

/** Every free class of the chosen node's pools, and every slot class it uses, needs an answer about one of its own targets. */
function referenceConfirmations(source: Source, chosen: RankedNode, node: CandidateNode, verdicts: VerdictMap): ProbeRequest[] {
  const classes: { cls: TargetPool; rep: TargetRef }[] = [];
  const add = (cls: TargetPool, rep: TargetRef) => {
    if (!classes.some((c) => c.cls === cls)) classes.push({ cls, rep });
  };
  for (const pair of chosen.pairs) {
    const cls = node.pools.find((c) => c.version === pair.target.version && c.pool === pair.target.pool && c.targets[0]?.kind === pair.target.kind);
    if (cls) add(cls, pair.target);
  }
  for (const r of node.resources) for (const j of r.deviceClasses) add(node.pools[j] as TargetPool, (node.pools[j] as TargetPool).targets[0] as TargetRef);
  const batches = new Map<string, ProbeRequest>();
  for (const { cls, rep } of classes) {
    const ids = cls.targets.map(targetId);
    const versions = [...new Set(source.devices.filter((d) => d.pool === cls.pool).map((d) => d.version))];
    for (const sourceVersion of versions) {
      const v = verdicts.get(verdictKey(cls.typeId, sourceVersion, cls.version));
      if (v && v.origin === 'probe' && v.probedTargets.some((id) => ids.includes(id))) continue;
      const key = `${cls.typeId}\u0000${sourceVersion}`;
      const probe = batches.get(key) ?? { nodeName: chosen.node, typeId: cls.typeId, sourceVersion, targets: [] };
      batches.set(key, probe);
      probe.targets.push(rep);
    }
  }
  return [...batches.values()].map(normalizeProbe).sort(compareProbes);
}

/** `place` with the reference steps and a full decide after every confirmation round. */
export async function referencePlace(input: PlaceInput, cache: VerdictCache, prober: Prober): Promise<PlaceOutcome> {
  // The simple path: every device of the fleet, not the engine's index by consumer.
  const resolved = resolveSource(input.vm, [...input.fleet.devicesByNode.values()].flat());
  if (!resolved.ok) return resolved;
  const { source } = resolved;
  const filter = referenceFilter(source, input.fleet, input.request);
  const plan = planProbes(source, buildClasses(filter.candidates), cache);
  let probes = plan.probes.length;
  let verdicts = plan.probes.length > 0 ? applyProbeAnswers(plan.verdicts, await prober(plan.probes), cache) : plan.verdicts;
  let decision = referenceDecide(source, filter, verdicts);
  let rounds = 0;
  while (decision.needsConfirmation && rounds < 8) {
    rounds++;
    probes += decision.confirmationProbes.length;
    const answers = await prober(decision.confirmationProbes);
    if (answers.length === 0) break;
    verdicts = applyProbeAnswers(verdicts, answers, cache);
    decision = referenceDecide(source, filter, verdicts);
  }
  return { ok: true, source, filter, plan, verdicts, decision, probes, confirmationRounds: rounds };
}

/**
 * Engine results as plain data: the engine builds a candidate's pools, resources and optimistic
 * pairs (and a decision's ranking and explanations) when first read, behind getters; this reads
 * every one of them, so comparing plain copies compares everything either side would show.
 */
export function plain<T>(value: T): T {
  if (Array.isArray(value)) return value.map(plain) as T;
  if (value instanceof Map) return new Map([...value].map(([k, v]) => [k, plain(v)])) as T;
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  // Candidates and decisions keep their lazy parts behind prototype getters: name every field.
  const keys =
    'optimistic' in value && 'resources' in value
      ? ['name', 'pools', 'resources', 'freeDevices', 'consumed', 'optimistic']
      : 'explanations' in value && 'ranking' in value
        ? ['ranking', 'chosen', 'needsConfirmation', 'confirmationProbes', 'explanations', 'totals', 'reason']
        : Object.keys(value);
  for (const k of keys) out[k] = plain((value as Record<string, unknown>)[k]);
  return out as T;
}
