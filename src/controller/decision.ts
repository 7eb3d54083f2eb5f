// The decision service: one placement decision for one VMI, shared by the migration reconciler,
// the admission webhook and the `explain` / `plan-drain` commands. It snapshots the caches, runs
// the pure engine with a prober that sends MdevProbes in parallel under a deadline, and treats a
// node whose agent did not answer in time as AgentUnavailable ("probe timed out after Ns"): the
// decision is re-run without it, so its classes are probed on another node. Answers feed the
// shared VerdictCache, which forgets a version string as soon as a device stops publishing it.
// Nothing is decided while the caches may be behind the API server (`currency`): the result then
// says so (`behind`), and the caller waits instead of acting on a stale picture.
import type { CachedDevice } from './cached-objects.ts';
import type { Informer } from '../kube/informer.ts';
import type { Vmi } from '../kubevirt/types.ts';
import type { Logger } from '../observability/logger.ts';
import {
  boundedCandidates,
  exhaustiveProbeCount,
  firstExplanations,
  place,
  VERDICT_ORDER,
  type Decision,
  type DevicePair,
  type NodeExplanation,
  type ProbeAnswer,
  type ProbeRequest,
  type RankedNode,
  type Request,
  type Source,
  type SourceVm,
  type Verdict,
  type VerdictCache,
} from '../placement/index.ts';
import { controllerMetrics } from './metrics.ts';
import type { KubevirtCluster } from '../kubevirt/target-constraints.ts';
import type { ProbeRound } from './probe-client.ts';
import { buildDeviceHalf, buildNodeHalf, joinSnapshot, toSourceVm, type ClusterView, type DeviceHalf, type NodeHalf, type Snapshot, type ViewRevision } from './snapshot.ts';

/** What sends probes and waits for answers (ProbeClient, or an in-memory stand-in in unit tests). */
export interface ProbeSender {
  /** `onWait` is called (at most once per round) before the round writes a probe or waits for an agent. */
  run(requests: readonly ProbeRequest[], timeoutMs: number, onWait?: () => void): Promise<ProbeRound>;
  forgetNode?(nodeName: string): Promise<void>;
  /** Whether the node's agent answered a probe at or after `since` (its late answers count). */
  answeredSince?(nodeName: string, since: number): boolean;
}

export interface DecisionServiceOptions {
  view: () => ClusterView;
  /**
   * Keys that change whenever `view()` would return something different (ControllerCaches'
   * viewRevision). With them, decisions share the snapshot of an unchanged cluster instead of each
   * converting and indexing every device again (most of a warm decision at 1,000 nodes), and a
   * Lease renewal rebuilds only the node half.
   */
  viewRevision?: () => ViewRevision;
  cache: VerdictCache;
  prober: ProbeSender;
  /** Deadline of one probe round (default 10 s). */
  probeTimeoutMs: number;
  log: Logger;
  /** How long a node that timed out is skipped by later decisions (default 30 s; until it answers any probe). */
  unresponsiveTtlMs?: number;
  /**
   * Whether the caches may be behind the API server (ControllerCaches.currency). While `behind` is
   * not empty no decision is made; probe timeouts noted before `leasesSince` (during an outage)
   * are forgotten, since an agent that could not reach the API server was not unresponsive.
   */
  currency?: () => { behind: readonly string[]; leasesSince: number | undefined };
  now?: () => number;
  /** The KubeVirt CR's target constraints (nodeSelectors, nodePlacement); absent = none. */
  kubevirt?: () => KubevirtCluster | undefined;
}

export interface DecideInput {
  vmi: Vmi | SourceVm;
  request: Request;
  /** Total time the decision may spend probing (default 2 × the probe timeout). */
  budgetMs?: number;
  /** false: cache only, no probe is sent (explain); unknown classes stay unverified. */
  probe: boolean;
  /** Nodes to leave out, with the reason shown for them (e.g. an earlier attempt failed there). */
  exclude?: ReadonlyMap<string, string>;
  /**
   * Called once, when the decision first has to wait for an agent (a probe to write or an answer
   * not yet in the cache); never when every verdict it needs is already known.
   */
  onProbing?: () => void;
  /** Count the exhaustive baseline too (the demo): a walk over every candidate device, so off by default. */
  countExhaustive?: boolean;
}

export interface DecisionCandidates {
  /** Every node but the source: chosen first, then by verdict, then by name. */
  explanations: NodeExplanation[];
  totals: Record<Verdict, number>;
  /** The first `limit` explanations without building the rest, where the engine can (see firstCandidates). */
  first?: (limit: number) => NodeExplanation[];
}

/** The first `limit` explanations: what a status shows (LIMITS.candidates), without the whole list where possible. */
export function firstCandidates(c: DecisionCandidates, limit: number): NodeExplanation[] {
  return c.first ? c.first(limit) : boundedCandidates(c.explanations, limit);
}

