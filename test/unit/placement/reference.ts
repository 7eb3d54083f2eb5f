// A simple reference path for the engine's steps that were restructured for speed: the candidate
// filter, the matching and `decide`, written the plain way (maps per node, a full Kuhn matching,
// one sort of all explanations, a full decide after every confirmation round). The equivalence
// test holds the engine to exactly these results. It reuses only the engine's untouched parts:
// ordering, keys, scheduling predicates, the class/probe steps and the score.

import { applyProbeAnswers, buildClasses, planProbes, resolveSource, scoreAssignment, targetId, verdictKey, VERDICT_ORDER } from '../../../src/placement/index.ts';
import type {
  Capacity,
  CandidateFilter,
  CandidateNode,
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
  if (node.unschedulable) return 'cordoned';
  const taint = untoleratedTaint(node.taints, source.vm.tolerations);
  if (taint) return `taint ${formatTaint(taint)} not tolerated`;
  const miss = unmatchedSelector(source.vm.nodeSelector, node.labels);
  if (miss) return `nodeSelector ${miss[0]}=${miss[1]} not matched (label ${Object.hasOwn(node.labels, miss[0]) ? `is ${node.labels[miss[0]]}` : 'is absent'})`;
  if (!affinityMatches(source.vm.requiredAffinity, node)) return 'required node affinity not satisfied (no term matches)';
  return undefined;
}

interface Stock {
  free: Device[];
  inUse: number;
  reserved: number;
  unusable: number;
  slots: { capacity: Capacity; count: number }[];
  slotTotal: number;
  notAllowed: number;
}

export function referenceFilter(source: Source, fleet: Fleet, request: PlaceInput['request']): CandidateFilter {
  const allow = request.targetNodes && request.targetNodes.length > 0 ? new Set(request.targetNodes) : undefined;
  const need = new Map<string, number>();
  for (const d of source.devices) need.set(d.typeId, (need.get(d.typeId) ?? 0) + 1);
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
    const stocks = new Map<string, Stock>([...need.keys()].map((t) => [t, { free: [], inUse: 0, reserved: 0, unusable: 0, slots: [], slotTotal: 0, notAllowed: 0 }]));
    const present = new Set<string>();
    let consumed = 0;
    for (const d of fleet.devicesByNode.get(node.name) ?? []) {
      if (d.consumerUid) consumed++;
      const stock = stocks.get(d.typeId);
      if (!stock) continue;
      present.add(d.typeId);
      if (d.consumerUid) stock.inUse++;
      else if (d.reservedBy && d.reservedBy !== request.migrationUid) stock.reserved++;
      else if (!d.migratable || d.version === undefined) stock.unusable++;
      else stock.free.push(d);
    }
    for (const c of fleet.capacityByNode.get(node.name) ?? []) {
      const stock = stocks.get(c.typeId);
      if (!stock) continue;
      present.add(c.typeId);
      if (c.version === undefined || c.availableInstances <= 0) continue;
      const count = Math.min(c.availableInstances, need.get(c.typeId) as number);
      if (!request.allowCreateTarget) {
        stock.notAllowed += count;
        continue;
      }
      stock.slots.push({ capacity: c, count });
      stock.slotTotal += count;
    }
    const missing = [...need.keys()].filter((t) => !present.has(t)).sort(compareStrings);
    if (missing.length > 0) {
      reject('TypeMismatch', `no ${missing.join(' or ')} device${request.allowCreateTarget ? ' and no spare capacity for one' : ''}`);
      continue;
    }
    const shortages = [...stocks]
      .sort((a, b) => compareStrings(a[0], b[0]))
      .filter(([t, s]) => s.free.length + s.slotTotal < (need.get(t) as number))
      .map(([t, s]) => shortageText(t, need.get(t) as number, s));
    if (shortages.length > 0) {
      reject('NoCapacity', shortages.join('; '));
      continue;
    }
    const freeDevices = [...stocks.values()].reduce((n, s) => n + s.free.length, 0);
    const pools = referencePools(node.name, source, stocks);
    const { pairs } = referenceAssign(source.devices, pools, () => true);
    candidates.push({ name: node.name, pools, freeDevices, consumed, optimistic: { pairs, score: scoreAssignment(pairs, freeDevices, consumed) } });
  }
  candidates.sort((a, b) => compareScores(a.optimistic.score, b.optimistic.score) || compareStrings(a.name, b.name));
  return { candidates, rejected };
}

function shortageText(typeId: string, wanted: number, s: Stock): string {
  const detail = [
    s.inUse > 0 ? `${s.inUse} in use` : '',
    s.reserved > 0 ? `${s.reserved} reserved by another migration` : '',
    s.unusable > 0 ? `${s.unusable} not migratable` : '',
    s.slotTotal > 0 ? `${s.slotTotal} creatable` : '',
    s.notAllowed > 0 ? `${s.notAllowed} creatable with allowCreateTarget` : '',
  ].filter(Boolean);
  return `needs ${wanted} free ${typeId}, has ${s.free.length + s.slotTotal}${detail.length > 0 ? ` (${detail.join(', ')})` : ''}`;
}

