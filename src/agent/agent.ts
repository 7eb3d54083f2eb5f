// The node agent: wires discovery (interval + on demand), consumer lookup, the publisher, the
// probe responder, the Lease heartbeat and the health/metrics endpoints. Everything the agent
// holds lives in the handle `startAgent` returns (no module-level state), so a fleet simulator
// can run many agents in one process, each with its own metrics registry.
import type { KubeConfig } from '../kube/kubeconfig.ts';
import { Registry } from 'prom-client';
import {
  agentLeaseName,
  FIELD_MANAGER_AGENT,
  GROUP,
  LABEL_NODE,
  PLURALS,
  VERSION,
  parseFromWire,
  type MdevProbe,
  type MdevProbeStatus,
} from '../api/v1alpha1/index.ts';
import type { CompatBackend } from '../compat/backend.ts';
import { ExecBackend } from '../compat/exec-backend.ts';
import { nvmlBackend } from '../compat/nvml-backend.ts';
import { SysfsBackend } from '../compat/sysfs-backend.ts';
import { mergePatch } from '../kube/apply.ts';
import { describeApiError, isNotFound } from '../kube/errors.ts';
import { realClock, type Clock } from '../kube/clock.ts';
import { informerFor, type Informer } from '../kube/informer.ts';
import { LeaseHeartbeat } from '../kube/lease-heartbeat.ts';
import { apiLeaseStore, type LeaseStore } from '../kube/lease-store.ts';
import { configMapOwner } from '../kube/release-owner.ts';
import { kubeRequest } from '../kube/request.ts';
import type { ResourceRef } from '../kube/resource.ts';
import { HealthServer } from '../observability/health.ts';
import { loggerFor, type Logger } from '../observability/logger.ts';
import { layoutForRoot, type SysfsLayout } from '../sysfs/layout.ts';
import { OsSysfs } from '../sysfs/os-sysfs.ts';
import type { SysfsIO } from '../sysfs/sysfs-io.ts';
import { AgentMetrics } from './agent-metrics.ts';
import { observedSummary, type ObservedSummary } from './applied-content.ts';
import { DEFAULT_PODRESOURCES_UNREADY_AFTER_MS, type AgentConfig } from './config.ts';
import { ConsumerLookup } from './consumer-lookup.ts';
import { createMdev } from './device-creator.ts';
import { runInventoryPass, type PassOutcome } from './inventory-pass.ts';
import { InventoryReading } from './inventory-reading.ts';
import { PassScheduler } from './pass-scheduler.ts';
import { listPodResources } from './podresources/client.ts';
import type { PodResourceEntry } from './podresources/types.ts';
import type { ProbeInventory } from './probe-plan.ts';
import { ProbeResponder } from './probe-responder.ts';
import { MDEV_DEVICE_RESOURCE, MDEV_NODE_RESOURCE, Publisher } from './publisher.ts';
import { USER_AGENTS, withUserAgent } from '../kube/user-agent.ts';

export const MDEV_PROBE_RESOURCE: ResourceRef = { group: GROUP, version: VERSION, plural: PLURALS.MdevProbe, namespaced: false };

/** How long pod changes on the node gather before the pass they trigger (one pass per burst). */
export const POD_CHANGE_DELAY_MS = 500;

export interface AgentDeps {
  kc: KubeConfig;
  /** Where the agent's metrics go; default a fresh registry (the CLI passes the process's one). */
  registry?: Registry;
  /** Default: built from config.backend over config.sysfsRoot. */
  backend?: CompatBackend;
  /**
   * The sysfs door used for discovery and device creation (default: the OS's, over
   * config.sysfsRoot). A backend that reads sysfs itself must use the same door.
   */
  io?: SysfsIO;
  /** Who holds which device; default the kubelet socket of config.podResourcesSocket. */
  podDevices?: () => Promise<readonly PodResourceEntry[]>;
  /** The clock of the PodResources readiness bound (tests pass a fake one); default real time. */
  clock?: Clock;
  leaseStore?: LeaseStore;
  logger?: Logger;
  /** false: no /healthz, /readyz, /metrics listener (in-process fleets). Default true. */
  serveHttp?: boolean;
}

