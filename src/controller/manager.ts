// The controller manager. Every replica runs the informer caches and the decision service, serves
// /healthz, /readyz, /metrics and the admission webhook (plugged in through `webhook.start`, so the
// controller does not depend on the webhook module); leader election gates the reconciler and the
// sweepers (only the leader writes migration progress). A leader that cannot renew its Lease (an
// API server outage) stops leading at once — its reconcilers may no longer write — but the process
// keeps its caches and its webhook and campaigns again (docs/adr/0009). `stop()` is the graceful
// SIGTERM path (finish in-flight reconciles, release the lease); `kill()` simulates a crash: every
// later API write of this manager throws, nothing is drained or released.
import type { KubeConfig } from '../kube/kubeconfig.ts';
import { realClock, sleep } from '../kube/clock.ts';
import { LeaderElector } from '../kube/leader-election.ts';
import { withRequestsAbortedBy } from '../kube/request-scope.ts';
import { USER_AGENTS, withUserAgent } from '../kube/user-agent.ts';
import { apiLeaseStore } from '../kube/lease-store.ts';
import { configMapOwner } from '../kube/release-owner.ts';
import { HealthServer } from '../observability/health.ts';
import { loggerFor, type Logger } from '../observability/logger.ts';
import { VerdictCache } from '../placement/index.ts';
import { ControllerCaches } from './caches.ts';
import { DecisionService } from './decision.ts';
import { EventRecorder, type EventSink } from './events.ts';
import { deleteMigration } from './migration-delete.ts';
import { FinishedMigrations } from './finished-migrations.ts';
import { MigrationReconciler } from './migration-reconciler.ts';
import { DEFAULT_PROBE_TIMEOUT_MS, ProbeClient } from './probe-client.ts';
import { CapacityClaims, clearLegacyReservations, sweepClaims } from './claims.ts';
import { registerAgentLeaseSource } from './metrics.ts';
import { LEADER_LEASE_NAME } from './resources.ts';
import { VmimDriver } from './vmim-driver.ts';

export { LEADER_LEASE_NAME } from './resources.ts';

/** Thrown by every write once the manager was killed. */
export class ManagerKilledError extends Error {
  constructor() {
    super('The controller manager was killed; no further writes');
    this.name = 'ManagerKilledError';
  }
}

/** Thrown by every write of a leader term that ended by a lost Lease: another replica may lead now. */
export class NotLeaderError extends Error {
  constructor() {
    super('This replica lost its leader Lease; the work of that term writes nothing more');
    this.name = 'NotLeaderError';
  }
}

/** What the leader runs; exposed so the webhook, CLI tools and tests can use the same services. */
export interface LeaderServices {
  caches: ControllerCaches;
  decisions: DecisionService;
  claims: CapacityClaims;
  reconciler: MigrationReconciler;
  probes: ProbeClient;
}

/** Handed to the webhook starter on every replica, leader or not: the process's shared caches and decisions. */
export interface WebhookDeps {
  kc: KubeConfig;
  namespace: string;
  /** 0 = any free port. */
  port: number;
  log: Logger;
  caches: ControllerCaches;
  decisions: DecisionService;
}

export interface WebhookHandle {
  /** The port the webhook listens on. */
  readonly port: number;
  /** True once TLS material is loaded and the server listens (part of /readyz). */
  ready(): boolean;
  close(): Promise<void>;
}

export type WebhookStarter = (deps: WebhookDeps) => Promise<WebhookHandle>;

export interface ManagerOptions {
  kc: KubeConfig;
  namespace: string;
  leaderElect: boolean;
  identity?: string;
  probeTimeoutMs?: number;
  workers?: number;
  /** undefined = no health server; 0 = any free port. */
  healthPort?: number;
  /** undefined or equal to healthPort = metrics served on the health server. */
  metricsPort?: number;
  /** The admission webhook, served by every replica; absent = no webhook. */
  webhook?: { port: number; start: WebhookStarter };
  /** Sweeps of stale reservations and expired probes (default 10 s). */
  sweepIntervalMs?: number;
  /** Passed to every informer (seconds); tests may shorten it. */
  watchTimeoutSeconds?: number;
  maxAttempts?: number;
  /** How long an admission record waits for its VMIM before it fails (default 60 s). */
  admissionGraceMs?: number;
  /** A migration target pod Pending this long is given up for the next candidate (default 120 s). */
  targetPendingTimeoutMs?: number;
  /** Finished MdevMigrations kept per VMI (default DEFAULT_HISTORY_LIMIT); older ones are deleted. */
  historyLimit?: number;
  events?: EventSink;
  log?: Logger;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** ConfigMap in `namespace` that owns the leader Lease, so it is deleted with the release (src/kube/release-owner.ts). */
  ownerConfigMap?: string;
}