/**
 * The engine's explanations as they stand (no timeout or exclusion of this decision changed one),
 * with the messages of agents remembered as unresponsive: `explanations` is built on first read
 * (a refusal, `explain`, the webhook), while a status write reads `first(20)` and the totals only.
 * A class with a prototype getter, like the engine's lazy Decision, so V8 allocates it young.
 */
class EngineCandidates implements DecisionCandidates {
  readonly totals: Record<Verdict, number>;
  readonly #decision: Decision;
  readonly #remembered: ReadonlyMap<string, string>;
  #all: NodeExplanation[] | undefined;

  constructor(decision: Decision, remembered: ReadonlyMap<string, string>) {
    this.totals = { ...EMPTY_TOTALS(), ...decision.totals };
    this.#decision = decision;
    this.#remembered = remembered;
  }

  get explanations(): NodeExplanation[] {
    return (this.#all ??= this.#decision.explanations.map((e) => this.#withRemembered(e)));
  }

  first(limit: number): NodeExplanation[] {
    return this.#all ? this.#all.slice(0, Math.max(0, limit)) : firstExplanations(this.#decision, limit).map((e) => this.#withRemembered(e));
  }

  #withRemembered(e: NodeExplanation): NodeExplanation {
    const message = e.verdict === 'AgentUnavailable' ? this.#remembered.get(e.node) : undefined;
    return message ? { node: e.node, verdict: 'AgentUnavailable', message } : e;
  }
}

export interface DecisionResult {
  /** The chosen node and its device pairs; absent when no node is usable or the source failed. */
  chosen?: RankedNode;
  assignment: DevicePair[];
  candidates: DecisionCandidates;
  /** Probe requests this decision cost. */
  probes: number;
  /** Probes a search without equivalence classes would have cost (baseline; 0 unless `countExhaustive`). */
  exhaustiveProbes: number;
  decisionMillis: number;
  /** True when the chosen targets were never confirmed by a probe of those very devices. */
  needsConfirmation: boolean;
  /** Why nothing was chosen (source problems included); '' when a node was chosen. */
  reason: string;
  sourceNode?: string;
  source?: Source;
  /** Set when nothing was decided because these caches may be behind the API server: wait and decide again. */
  behind?: string[];
  /** Nodes left out because their agent's state is unknown (its lease looks expired in a cache not current long enough): not a final verdict. */
  unknownAgents?: string[];
}

const EMPTY_TOTALS = (): Record<Verdict, number> => Object.fromEntries(VERDICT_ORDER.map((v) => [v, 0])) as Record<Verdict, number>;
const MAX_ROUNDS = 3;

export class DecisionService {
  readonly #o: DecisionServiceOptions;
  readonly #unresponsive = new Map<string, { at: number; until: number; message: string }>();
  #nodeHalf: { key: string; half: NodeHalf } | undefined;
  #deviceHalf: { key: string; half: DeviceHalf } | undefined;
  #joined: { nodes: NodeHalf; devices: DeviceHalf; snapshot: Snapshot } | undefined;

  constructor(opts: DecisionServiceOptions) {
    this.#o = opts;
  }

  get cache(): VerdictCache {
    return this.#o.cache;
  }

  /**
   * Keeps the cache honest: when a device's version string changes and no other device reports the
   * old string any more, every verdict about it is dropped and the node's probes are forgotten.
   * While another device still reports it, its verdicts still hold (a string determines its
   * answers): an nvml device's string changes whenever a VM starts or stops on it (its GPU's class
   * key, then its running vGPU's metadata), and its free siblings keep the class key.
   */
  watchDevices(devices: Informer<CachedDevice>): void {
    const changed = (before: CachedDevice | undefined, after: CachedDevice | undefined): void => {
      const old = before?.status?.migrationVersion;
      if (old === undefined || old === after?.status?.migrationVersion) return;
      if (before && versionStillPublished(old, devices.list(), before.metadata.name)) return;
      const dropped = this.#o.cache.invalidateVersion(old);
      this.#o.log.debug('Invalidated cached verdicts of a changed version string', { device: before?.metadata.name, dropped });
      const node = before?.spec.nodeName;
      // An informer handler cannot wait: forgetNode logs a failed delete itself and never rejects
      // (the probe sweeper removes a probe it left behind once its TTL passed).
      if (node) void this.#o.prober.forgetNode?.(node);
    };
    devices.addHandlers({ update: (o, n) => changed(o, n), delete: (o) => changed(o, undefined) });
  }