export interface AgentHandle {
  readonly nodeName: string;
  readonly metrics: AgentMetrics;
  /** Bound ports of the health and metrics listeners (0 when not serving). */
  readonly healthPort: number;
  readonly metricsPort: number;
  /** Runs a discovery+publish pass now (coalesced with a running one); resolves when it is done. */
  rediscover(): Promise<void>;
  /** The last pass's outcome (undefined before the first). */
  lastPass(): PassOutcome | undefined;
  /** The readiness verdict /readyz serves, as data. */
  ready(): boolean;
  /** Probes pending or running. */
  probeBacklog(): number;
  /** Stops loops, watches and listeners. Leaves the Lease, MdevDevices and probes in place. */
  stop(): Promise<void>;
}

interface Backing {
  layout: SysfsLayout;
  io: SysfsIO;
  backend: CompatBackend;
}

/** The sysfs door and backend for the configured mode; `io` replaces the OS's door (fake trees). */
export function backingFor(config: AgentConfig, io?: SysfsIO): Backing {
  const layout = layoutForRoot(config.sysfsRoot, config.mdevctlRoot);
  if (config.backend === 'simulated') {
    // The simulated drivers are development stand-ins and are not part of the product build; the
    // checkout's CLI (dev/cli.ts) and the fleet pass them in as AgentDeps.io/backend.
    throw new Error('--backend simulated is only available from a checkout (npx mdev-operator agent, dev/cli.ts); the image runs sysfs, exec or nvml');
  }
  const door = io ?? new OsSysfs(layout.sysRoot);
  if (config.backend === 'exec') {
    if (!config.execCommand) throw new Error('--backend exec needs --exec-command');
    return { layout, io: door, backend: new ExecBackend({ command: config.execCommand }) };
  }
  if (config.backend === 'nvml') return { layout, io: door, backend: nvmlBackend({ helper: config.nvmlHelper }) };
  return { layout, io: door, backend: new SysfsBackend(door) };
}

export async function startAgent(config: AgentConfig, deps: AgentDeps): Promise<AgentHandle> {
  // Named to the API server as the agent, so its requests are counted apart from everyone else's.
  const agent = new Agent(config, { ...deps, kc: withUserAgent(deps.kc, USER_AGENTS.agent) });
  try {
    await agent.start();
  } catch (err) {
    await agent.stop();
    throw err;
  }
  return agent.handle();
}

class Agent {
  readonly #config: AgentConfig;
  readonly #deps: AgentDeps;
  readonly #log: Logger;
  readonly #metrics: AgentMetrics;
  readonly #backing: Backing;
  readonly #publisher: Publisher;
  readonly #consumers: ConsumerLookup;
  readonly #responder: ProbeResponder;
  readonly #scheduler: PassScheduler;
  readonly #heartbeat: LeaseHeartbeat;
  readonly #informers: Informer<unknown>[] = [];
  readonly #servers: HealthServer[] = [];
  #ports = { health: 0, metrics: 0 };
  #nodeUid: string | undefined;
  #last: PassOutcome | undefined;
  #lastPassError: string | undefined;
  #seenWarnings = new Set<string>();
  #stopped = false;
  #running = false;
  #nodeWarned = false;
  /** The first pass's reading, started while the informers sync (start). */
  #firstReading: InventoryReading | Error | undefined;