export interface ManagerHandle {
  readonly identity: string;
  readonly healthPort: number;
  readonly metricsPort: number;
  /** The webhook's port (0 without a webhook). */
  readonly webhookPort: number;
  isLeader(): boolean;
  /** Informers synced and workers running (false on a non-leader). */
  running(): boolean;
  services(): LeaderServices | undefined;
  /** The process's caches (every replica runs them: the webhook reads them). */
  caches(): ControllerCaches;
  /** Resolves once this replica leads and its caches synced. */
  waitUntilRunning(): Promise<void>;
  /** Resolves once the caches synced (and, with a webhook, it serves): what /readyz reports. */
  waitUntilReady(): Promise<void>;
  /** Graceful: finish in-flight work, stop informers, release the lease, close servers. */
  stop(): Promise<void>;
  /** Crash: no more writes of the reconciler, nothing drained; with leader election the lease is left to expire. */
  kill(): Promise<void>;
  /**
   * Resolves the next time this replica loses a lease it held (not on stop or kill). The replica
   * then stops reconciling, keeps serving, and campaigns again (ADR 0009); /healthz stays ok.
   */
  lostLeadership(): Promise<void>;
  /** How many times this replica became leader (a leader that lost its Lease and won it back counts twice). */
  terms(): number;
}

export async function startManager(opts: ManagerOptions): Promise<ManagerHandle> {
  // Named to the API server as the controller (webhook included), so its requests are counted apart.
  const m = new Manager({ ...opts, kc: withUserAgent(opts.kc, USER_AGENTS.controller) });
  await m.start();
  return m.handle();
}

class Manager {
  readonly #o: ManagerOptions;
  readonly #log: Logger;
  readonly #identity: string;
  readonly #servers: HealthServer[] = [];
  readonly #stop = new AbortController();
  readonly #caches: ControllerCaches;
  readonly #probes: ProbeClient;
  readonly #decisions: DecisionService;
  #ports = { health: 0, metrics: 0 };
  #elector: LeaderElector | undefined;
  #direct: Promise<void> | undefined;
  #services: LeaderServices | undefined;
  #running = false;
  #runningWaiters: Array<() => void> = [];
  #killed = false;
  readonly #lostWaiters: Array<() => void> = [];
  #terms = 0;
  /** The current (or last) leader term's work; a new campaign starts only after it ended. */
  #leading: Promise<void> | undefined;
  #webhook: WebhookHandle | undefined;
  #leaderRun: Promise<void> | undefined;
  #unregisterLeases: (() => void) | undefined;
  /** Caches synced and the first snapshot built: what /readyz waits for. */
  #settled = false;

