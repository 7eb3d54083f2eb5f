// The controller's side of the probe protocol (docs/architecture.md, "Probes"): one MdevProbe per
// (node, type, source string), created or widened to the union of the devices asked about, and
// answered by that node's agent in status. Answers are read from the probe informer: a probe is
// answered when status.observedGeneration equals the generation our write produced and every
// target we asked about has a result. No answer within the deadline is a timeout, which the
// decision service turns into AgentUnavailable.
import type { KubeConfig } from '../kube/kubeconfig.ts';
import { API_VERSION, LABEL_NODE, LABEL_TYPE, parseFromWire, probeObjectName, type MdevProbe } from '../api/v1alpha1/index.ts';
import { mergePatch } from '../kube/apply.ts';
import { describeApiError, isAlreadyExists, isConflict, isNotFound } from '../kube/errors.ts';
import type { Informer } from '../kube/informer.ts';
import { kubeRequest } from '../kube/request.ts';
import { resourcePath } from '../kube/resource.ts';
import type { Logger } from '../observability/logger.ts';
import { targetId, type ProbeAnswer, type ProbeRequest, type ProbeResult } from '../placement/index.ts';
import { controllerMetrics } from './metrics.ts';
import { MDEV_PROBES } from './resources.ts';

export const DEFAULT_PROBE_TIMEOUT_MS = 10_000;
export const DEFAULT_PROBE_TTL_MS = 5 * 60_000;

export interface ProbeClientOptions {
  kc: KubeConfig;
  probes: Informer<MdevProbe>;
  log: Logger;
  /** Probes older than this are deleted by `sweep` and recreated rather than reused. */
  ttlMs?: number;
  now?: () => number;
}

export interface DuplicateRequest {
  nodeName: string;
  typeId: string;
  sourceVersion: string;
  parent: string;
  uuid: string;
  creationParams?: { key: string; value: string }[];
}

export interface ProbeRound {
  answers: ProbeAnswer[];
  /** Nodes whose agent did not answer within the deadline. */
  timedOut: string[];
  /** Probe objects created or widened in this round. */
  sent: number;
}

/** Targets of a probe request in MdevProbe terms: device names and parent addresses. */
export function probeTargets(req: ProbeRequest): { devices: string[]; parents: string[] } {
  const devices = new Set<string>();
  const parents = new Set<string>();
  for (const t of req.targets) {
    if (t.kind === 'device') devices.add(t.name);
    else parents.add(t.parentAddress);
  }
  return { devices: [...devices].sort(), parents: [...parents].sort() };
}

/** The answer to `req` carried by `probe`, or undefined while any target lacks a result for `generation`. */
export function answerFrom(req: ProbeRequest, probe: MdevProbe, generation: number): ProbeAnswer | undefined {
  const status = probe.status;
  if (status?.observedGeneration === undefined || status.observedGeneration < generation) return undefined;
  const byDevice = new Map<string, { accepted: boolean; reason: string }>();
  const byParent = new Map<string, { accepted: boolean; reason: string }>();
  for (const r of status.results ?? []) {
    if (r.device !== undefined) byDevice.set(r.device, r);
    else if (r.parent !== undefined) byParent.set(r.parent, r);
  }
  const results: ProbeResult[] = [];
  for (const t of req.targets) {
    const r = t.kind === 'device' ? byDevice.get(t.name) : byParent.get(t.parentAddress);
    if (!r) return undefined;
    results.push({ target: targetId(t), accepted: r.accepted, reason: r.reason });
  }
  return { request: req, results };
}

function covers(probe: MdevProbe, want: { devices: string[]; parents: string[] }): boolean {
  const devices = new Set(probe.spec.devices ?? []);
  const parents = new Set(probe.spec.parents ?? []);
  return want.devices.every((d) => devices.has(d)) && want.parents.every((p) => parents.has(p));
}

function createdAt(probe: MdevProbe): number {
  const ts = probe.metadata.creationTimestamp;
  return ts === undefined ? Number.NaN : Date.parse(ts);
}

export class ProbeClient {
  readonly #o: ProbeClientOptions;
  readonly #ttlMs: number;
  readonly #waiters = new Map<string, Set<() => void>>();
  /** When this process last saw each node's agent answer a probe (its clock). */
  readonly #answeredAt = new Map<string, number>();

  constructor(opts: ProbeClientOptions) {
    this.#o = opts;
    this.#ttlMs = opts.ttlMs ?? DEFAULT_PROBE_TTL_MS;
    const seen = (p: MdevProbe): void => {
      if (p.status?.observedGeneration !== undefined && p.status.observedGeneration >= (p.metadata.generation ?? 1)) this.#answeredAt.set(p.spec.nodeName, this.#now());
      this.#wake(p.metadata.name);
    };
    opts.probes.addHandlers({ add: seen, update: (_o, p) => seen(p) });
  }