  constructor(config: AgentConfig, deps: AgentDeps) {
    this.#config = config;
    this.#deps = deps;
    this.#log = deps.logger ?? loggerFor('agent', { node: config.nodeName });
    this.#metrics = new AgentMetrics(deps.registry ?? new Registry());
    this.#backing = deps.backend && deps.io
      ? { layout: layoutForRoot(config.sysfsRoot, config.mdevctlRoot), io: deps.io, backend: deps.backend }
      : backingFor(config, deps.io);
    this.#publisher = new Publisher({ kc: deps.kc, nodeName: config.nodeName, metrics: this.#metrics, log: this.#log });
    const socket = config.podResourcesSocket;
    const podDevices = deps.podDevices ?? (socket ? () => listPodResources(socket) : undefined);
    this.#consumers = new ConsumerLookup({
      nodeName: config.nodeName,
      podDevices,
      // Ignored until started: the first pass covers everything before it, and a pass must not
      // run before the informers on the node's own objects (the consumers to keep) have synced.
      onChange: () => {
        if (this.#running) this.#scheduler.requestSoon(POD_CHANGE_DELAY_MS);
      },
      metrics: this.#metrics,
      clock: deps.clock ?? realClock,
      log: this.#log,
    });
    this.#scheduler = new PassScheduler(() => this.#pass(), config.resyncIntervalMs);
    this.#responder = this.#makeResponder();
    this.#heartbeat = new LeaseHeartbeat({
      store: deps.leaseStore ?? apiLeaseStore(deps.kc, config.namespace, config.ownerConfigMap ? configMapOwner(deps.kc, config.namespace, config.ownerConfigMap, { logger: this.#log }) : undefined),
      leaseName: agentLeaseName(config.nodeName),
      holderIdentity: config.nodeName,
      leaseDurationSeconds: Math.round(config.leaseDurationMs / 1000),
      renewIntervalMs: config.leaseRenewMs,
      logger: this.#log,
    });
  }