  constructor(opts: ManagerOptions) {
    this.#o = opts;
    this.#identity = opts.identity ?? `controller-${process.pid}-${Math.random().toString(16).slice(2, 8)}`;
    this.#log = opts.log ?? loggerFor('controller', { identity: this.#identity });
    // Every replica keeps the caches and decides (the webhook needs both); only the leader reconciles.
    const { kc } = opts;
    this.#caches = new ControllerCaches({ kc, namespace: opts.namespace, log: this.#log, watchTimeoutSeconds: opts.watchTimeoutSeconds });
    this.#probes = new ProbeClient({ kc, probes: this.#caches.probes, log: this.#log });
    const probeTimeoutMs = opts.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
    this.#decisions = new DecisionService({
      view: () => this.#caches.view(),
      viewRevision: () => this.#caches.viewRevision(),
      cache: new VerdictCache(),
      prober: this.#probes,
      probeTimeoutMs,
      log: this.#log,
      currency: () => this.#caches.currency(),
      kubevirt: () => this.#caches.kubevirt.current(),
    });
    this.#decisions.watchDevices(this.#caches.devices);
  }

  async start(): Promise<void> {
    await this.#serveHealth();
    this.#caches.start();
    void this.#caches.waitForSync().then(
      () => {
        this.#decisions.prepare();
        this.#settled = true;
      },
      () => undefined, // stopped before it synced
    );
    this.#unregisterLeases = registerAgentLeaseSource(() => this.#caches.leases.list());
    if (this.#o.webhook) {
      this.#webhook = await this.#o.webhook.start({
        kc: this.#o.kc,
        namespace: this.#o.namespace,
        port: this.#o.webhook.port,
        log: this.#log.child({ part: 'webhook' }),
        caches: this.#caches,
        decisions: this.#decisions,
      });
    }
    if (!this.#o.leaderElect) {
      this.#direct = this.#lead(this.#stop.signal, () => false);
      return;
    }
    this.#leaderRun = this.#campaign();
  }

  /**
   * Campaigns, leads, and after a lost Lease campaigns again with a new elector (client-go's leads
   * once per process; we keep the process because it also serves the webhook: ADR 0009). The next
   * campaign starts only after the lost term's work ended, so two terms of this process never overlap.
   */
  async #campaign(): Promise<void> {
    const store = apiLeaseStore(this.#o.kc, this.#o.namespace, this.#o.ownerConfigMap ? configMapOwner(this.#o.kc, this.#o.namespace, this.#o.ownerConfigMap) : undefined);
    while (!this.#stop.signal.aborted && !this.#killed) {
      let lost = false;
      // Aborts the term's requests still in flight when its Lease is lost (ADR 0014).
      const term = new AbortController();
      const elector = new LeaderElector({
        store,
        leaseName: LEADER_LEASE_NAME,
        identity: this.#identity,
        leaseDurationMs: this.#o.leaseDurationMs,
        renewDeadlineMs: this.#o.renewDeadlineMs,
        retryPeriodMs: this.#o.retryPeriodMs,
        onStartedLeading: (signal) => (this.#leading = withRequestsAbortedBy(term.signal, () => this.#lead(signal, () => lost))),
        onStoppedLeading: (reason) => {
          if (reason !== 'lost' || this.#killed || this.#stop.signal.aborted) return;
          // Synchronously with the elector's abort: no write of this term may follow.
          lost = true;
          term.abort(new NotLeaderError());
          this.#log.error('Lost leadership (the Lease could not be renewed in time); stopping the reconcilers, serving on, campaigning again');
          for (const w of this.#lostWaiters.splice(0)) w();
        },
        logger: this.#log,
      });
      this.#elector = elector;
      const unwake = this.#caches.readiness.onReady(() => elector.retryNow());
      await elector.run();
      unwake();
      await this.#leading;
      if (!lost) return; // stopped or killed
    }
  }

  handle(): ManagerHandle {
    return {
      identity: this.#identity,
      healthPort: this.#ports.health,
      metricsPort: this.#ports.metrics,
      webhookPort: this.#webhook?.port ?? 0,
      isLeader: () => (this.#o.leaderElect ? (this.#elector?.isLeader() ?? false) : !this.#stop.signal.aborted),
      running: () => this.#running,
      services: () => this.#services,
      caches: () => this.#caches,
      waitUntilRunning: () => (this.#running ? Promise.resolve() : new Promise((r) => this.#runningWaiters.push(r))),
      waitUntilReady: () => this.#caches.waitForSync(),
      stop: () => this.#shutdown(false),
      kill: () => this.#shutdown(true),
      lostLeadership: () => new Promise((r) => this.#lostWaiters.push(r)),
      terms: () => this.#terms,
    };
  }

  /**
   * One leader term's work: reconciler, workers and sweepers over the shared caches until `signal`
   * aborts. `lost` turns true when the term ended by a lost Lease: from then on its writes throw.
   */
  async #lead(signal: AbortSignal, lost: () => boolean): Promise<void> {
    const { kc } = this.#o;
    const log = this.#log;
    const caches = this.#caches;
    const probes = this.#probes;
    const decisions = this.#decisions;
    const guard = (): void => {
      if (this.#killed) throw new ManagerKilledError();
      if (lost()) throw new NotLeaderError();
    };
    try {
      await Promise.race([caches.waitForSync(), new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('stopped before sync')), { once: true }))]);
    } catch {
      return;
    }
    const claims = new CapacityClaims({ kc, mdevNodes: caches.mdevNodes, devices: caches.devices, log, guard });
    const reconciler = new MigrationReconciler({
      kc,
      caches,
      decisions,
      claims,
      vmims: new VmimDriver({ kc, log, guard }),
      probes,
      events: this.#o.events ?? new EventRecorder(kc, log, this.#identity),
      log,
      guard,
      maxAttempts: this.#o.maxAttempts,
      admissionGraceMs: this.#o.admissionGraceMs,
      targetPendingTimeoutMs: this.#o.targetPendingTimeoutMs,
    });
    // The caches are synced: registering replays every cached migration, so a new leader reconciles all.
    reconciler.register();
    const finished = new FinishedMigrations({ migrations: caches.migrations, deleteMigration: (m) => deleteMigration(kc, m, guard), historyLimit: this.#o.historyLimit, clock: realClock, log });
    finished.register();
    this.#services = { caches, decisions, claims, reconciler, probes };
    const workers = Promise.all([reconciler.run(this.#o.workers ?? 8), finished.run(1)]);
    const sweeper = this.#sweep(
      signal,
      () => sweepClaims({ claims, mdevNodes: caches.mdevNodes, migrations: caches.migrations, log }),
      () => clearLegacyReservations(kc, caches.devices.list(), log, guard),
      () => probes.sweep(),
    );
    this.#running = true;
    this.#terms++;
    for (const w of this.#runningWaiters.splice(0)) w();
    log.info('Controller started', { identity: this.#identity, term: this.#terms });
    await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
    this.#running = false;
    reconciler.unregister();
    finished.unregister();
    await Promise.all([reconciler.queue.shutdown({ drain: false }), finished.queue.shutdown({ drain: false })]);
    await Promise.all([workers, sweeper]);
    this.#services = undefined;
    log.info('Controller stopped', { term: this.#terms });
  }

  async #sweep(signal: AbortSignal, ...jobs: Array<() => Promise<unknown>>): Promise<void> {
    const interval = this.#o.sweepIntervalMs ?? 10_000;
    while (!signal.aborted) {
      await sleep(realClock, interval, signal);
      if (signal.aborted || this.#killed) return;
      for (const job of jobs) {
        try {
          await job();
        } catch (err) {
          this.#log.warn('Sweep failed', { error: err instanceof Error ? err.message : String(err) });
        }
      }
    }
  }

  async #serveHealth(): Promise<void> {
    const { healthPort, metricsPort } = this.#o;
    if (healthPort === undefined) return;
    const health = new HealthServer({ port: healthPort });
    // Not on leadership: a replica that lost its Lease in an API server outage is healthy, serves
    // the webhook and campaigns again; restarting it would only take the webhook down too.
    health.addLivenessCheck('controller', () => !this.#killed);
    health.addReadinessCheck('caches synced', () => {
      if (!this.#caches.synced() || !this.#settled) throw new Error('informer caches not synced yet');
      return true;
    });
    if (this.#o.webhook) {
      health.addReadinessCheck('webhook TLS loaded', () => {
        if (!this.#webhook?.ready()) throw new Error('webhook TLS material not loaded or server not listening yet');
        return true;
      });
    }
    this.#servers.push(health);
    this.#ports.health = await health.listen();
    if (metricsPort === undefined || metricsPort === healthPort) {
      this.#ports.metrics = this.#ports.health;
      return;
    }
    const metrics = new HealthServer({ port: metricsPort });
    this.#servers.push(metrics);
    this.#ports.metrics = await metrics.listen();
  }

  async #shutdown(kill: boolean): Promise<void> {
    if (kill) this.#killed = true;
    this.#stop.abort();
    if (this.#elector) {
      if (kill) {
        // A crashed process never releases its lease: stop renewing without waiting for the
        // graceful release (its writes fail once killed); whatever else fails is logged.
        void this.#elector.stop().catch((err: unknown) => this.#log.warn('Leader election did not stop cleanly', { error: String(err) }));
      } else {
        await this.#elector.stop();
      }
    }
    await this.#direct;
    if (!kill) await this.#leaderRun;
    await this.#webhook?.close();
    this.#unregisterLeases?.();
    await this.#caches.stop();
    await Promise.all(this.#servers.map((s) => s.close()));
  }
}