  /** Whether the agent of `nodeName` answered a probe at or after `since` (a late answer proves it responsive again). */
  answeredSince(nodeName: string, since: number): boolean {
    return (this.#answeredAt.get(nodeName) ?? Number.NEGATIVE_INFINITY) >= since;
  }

  /** Sends every request at once and waits, up to `timeoutMs`, for all answers. */
  async run(requests: readonly ProbeRequest[], timeoutMs: number, onWait?: () => void): Promise<ProbeRound> {
    const deadline = this.#now() + timeoutMs;
    if (onWait && requests.some((req) => this.#cachedAnswer(req) === undefined)) onWait();
    const outcomes = await Promise.all(requests.map((req) => this.#one(req, deadline)));
    const round: ProbeRound = { answers: [], timedOut: [], sent: 0 };
    outcomes.forEach((o, i) => {
      if (o.wrote) round.sent++;
      if (o.answer) round.answers.push(o.answer);
      else round.timedOut.push((requests[i] as ProbeRequest).nodeName);
    });
    controllerMetrics.probes.inc(requests.length);
    if (round.timedOut.length > 0) controllerMetrics.probeTimeouts.inc(round.timedOut.length);
    round.timedOut = [...new Set(round.timedOut)].sort();
    return round;
  }

  /**
   * Asks the agent of `nodeName` to create a duplicate of the source device (spec.create) after
   * testing the parent's type-level string; resolves with the new MdevDevice name or why not.
   * The probe is private to this creation (its name includes the UUID).
   */
  async createDuplicate(req: DuplicateRequest, timeoutMs: number): Promise<{ device: string } | { reason: string }> {
    const name = probeObjectName(req.nodeName, req.typeId, `${req.sourceVersion}\u0000create\u0000${req.uuid}`);
    const body = probeBody(name, req, {
      parents: [req.parent],
      create: { parent: req.parent, uuid: req.uuid, ...(req.creationParams?.length ? { creationParams: req.creationParams } : {}) },
    });
    let probe: MdevProbe | undefined;
    try {
      probe = this.#parse(await kubeRequest(this.#o.kc, { method: 'POST', path: resourcePath(MDEV_PROBES), body }), name);
    } catch (err) {
      if (!isAlreadyExists(err)) return { reason: `creating MdevProbe ${name} failed: ${describeApiError(err)}` };
      probe = await this.#get(name);
    }
    controllerMetrics.probes.inc();
    const generation = probe?.metadata.generation ?? 1;
    const settled = (p: MdevProbe | undefined): { device: string } | { reason: string } | undefined => {
      if (!p?.status || (p.status.observedGeneration ?? 0) < generation) return undefined;
      if (p.status.created?.device) return { device: p.status.created.device };
      const refusal = p.status.results?.find((r) => r.parent === req.parent && !r.accepted);
      if (refusal) return { reason: `parent ${req.parent} on ${req.nodeName} refused: ${refusal.reason}` };
      return undefined;
    };
    const done = settled(probe) ?? (await this.#waitFor(name, settled, this.#now() + timeoutMs));
    if (!done) controllerMetrics.probeTimeouts.inc();
    return done ?? { reason: `the agent of ${req.nodeName} did not create the device within ${Math.round(timeoutMs / 1000)}s` };
  }

  /** Deletes probes past their TTL that nobody waits on; returns how many were deleted. */
  async sweep(): Promise<number> {
    const now = this.#now();
    let deleted = 0;
    for (const p of this.#o.probes.list()) {
      if (this.#waiters.has(p.metadata.name) || !(now - createdAt(p) > this.#ttlMs)) continue;
      if (await this.#delete(p.metadata.name)) deleted++;
    }
    return deleted;
  }

  /** Deletes every probe of `nodeName`: their results may name devices whose string just changed. */
  async forgetNode(nodeName: string): Promise<void> {
    for (const p of this.#o.probes.list()) {
      if (p.spec.nodeName === nodeName && !this.#waiters.has(p.metadata.name)) await this.#delete(p.metadata.name);
    }
  }

  /** The answer the cached probe already carries, if it is fresh and covers `req`. */
  #cachedAnswer(req: ProbeRequest): ProbeAnswer | undefined {
    const probe = this.#o.probes.get(probeObjectName(req.nodeName, req.typeId, req.sourceVersion));
    if (!probe || this.#now() - createdAt(probe) > this.#ttlMs || !covers(probe, probeTargets(req))) return undefined;
    return answerFrom(req, probe, probe.metadata.generation ?? 1);
  }

  async #one(req: ProbeRequest, deadline: number): Promise<{ answer?: ProbeAnswer; wrote: boolean }> {
    const name = probeObjectName(req.nodeName, req.typeId, req.sourceVersion);
    try {
      const { probe, wrote } = await this.#ensure(name, req);
      const generation = probe.metadata.generation ?? 1;
      const answer = answerFrom(req, probe, generation) ?? (await this.#wait(name, req, generation, deadline));
      return answer ? { answer, wrote } : { wrote };
    } catch (err) {
      this.#o.log.warn('Probe request failed', { probe: name, node: req.nodeName, error: describeApiError(err) });
      return { wrote: false };
    }
  }

  /** Creates the probe, or widens an existing one to cover `req`; returns the stored object. */
  async #ensure(name: string, req: ProbeRequest): Promise<{ probe: MdevProbe; wrote: boolean }> {
    const want = probeTargets(req);
    for (let attempt = 0; attempt < 5; attempt++) {
      let current = this.#o.probes.get(name);
      if (current && this.#now() - createdAt(current) > this.#ttlMs) {
        await this.#delete(name);
        current = undefined;
      }
      if (!current) {
        try {
          return { probe: await this.#create(name, req, want), wrote: true };
        } catch (err) {
          if (!isAlreadyExists(err)) throw err;
          current = await this.#get(name);
          if (!current) continue;
        }
      }
      if (covers(current, want)) return { probe: current, wrote: false };
      try {
        return { probe: await this.#widen(current, want), wrote: true };
      } catch (err) {
        if (!isConflict(err) && !isNotFound(err)) throw err;
        // Someone else widened it (or it was swept): read again and retry.
        const fresh = await this.#get(name);
        if (fresh && covers(fresh, want)) return { probe: fresh, wrote: false };
      }
    }
    throw new Error(`MdevProbe ${name} kept changing under concurrent writers; retry the decision`);
  }

  async #create(name: string, req: ProbeRequest, want: { devices: string[]; parents: string[] }): Promise<MdevProbe> {
    const body = probeBody(name, req, {
      ...(want.devices.length > 0 ? { devices: want.devices } : {}),
      ...(want.parents.length > 0 ? { parents: want.parents } : {}),
    });
    return this.#parse(await kubeRequest(this.#o.kc, { method: 'POST', path: resourcePath(MDEV_PROBES), body }), name);
  }

  async #widen(current: MdevProbe, want: { devices: string[]; parents: string[] }): Promise<MdevProbe> {
    const devices = [...new Set([...(current.spec.devices ?? []), ...want.devices])].sort();
    const parents = [...new Set([...(current.spec.parents ?? []), ...want.parents])].sort();
    const patch = {
      metadata: { resourceVersion: current.metadata.resourceVersion },
      spec: { ...(devices.length > 0 ? { devices } : {}), ...(parents.length > 0 ? { parents } : {}) },
    };
    return this.#parse(await mergePatch(this.#o.kc, MDEV_PROBES, { name: current.metadata.name }, patch), current.metadata.name);
  }

  async #get(name: string): Promise<MdevProbe | undefined> {
    try {
      return this.#parse(await kubeRequest(this.#o.kc, { method: 'GET', path: resourcePath(MDEV_PROBES, { name }) }), name);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async #delete(name: string): Promise<boolean> {
    try {
      await kubeRequest(this.#o.kc, { method: 'DELETE', path: resourcePath(MDEV_PROBES, { name }) });
      return true;
    } catch (err) {
      if (!isNotFound(err)) this.#o.log.warn('Failed to delete MdevProbe', { probe: name, error: describeApiError(err) });
      return false;
    }
  }

  #parse(raw: unknown, name: string): MdevProbe {
    const probe = parseFromWire('MdevProbe', raw, this.#o.log);
    if (!probe) throw new Error(`The API server returned a malformed MdevProbe ${name}: check the installed CRDs (crds/)`);
    return probe;
  }

  /** Resolves with the answer once the informer shows it, or undefined at the deadline. */
  #wait(name: string, req: ProbeRequest, generation: number, deadline: number): Promise<ProbeAnswer | undefined> {
    return this.#waitFor(name, (probe) => (probe ? answerFrom(req, probe, generation) : undefined), deadline);
  }

  /** Resolves with `settled(probe)` once it is defined for the cached probe, or undefined at the deadline. */
  #waitFor<T>(name: string, settled: (probe: MdevProbe | undefined) => T | undefined, deadline: number): Promise<T | undefined> {
    return new Promise((resolve) => {
      let set = this.#waiters.get(name);
      if (!set) this.#waiters.set(name, (set = new Set()));
      const waiters = set;
      const finish = (answer: T | undefined): void => {
        clearTimeout(timer);
        waiters.delete(check);
        if (waiters.size === 0 && this.#waiters.get(name) === waiters) this.#waiters.delete(name);
        resolve(answer);
      };
      const check = (): void => {
        const answer = settled(this.#o.probes.get(name));
        if (answer !== undefined) finish(answer);
      };
      const timer = setTimeout(() => finish(undefined), Math.max(0, deadline - this.#now()));
      waiters.add(check);
      check();
    });
  }

  #wake(name: string): void {
    for (const check of [...(this.#waiters.get(name) ?? [])]) check();
  }

  #now(): number {
    return this.#o.now?.() ?? Date.now();
  }
}

/** An MdevProbe for the agent of `req.nodeName` (its label selector finds it), with extra spec fields. */
function probeBody(name: string, req: { nodeName: string; typeId: string; sourceVersion: string }, spec: Record<string, unknown>) {
  return {
    apiVersion: API_VERSION,
    kind: 'MdevProbe',
    metadata: { name, labels: { [LABEL_NODE]: req.nodeName, [LABEL_TYPE]: req.typeId } },
    spec: { nodeName: req.nodeName, typeId: req.typeId, sourceVersion: req.sourceVersion, ...spec },
  };
}