function referencePools(nodeName: string, source: Source, stocks: Map<string, Stock>): TargetPool[] {
  const group = (refs: TargetRef[]) => {
    const byVersion = new Map<string, TargetRef[]>();
    for (const r of refs) byVersion.set(r.version, [...(byVersion.get(r.version) ?? []), r]);
    return [...byVersion].map(([version, targets]) => ({ typeId: refs[0]?.typeId as string, version, targets }));
  };
  const devicePools: TargetPool[] = [];
  const slotPools: TargetPool[] = [];
  for (const [typeId, s] of stocks) {
    devicePools.push(...group(s.free.map((d) => ({ kind: 'device' as const, nodeName, name: d.name, typeId, parentAddress: d.parentAddress, version: d.version as string }))));
    const slots = s.slots.flatMap(({ capacity, count }) => {
      const ref: TargetRef = { kind: 'slot', nodeName, parentAddress: capacity.parentAddress, typeId, version: capacity.version as string };
      return Array.from({ length: count }, () => ref);
    });
    slotPools.push(...group(slots));
  }
  const order = (pools: TargetPool[]) =>
    pools
      .map((pool) => ({ pool, exact: (source.versionsByType.get(pool.typeId) ?? []).includes(pool.version) ? 0 : 1 }))
      .sort((a, b) => compareStrings(a.pool.typeId, b.pool.typeId) || a.exact - b.exact || compareStrings(a.pool.version, b.pool.version))
      .map((k) => k.pool);
  return [...order(devicePools), ...order(slotPools)];
}

/** Kuhn's augmenting paths over capacitated pools, for every VMI size. */
export function referenceAssign(sources: readonly SourceDevice[], pools: readonly TargetPool[], accepts: Accepts): { pairs: DevicePair[]; complete: boolean } {
  const poolOf = sources.map(() => -1);
  const holders: number[][] = pools.map(() => []);
  const usable = sources.map((s) => pools.map((p) => p.typeId === s.typeId && p.targets.length > 0 && accepts(p.typeId, s.version, p.version)));
  const augment = (i: number, visited: boolean[]): boolean => {
    for (let j = 0; j < pools.length; j++) {
      if (!usable[i]?.[j] || visited[j]) continue;
      visited[j] = true;
      const held = holders[j] as number[];
      if (held.length < (pools[j] as TargetPool).targets.length) {
        held.push(i);
        poolOf[i] = j;
        return true;
      }
      for (let h = 0; h < held.length; h++) {
        if (augment(held[h] as number, visited)) {
          held[h] = i;
          poolOf[i] = j;
          return true;
        }
      }
    }
    return false;
  };
  const matched = sources.filter((_, i) => augment(i, pools.map(() => false))).length;
  const next = pools.map(() => 0);
  const pairs: DevicePair[] = [];
  sources.forEach((s, i) => {
    const j = poolOf[i] as number;
    if (j >= 0) pairs.push({ source: s.name, target: (pools[j] as TargetPool).targets[(next[j] = (next[j] as number) + 1) - 1] as TargetRef });
  });
  return { pairs, complete: matched === sources.length };
}

export function referenceDecide(source: Source, filter: CandidateFilter, verdicts: VerdictMap): Decision {
  const get = (t: string, s: string, v: string) => verdicts.get(verdictKey(t, s, v));
  const ranking: RankedNode[] = [];
  const incompatible: NodeExplanation[] = [];
  for (const node of filter.candidates) {
    const { pairs, complete } = referenceAssign(source.devices, node.pools, (t, s, v) => get(t, s, v)?.accepted === true);
    if (complete) ranking.push({ node: node.name, score: scoreAssignment(pairs, node.freeDevices, node.consumed), pairs });
    else incompatible.push({ node: node.name, verdict: 'Incompatible', message: explainIncompatible(source, node, get, pairs.length) });
  }
  ranking.sort(compareRanked);
  const chosen = ranking[0] ?? null;
  const confirmationProbes = chosen ? referenceConfirmations(source, chosen, verdicts) : [];
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


function referenceConfirmations(source: Source, chosen: RankedNode, verdicts: VerdictMap): ProbeRequest[] {
  const versionOf = new Map(source.devices.map((d) => [d.name, d.version]));
  const batches = new Map<string, ProbeRequest>();
  for (const pair of chosen.pairs) {
    const sourceVersion = versionOf.get(pair.source) as string;
    const v = verdicts.get(verdictKey(pair.target.typeId, sourceVersion, pair.target.version));
    if (v && v.origin === 'probe' && v.probedTargets.includes(targetId(pair.target))) continue;
    const key = `${pair.target.typeId}\u0000${sourceVersion}`;
    const probe = batches.get(key) ?? { nodeName: chosen.node, typeId: pair.target.typeId, sourceVersion, targets: [] };
    batches.set(key, probe);
    probe.targets.push(pair.target);
  }
  return [...batches.values()].map(normalizeProbe).sort(compareProbes);
}

/** `place` with the reference steps and a full decide after every confirmation round. */
export async function referencePlace(input: PlaceInput, cache: VerdictCache, prober: Prober): Promise<PlaceOutcome> {
  const resolved = resolveSource(input.vm, input.devices);
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