  async start(): Promise<void> {
    if (this.#deps.serveHttp !== false) await this.#serve();
    if (!this.#consumers.enabled) {
      this.#log.warn('No --podresources-socket configured: device consumers are unknown, so in-use devices are published without status.consumer');
    }
    // Everything the first publish waits for runs at once: the lists of the node's objects, pods
    // and probes (each may have to wait out a 429 Retry-After while the API server initialises
    // its watch cache of a resource, e.g. right after the CRDs were installed), the Node's uid, and
    // the sysfs scan and driver reads. Probes are only answered after the first pass (handlers
    // are added then and replay what the list found).
    const probes = this.#listProbes();
    const synced = Promise.all([this.#watchOwnObjects(), this.#consumers.start(this.#deps.kc), this.#readNodeUid()]);
    void synced.catch(() => undefined); // awaited below; a stop during start rejects it
    // Let the lists go out before the synchronous sysfs scan takes the event loop.
    await new Promise((resolve) => setImmediate(resolve));
    this.#firstReading = this.#startReading();
    this.#nodeUid = (await synced)[2];
    await this.#scheduler.request();
    if (this.#lastPassError !== undefined) throw new Error(`First discovery pass failed: ${this.#lastPassError}`);
    this.#heartbeat.start();
    await this.#answerProbes(probes);
    this.#running = true;
    this.#scheduler.start();
    this.#log.info('Agent started', { backend: this.#backing.backend.name, devices: this.#last?.inventory.devices.size ?? 0 });
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.#scheduler.stop();
    await this.#responder.stop();
    await Promise.all(this.#informers.map((i) => i.stop()));
    await this.#consumers.stop();
    // The Lease is left to expire rather than released: a restarting agent (rolling update)
    // should not flash its node as unavailable.
    await this.#heartbeat.stop();
    await Promise.all(this.#servers.map((s) => s.close()));
    this.#log.info('Agent stopped');
  }

  handle(): AgentHandle {
    return {
      nodeName: this.#config.nodeName,
      metrics: this.#metrics,
      healthPort: this.#ports.health,
      metricsPort: this.#ports.metrics,
      rediscover: () => this.#scheduler.request(),
      lastPass: () => this.#last,
      ready: () => this.#readiness().every((c) => c.ok),
      probeBacklog: () => this.#responder.backlog(),
      stop: () => this.stop(),
    };
  }

  /** A reading of sysfs and the driver; a scan that throws fails the pass that uses it. */
  #startReading(): InventoryReading | Error {
    try {
      return new InventoryReading(this.#backing);
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  async #pass(): Promise<void> {
    const end = this.#metrics.discoverySeconds.startTimer();
    const early = this.#firstReading;
    this.#firstReading = undefined;
    try {
      if (early instanceof Error) throw early;
      this.#nodeUid ??= await this.#readNodeUid();
      const outcome = await runInventoryPass({
        nodeName: this.#config.nodeName,
        nodeUid: this.#nodeUid,
        ...this.#backing,
        consumers: this.#consumers,
        publisher: this.#publisher,
      }, early);
      this.#last = outcome;
      this.#lastPassError = undefined;
      this.#metrics.devices.set(outcome.inventory.devices.size);
      this.#logPass(outcome);
    } catch (err) {
      this.#lastPassError = err instanceof Error ? err.message : String(err);
      this.#log.error('Discovery pass failed; keeping the last published state', { error: this.#lastPassError });
    } finally {
      end();
    }
  }

  #logPass(outcome: PassOutcome): void {
    const fresh = outcome.warnings.filter((w) => !this.#seenWarnings.has(w));
    for (const w of fresh) this.#log.warn('Discovery skipped an entry', { detail: w });
    this.#seenWarnings = new Set(outcome.warnings);
    const { applied, deleted, failed } = outcome.publish;
    if (applied.length + deleted.length + failed.length > 0) {
      this.#log.info('Published inventory changes', { applied: applied.length, deleted: deleted.length, failed: failed.length });
    }
  }

  async #readNodeUid(): Promise<string | undefined> {
    try {
      const node = (await kubeRequest(this.#deps.kc, { method: 'GET', path: `/api/v1/nodes/${encodeURIComponent(this.#config.nodeName)}` })) as {
        metadata?: { uid?: string };
      };
      return node.metadata?.uid;
    } catch (err) {
      const why = isNotFound(err) ? 'the Node object does not exist' : describeApiError(err);
      if (this.#nodeWarned) return undefined;
      this.#nodeWarned = true;
      this.#log.warn('Cannot read the Node; publishing without an owner reference until it can', { error: why });
      return undefined;
    }
  }

  /** Informers on this node's MdevDevices and MdevNode feed the publisher what the server holds. */
  async #watchOwnObjects(): Promise<void> {
    const selector = `${LABEL_NODE}=${this.#config.nodeName}`;
    const watch = (kind: 'MdevDevice' | 'MdevNode', resource: ResourceRef, opts: { labelSelector?: string; fieldSelector?: string }) => {
      const informer = informerFor<ObservedSummary>(this.#deps.kc, {
        resource,
        name: `agent-${resource.plural}`,
        ...opts,
        parse: (raw) => observedSummary(raw, kind === 'MdevDevice'),
      });
      informer.addHandlers({
        add: (s) => this.#publisher.observe(kind, s),
        update: (_old, s) => this.#publisher.observe(kind, s),
        delete: (s) => this.#publisher.forget(kind, s.name),
      });
      this.#informers.push(informer as Informer<unknown>);
      informer.start();
      return informer.waitForSync();
    };
    await Promise.all([
      watch('MdevDevice', MDEV_DEVICE_RESOURCE, { labelSelector: selector }),
      watch('MdevNode', MDEV_NODE_RESOURCE, { fieldSelector: `metadata.name=${this.#config.nodeName}` }),
    ]);
  }

  /** Starts listing and watching the node's probes; nothing answers them until #answerProbes. */
  #listProbes(): Informer<MdevProbe> {
    const informer = informerFor<MdevProbe>(this.#deps.kc, {
      resource: MDEV_PROBE_RESOURCE,
      name: 'agent-mdevprobes',
      labelSelector: `${LABEL_NODE}=${this.#config.nodeName}`,
      parse: (raw) => parseFromWire('MdevProbe', raw, this.#log),
    });
    this.#informers.push(informer as Informer<unknown>);
    informer.start();
    return informer;
  }

  /** Hands the node's probes to the responder: those listed so far (replayed as adds) and every later one. */
  async #answerProbes(informer: Informer<MdevProbe>): Promise<void> {
    informer.addHandlers({ add: (p) => this.#responder.enqueue(p), update: (_old, p) => this.#responder.enqueue(p) });
    // After an outage, offer every unanswered probe again: one whose answer could not be written
    // then would otherwise wait until the controller changes it.
    informer.onCurrent(() => {
      for (const p of informer.list()) this.#responder.enqueue(p);
    });
    await informer.waitForSync();
  }

  #makeResponder(): ProbeResponder {
    const { io, backend } = this.#backing;
    return new ProbeResponder({
      nodeName: this.#config.nodeName,
      backend,
      inventory: (): ProbeInventory | undefined => this.#last?.inventory,
      writeStatus: (name: string, status: MdevProbeStatus, signal: AbortSignal) => this.#writeProbeStatus(name, status, signal),
      createDevice: backend.name === 'exec' ? undefined : async (req) => createMdev(io, req),
      rediscover: () => this.#scheduler.request(),
      metrics: this.#metrics,
      log: this.#log,
    });
  }

  async #writeProbeStatus(name: string, status: MdevProbeStatus, signal: AbortSignal): Promise<void> {
    await mergePatch(this.#deps.kc, MDEV_PROBE_RESOURCE, { name }, { status }, { subresource: 'status', fieldManager: FIELD_MANAGER_AGENT, signal });
  }

  #readiness(): { name: string; ok: boolean; why?: string }[] {
    const renewed = this.#heartbeat.lastRenewedAt();
    return [
      { name: 'discovery', ok: this.#last !== undefined && this.#lastPassError === undefined, why: this.#lastPassError },
      { name: 'informers', ok: this.#informers.length > 0 && this.#informers.every((i) => i.hasSynced()) && this.#consumers.synced() },
      { name: 'lease', ok: renewed !== undefined && Date.now() - renewed < this.#config.leaseDurationMs },
      this.#consumerReadiness(),
    ];
  }

  /**
   * Consumers come from PodResources, or are knowingly unknown (no socket: passes, the name says
   * so). A kubelet that stops answering fails readiness once it has been failing for the bound:
   * the published consumers are then only the last known ones, and the node's operator should
   * know.
   */
  #consumerReadiness(): { name: string; ok: boolean; why?: string } {
    if (!this.#consumers.enabled) return { name: 'consumers-unknown-no-podresources-socket', ok: true };
    const { failingForMs, lastError } = this.#consumers.health();
    const bound = this.#config.podResourcesUnreadyAfterMs ?? DEFAULT_PODRESOURCES_UNREADY_AFTER_MS;
    if (failingForMs === undefined || failingForMs < bound) return { name: 'consumers-from-podresources', ok: true };
    return {
      name: 'consumers-from-podresources',
      ok: false,
      why: `kubelet PodResources unreachable for ${Math.round(failingForMs / 1000)}s (bound ${Math.round(bound / 1000)}s): ${lastError ?? 'unknown error'}; device consumers are kept as last published`,
    };
  }

  async #serve(): Promise<void> {
    const registry = this.#metrics.registry;
    const health = new HealthServer({ port: this.#config.healthPort, registry });
    for (const { name } of this.#readiness()) {
      health.addReadinessCheck(name, () => {
        const entry = this.#readiness().find((c) => c.name === name);
        if (!entry?.ok) throw new Error(entry?.why ?? `${name} not ready`);
      });
    }
    health.addLivenessCheck('agent', () => !this.#stopped);
    this.#servers.push(health);
    this.#ports.health = await health.listen();
    if (this.#config.metricsPort === this.#config.healthPort && this.#config.healthPort !== 0) {
      this.#ports.metrics = this.#ports.health;
      return;
    }
    const metrics = new HealthServer({ port: this.#config.metricsPort, registry });
    this.#servers.push(metrics);
    this.#ports.metrics = await metrics.listen();
  }
}