  /** The VMI as placement reads it, with KubeVirt's target constraints (its node's labels, the KubeVirt CR). */
  #sourceVm(vmi: Vmi, snapshot: Snapshot): SourceVm {
    const nodeName = vmi.status?.nodeName;
    const sourceNode = nodeName ? snapshot.fleet.nodes.find((n) => n.name === nodeName) : undefined;
    const cluster = this.#o.kubevirt?.();
    return toSourceVm(vmi, { ...(sourceNode ? { sourceNode } : {}), ...(cluster ? { cluster } : {}) });
  }

  /**
   * Builds the shared snapshot now (call once the caches synced), so the first decision after a
   * start does not also index every device (tens of milliseconds at 1,000 nodes).
   */
  prepare(): void {
    this.#snapshot(new Set(), new Set(this.#unresponsiveNodes()));
  }

  async decide(input: DecideInput): Promise<DecisionResult> {
    const now = this.#now.bind(this);
    const start = now();
    const deadline = start + (input.budgetMs ?? 2 * this.#o.probeTimeoutMs);
    const given = input.vmi;
    let vm: SourceVm | undefined = 'metadata' in given ? undefined : given;
    const behind = this.#o.currency?.().behind ?? [];
    if (behind.length > 0) {
      return {
        assignment: [], candidates: { explanations: [], totals: EMPTY_TOTALS() }, probes: 0, exhaustiveProbes: 0, decisionMillis: 0, needsConfirmation: false, behind: [...behind],
        reason: `no decision while the controller's view may be behind the API server (${behind.join(', ')} catching up after an outage); deciding again once it is current`,
      };
    }
    const timedOutNow = new Map<string, string>();
    let unknownAgents: string[];
    let probes = 0;
    let outcome;
    let waited = false;
    const onWait = (): void => {
      if (waited) return;
      waited = true;
      input.onProbing?.();
    };
    for (let round = 0; ; round++) {
      const fresh: string[] = [];
      const prober = async (requests: ProbeRequest[]): Promise<ProbeAnswer[]> => {
        const remaining = deadline - now();
        if (!input.probe || remaining <= 0 || requests.length === 0) return [];
        const timeout = Math.min(this.#o.probeTimeoutMs, remaining);
        const result = await this.#o.prober.run(requests, timeout, onWait);
        for (const node of result.timedOut) {
          const message = `probe timed out after ${formatSeconds(timeout)}: the agent of ${node} did not answer`;
          timedOutNow.set(node, message);
          this.#unresponsive.set(node, { at: now(), until: now() + (this.#o.unresponsiveTtlMs ?? 30_000), message });
          fresh.push(node);
        }
        return result.answers;
      };
      const { snapshot, nodes } = this.#snapshot(new Set(input.exclude?.keys() ?? []), new Set(this.#unresponsiveNodes()));
      unknownAgents = nodes.unknownAgents;
      vm ??= this.#sourceVm(given as Vmi, snapshot);
      outcome = await place({ vm, fleet: snapshot.fleet, request: input.request }, this.#o.cache, prober);
      if (!outcome.ok) break;
      probes += outcome.probes;
      // A node that timed out is now AgentUnavailable; deciding again probes its classes elsewhere.
      if (fresh.length === 0 || round + 1 >= MAX_ROUNDS || deadline - now() <= 0) break;
    }
    vm = vm as SourceVm;
    const decisionMillis = Math.max(0, Math.round(now() - start));
    controllerMetrics.decisionSeconds.observe(decisionMillis / 1000);
    if (!outcome.ok) {
      return { assignment: [], candidates: { explanations: [], totals: EMPTY_TOTALS() }, probes, exhaustiveProbes: 0, decisionMillis, needsConfirmation: false, reason: outcome.reason };
    }
    const { decision } = outcome;
    const candidates = this.#explain(decision, input.exclude, timedOutNow);
    const chosen = decision.chosen ?? undefined;
    return {
      ...(chosen ? { chosen } : {}),
      assignment: chosen?.pairs ?? [],
      candidates,
      probes,
      exhaustiveProbes: input.countExhaustive ? exhaustiveProbeCount(outcome.source, outcome.filter) : 0,
      decisionMillis,
      needsConfirmation: decision.needsConfirmation,
      reason: chosen ? '' : noTargetReason(vm, outcome.source.nodeName, candidates.totals),
      sourceNode: outcome.source.nodeName,
      source: outcome.source,
      ...(unknownAgents.length > 0 ? { unknownAgents: unknownAgents.filter((n) => n !== outcome.source.nodeName && !input.exclude?.has(n)) } : {}),
    };
  }

  /**
   * The snapshot for these options: each half is reused while its revision is unchanged and no lease
   * or reservation in it has lapsed since (a snapshot depends on the clock only through those).
   */
  #snapshot(omitNodes: ReadonlySet<string>, unresponsive: ReadonlySet<string>): { snapshot: Snapshot; nodes: NodeHalf } {
    const now = this.#now();
    const revision = this.#o.viewRevision?.();
    if (revision === undefined) {
      const view = this.#o.view();
      const nodes = buildNodeHalf(view, { now, omitNodes, unresponsive });
      return { snapshot: joinSnapshot(nodes, buildDeviceHalf(view, now)), nodes };
    }
    let view: ClusterView | undefined;
    const nodesKey = `${revision.nodes}|${[...omitNodes].sort().join(',')}|${[...unresponsive].sort().join(',')}`;
    if (this.#nodeHalf?.key !== nodesKey || now >= this.#nodeHalf.half.validUntil) {
      view = this.#o.view();
      this.#nodeHalf = { key: nodesKey, half: buildNodeHalf(view, { now, omitNodes, unresponsive }) };
    }
    if (this.#deviceHalf?.key !== revision.devices || now >= this.#deviceHalf.half.validUntil) {
      view ??= this.#o.view();
      this.#deviceHalf = { key: revision.devices, half: buildDeviceHalf(view, now) };
    }
    const nodes = this.#nodeHalf.half;
    const devices = this.#deviceHalf.half;
    if (this.#joined?.nodes !== nodes || this.#joined.devices !== devices) this.#joined = { nodes, devices, snapshot: joinSnapshot(nodes, devices) };
    return { snapshot: this.#joined.snapshot, nodes };
  }

  /**
   * Engine explanations with timeouts named as such and excluded nodes added back. The engine's list
   * is already in display order; it is sorted again (and recounted) only when this changed a verdict
   * or added a node, which a decision without timeouts or exclusions never does.
   */
  #explain(decision: Decision, exclude: ReadonlyMap<string, string> | undefined, timedOut: Map<string, string>): DecisionCandidates {
    const chosen = decision.chosen?.node;
    const remembered = new Map([...this.#unresponsive].map(([n, v]) => [n, v.message]));
    // Without this decision's timeouts or exclusions the engine's order and totals stand: read lazily.
    if (timedOut.size === 0 && (exclude?.size ?? 0) === 0) return new EngineCandidates(decision, remembered);
    let changed = false;
    const out = decision.explanations.map((e) => {
      const timeout = timedOut.get(e.node) ?? (e.verdict === 'AgentUnavailable' ? remembered.get(e.node) : undefined);
      if (!timeout || e.verdict === 'Compatible') return e;
      if (e.verdict !== 'AgentUnavailable') changed = true;
      return { node: e.node, verdict: 'AgentUnavailable' as const, message: timeout };
    });
    for (const [node, message] of exclude ?? []) out.push({ node, verdict: 'Excluded', message });
    if (!changed && (exclude?.size ?? 0) === 0) return { explanations: out, totals: { ...EMPTY_TOTALS(), ...decision.totals } };
    const rank = new Map(VERDICT_ORDER.map((v, i) => [v, i]));
    out.sort((a, b) => (a.node === chosen ? -1 : b.node === chosen ? 1 : (rank.get(a.verdict) as number) - (rank.get(b.verdict) as number) || (a.node < b.node ? -1 : a.node > b.node ? 1 : 0)));
    const totals = EMPTY_TOTALS();
    for (const e of out) totals[e.verdict]++;
    return { explanations: out, totals };
  }

  #unresponsiveNodes(): string[] {
    const now = this.#now();
    const since = this.#o.currency?.().leasesSince ?? Number.NEGATIVE_INFINITY;
    for (const [node, v] of this.#unresponsive) {
      // Expired, noted before the caches last caught up (an outage), or answered since: ask it again.
      if (v.until <= now || v.at < since || this.#o.prober.answeredSince?.(node, v.at)) this.#unresponsive.delete(node);
    }
    return [...this.#unresponsive.keys()];
  }

  #now(): number {
    return this.#o.now?.() ?? Date.now();
  }
}

function formatSeconds(ms: number): string {
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toFixed(1)}s`;
}

function noTargetReason(vm: SourceVm, sourceNode: string, totals: Record<Verdict, number>): string {
  const ref = `VMI ${vm.namespace}/${vm.name}`;
  const counts = VERDICT_ORDER.filter((v) => totals[v] > 0).map((v) => `${totals[v]} ${v}`);
  if (counts.length === 0) return `no node other than ${sourceNode} exists to move ${ref} to`;
  return `no node can take ${ref}: ${counts.join(', ')}; see status.candidates for each node's reason`;
}

/** Whether a device other than `except` still reports `version`. */
export function versionStillPublished(version: string, devices: readonly CachedDevice[], except: string): boolean {
  return devices.some((d) => d.metadata.name !== except && d.status?.migrationVersion === version);
}
