// Reconciles MdevMigrations: Pending → Probing → Planned (a dry run stops) → Migrating →
// Succeeded | Failed. Level-based and idempotent: every step reads what is (caches, VMIMs owned by
// the migration, reservations on devices) and all progress is written to status with the
// resourceVersion that was read, so a restarted or stale controller cannot write over newer
// progress, and a restarted one resumes from status. Attempt N's VMIM has a deterministic name,
// so a crash between creating it and recording it ends in adoption, never in a second VMIM.
import { createHash } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import { FIELD_MANAGER_CONTROLLER, parseFromWire, type MdevMigration, type MdevMigrationStatus } from '../api/v1alpha1/index.ts';
import { mergePatch } from '../kube/apply.ts';
import { isConflict, isNotFound } from '../kube/errors.ts';
import { objectKey } from '../kube/resource.ts';
import { WorkQueue, type ReconcileResult } from '../kube/workqueue.ts';
import { isVmimFinal, vmimPinnedNode, type Vmi, type Vmim } from '../kubevirt/types.ts';
import type { Logger } from '../observability/logger.ts';
import { admittedStep, admittedVmimNames, isAdmissionRecord, isAdmittedVmimOf } from './admitted-migration.ts';
import { cachedMigration, type ControllerCaches } from './caches.ts';
import type { DecisionResult, DecisionService } from './decision.ts';
import type { EventSink, EventType } from './events.ts';
import { controllerMetrics } from './metrics.ts';
import { decisionStatus, devicePairs, isFinalPhase, phaseStatus } from './migration-status.ts';
import type { ProbeClient } from './probe-client.ts';
import type { Reservations } from './reservations.ts';
import { toRequest } from './snapshot.ts';
import { failedAttempts, isOwnedBy, type VmimDriver } from './vmim-driver.ts';
import { MDEV_MIGRATIONS } from './resources.ts';
import { ANNOTATION_MIGRATION } from '../api/v1alpha1/constants.ts';

export const CONTROLLER_NAME = 'mdevmigration';
export const DEFAULT_MAX_ATTEMPTS = 3;
/** Waiting for an agent that timed out: try again after this long, while this much deadline remains. */
const AGENT_RETRY_DELAY_MS = 3_000;
const AGENT_RETRY_MARGIN_MS = 30_000;
/** Reservations outlive the migration's deadline by this much, so the sweeper, not a race, ends them. */
const RESERVATION_GRACE_MS = 60_000;
const RESYNC_MS = 30_000;
/** While waiting for the caches or for agents of unknown state: look again this often (recoveries and lease renewals wake it sooner). */
const WAIT_RETRY_MS = 2_000;

export interface MigrationReconcilerOptions {
  kc: KubeConfig;
  caches: ControllerCaches;
  decisions: DecisionService;
  reservations: Reservations;
  vmims: VmimDriver;
  probes: ProbeClient;
  events: EventSink;
  log: Logger;
  maxAttempts?: number;
  /** Budget of one decision's probing (default: the decision service's, 2 × probe timeout). */
  decisionBudgetMs?: number;
  /** Timeout for an agent to create a duplicate device (allowCreateTarget). */
  createTimeoutMs?: number;
  now?: () => number;
  /** Throws once the manager was killed, so no write happens after that (tests of restarts). */
  guard?: () => void;
  /** How long an admission record waits for its VMIM to appear (default 60 s). */
  admissionGraceMs?: number;
}

class Stop extends Error {}

export class MigrationReconciler {
  readonly queue: WorkQueue;
  readonly #o: MigrationReconcilerOptions;
  /** The newest object each status write returned: the informer may not have caught up yet. */
  readonly #written = new Map<string, MdevMigration>();
  /**
   * Per migration uid: nodes whose agent refused (or failed) to create a duplicate target device, and
   * why. Later plans exclude them, so a refusal moves on to the next candidate instead of asking the
   * same agent again until the deadline. In memory: after a restart a node is asked once more.
   */
  readonly #refusedTargets = new Map<string, Map<string, string>>();
  /** Migrations waiting for the caches to catch up or for agents of unknown state: woken by recoveries and lease renewals. */
  readonly #waiting = new Set<string>();
  /**
   * Per migration: a device this migration lost to another, and the resourceVersion at which it was
   * seen taken. The next plan waits until the device cache has seen that write (else it picks the
   * same device again: issue 18 measured 35 conflicts in 2.4 s from five migrations doing so).
   */
  readonly #lostAt = new Map<string, { device: string; version: string }>();
  readonly #unregister: Array<() => void> = [];

  constructor(opts: MigrationReconcilerOptions) {
    this.#o = opts;
    this.queue = new WorkQueue({ name: CONTROLLER_NAME, logger: opts.log });
  }

  /** Wires informer events to the queue (undone by `unregister`, when this leader's term ends). */
  register(): void {
    const { caches } = this.#o;
    const enqueue = (m: MdevMigration): void => this.queue.add(objectKey(m.metadata.namespace, m.metadata.name));
    const wakeWaiting = (): void => {
      for (const key of this.#waiting) this.queue.add(key);
      this.#waiting.clear();
    };
    this.#unregister.push(
      caches.onRecovered(wakeWaiting),
      caches.leases.addHandlers({ add: wakeWaiting, update: wakeWaiting }),
      caches.probes.addHandlers({ update: wakeWaiting }),
    );
    this.#unregister.push(caches.migrations.addHandlers({
      add: enqueue,
      update: (o, n) => {
        this.#forgetWrittenUpTo(n);
        if (o.metadata.generation !== n.metadata.generation || o.status?.phase !== n.status?.phase) enqueue(n);
      },
      delete: (m) => {
        this.#written.delete(objectKey(m.metadata.namespace, m.metadata.name));
        this.#lostAt.delete(objectKey(m.metadata.namespace, m.metadata.name));
        this.#refusedTargets.delete(m.metadata.uid ?? '');
      },
    }));
    const byOwner = (v: Vmim): void => {
      const refs = (v.metadata as { ownerReferences?: { kind?: string; name?: string; controller?: boolean }[] }).ownerReferences ?? [];
      for (const r of refs) if (r.kind === 'MdevMigration' && r.controller && r.name) this.queue.add(objectKey(v.metadata.namespace, r.name));
      // A VMIM admitted by the webhook names its MdevMigration in an annotation.
      const admitted = v.metadata.annotations?.[ANNOTATION_MIGRATION];
      if (admitted) this.queue.add(objectKey(v.metadata.namespace, admitted));
    };
    this.#unregister.push(caches.vmims.addHandlers({ add: byOwner, update: (_o, n) => byOwner(n), delete: byOwner }));
    const byVmi = (vmi: Vmi): void => {
      for (const m of caches.migrations.list()) {
        if (m.metadata.namespace === vmi.metadata.namespace && m.spec.vmiName === vmi.metadata.name && !isFinalPhase(m.status?.phase)) enqueue(m);
      }
    };
    this.#unregister.push(caches.vmis.addHandlers({ add: byVmi, delete: byVmi }));
    // A reservation that changed hands (swept, released, taken) concerns its migration.
    this.#unregister.push(caches.devices.addHandlers({
      update: (o, n) => {
        const before = o.status?.reservation;
        const after = n.status?.reservation;
        if (before && before.migration.uid !== after?.migration.uid) this.queue.add(objectKey(before.migration.namespace, before.migration.name));
      },
    }));
  }

  /** Removes every handler `register` added. */
  unregister(): void {
    for (const remove of this.#unregister.splice(0)) remove();
  }

  run(workers: number): Promise<void> {
    return this.queue.runWorkers(workers, (key) => this.reconcile(key));
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const m = this.#latest(key);
    if (!m || (m.metadata as { deletionTimestamp?: string }).deletionTimestamp) return;
    try {
      return await this.#reconcile(m);
    } catch (err) {
      // The manager was killed, or this leader term ended (lost Lease): write nothing more.
      if (err instanceof Stop || ['ManagerKilledError', 'NotLeaderError'].includes((err as Error | undefined)?.name ?? '')) return;
      // Our view was stale: someone (maybe we, before a restart) wrote newer status. Read again.
      if (isConflict(err)) return { requeueAfter: 100 };
      throw err;
    }
  }

  async #reconcile(m: MdevMigration): Promise<ReconcileResult | void> {
    const phase = m.status?.phase;
    if (phase === 'Succeeded') {
      this.#refusedTargets.delete(m.metadata.uid ?? '');
      return; // the sweeper releases reservations once the target device shows the VMI
    }
    if (phase === 'Failed') {
      await this.#o.reservations.releaseAll(m.metadata.uid ?? '');
      return;
    }
    if (phase === 'Planned' && m.spec.dryRun) return;
    // Nothing is read from caches that may be behind the API server (an informer relisting or in
    // backoff, /readyz failing): a VMI, VMIM or lease missing there proves nothing. Wait.
    const behind = this.#o.caches.currency().behind;
    if (behind.length > 0) return this.#wait(m, `caches behind the API server: ${behind.join(', ')}`);
    // Decided by the webhook for a VMIM someone else created: follow it, never plan or migrate.
    if (isAdmissionRecord(m)) return this.#followAdmitted(m);
    const deadlineAt = this.#deadlineAt(m);
    if (this.#now() >= deadlineAt) {
      return this.#fail(m, 'DeadlineExceeded', `deadline of ${m.spec.deadlineSeconds}s exceeded before the migration finished`);
    }
    const vmi = this.#o.caches.vmis.get(objectKey(m.metadata.namespace, m.spec.vmiName));
    if (!vmi) return this.#fail(m, 'VMIGone', `VirtualMachineInstance ${m.metadata.namespace}/${m.spec.vmiName} does not exist (any more)`);
    if (phase === 'Migrating' && m.status?.migrationName) return this.#follow(m, vmi);
    // A controller that died (or lost its Lease in an outage) after creating the VMIM but before
    // recording it left a live VMIM and an older phase: follow that VMIM, before anything else.
    // Deciding again would read the VMI's new node as the source; re-reserving the Planned targets
    // would find them taken by this very VMI once KubeVirt finished meanwhile.
    const live = this.#ownedVmims(m).find((v) => v.status?.phase !== 'Failed');
    if (live) return this.#adopt(m, live);
    if (phase === 'Planned' && m.status?.targetNode && (m.status.devices?.length ?? 0) > 0) return this.#startMigration(m);
    return this.#plan(m, vmi);
  }

  async #adopt(m: MdevMigration, vmim: Vmim): Promise<ReconcileResult | void> {
    const target = vmimPinnedNode(vmim);
    const message = `Adopted VirtualMachineInstanceMigration ${vmim.metadata.name}${target ? ` to ${target}` : ''}`;
    m = await this.#patch(m, {
      ...phaseStatus(m, { phase: 'Migrating', reason: 'Migrating', message }, this.#now()),
      migrationName: vmim.metadata.name,
      ...(target ? { targetNode: target } : {}),
    });
    this.#event(m, 'Normal', 'Migrating', message);
    return this.#follow(m, undefined, vmim);
  }

  // ---------------------------------------------------------------------------------------------
  // Steps
  // ---------------------------------------------------------------------------------------------

  async #plan(m: MdevMigration, vmi: Vmi): Promise<ReconcileResult | void> {
    if (!this.#cacheSawLoss(m)) return { requeue: true };
    const failed = failedAttempts(this.#ownedVmims(m), m.metadata.uid ?? '');
    const maxAttempts = this.#o.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    if (failed.length >= maxAttempts) {
      const last = failed[failed.length - 1];
      return this.#fail(m, 'AttemptsExhausted', `${failed.length} migration attempts failed; the last, to ${last?.node}, failed with: ${last?.reason}`);
    }
    // Probing is recorded when the decision has to wait for an agent, overlapping that wait (the
    // decision only reads). A decision whose verdicts are all known (a warm cache) goes straight
    // to its result: one status write instead of two, and nobody ever sees a Probing phase
    // during which no probe was outstanding.
    const deciding = `Deciding a target node for VMI ${m.metadata.namespace}/${m.spec.vmiName}`;
    const wasProbing = m.status?.phase === 'Probing';
    let probing: Promise<MdevMigration> | undefined;
    const onProbing = (): void => {
      if (wasProbing || probing) return;
      probing = this.#patch(m, {
        ...phaseStatus(m, { phase: 'Probing', reason: 'Probing', message: deciding }, this.#now()),
        targetNode: null,
        devices: null,
        migrationName: null,
      } as unknown as Partial<MdevMigrationStatus>);
      probing.catch(() => undefined); // awaited below; this only keeps an early rejection from being unhandled
    };
    const exclude = new Map([...failed.map((f): [string, string] => [f.node, `attempt ${f.vmim} to this node failed: ${f.reason}`]), ...(this.#refusedTargets.get(m.metadata.uid ?? '') ?? [])]);
    const decision = await this.#o.decisions.decide({ vmi, request: toRequest(m), probe: true, exclude, budgetMs: this.#o.decisionBudgetMs, onProbing });
    if (probing) {
      m = await probing;
      this.#event(m, 'Normal', 'Probing', deciding);
    }
    this.#o.guard?.();
    if (decision.behind) return this.#wait(m, decision.reason);
    if (!decision.source) return this.#fail(m, 'SourceNotMigratable', decision.reason);
    if (!decision.chosen) {
      // An agent that did not answer in time (an API server restart, a slow node) may answer on the
      // next try: wait while the deadline allows instead of failing on a transient silence.
      const silent = decision.candidates.explanations.filter((e) => e.verdict === 'AgentUnavailable' && e.message.startsWith('probe timed out'));
      if (silent.length > 0 && this.#now() + AGENT_RETRY_MARGIN_MS < this.#deadlineAt(m)) {
        await this.#patch(m, { ...decisionStatus(decision), message: `${decision.reason}; asking ${silent.map((e) => e.node).join(', ')} again` });
        // A late answer from that agent (or a recovery) wakes it sooner.
        this.#waiting.add(objectKey(m.metadata.namespace, m.metadata.name));
        return { requeueAfter: AGENT_RETRY_DELAY_MS };
      }
      // An agent whose lease looks expired in a cache that was not current long enough (an API
      // server outage just ended) may yet renew: not a verdict to fail on. The deadline bounds it.
      const unknown = this.#waitableUnknownAgents(m, decision);
      if (unknown.length > 0) {
        const message = `${decision.reason}; waiting for the agents of ${unknown.join(', ')}, whose leases look expired but cannot be judged yet (Lease updates seen for less than one lease duration), to renew them`;
        if (m.status?.message !== message) await this.#patch(m, { ...decisionStatus(decision), message });
        return this.#wait(m, message);
      }
      return this.#fail(m, 'NoCompatibleNode', decision.reason, decisionStatus(decision));
    }
    if (decision.needsConfirmation) {
      // The chosen devices were never tested themselves (the confirmation went unanswered): decide again.
      await this.#patch(m, { ...decisionStatus(decision), message: `Target ${decision.chosen.node} not confirmed by its agent yet; deciding again` });
      return { requeueAfter: 1000 };
    }
    if (m.spec.dryRun) return this.#planned(m, decision);
    return this.#reserveAndMigrate(m, decision, failed.length);
  }

  async #planned(m: MdevMigration, d: DecisionResult): Promise<void> {
    const chosen = d.chosen?.node as string;
    const creates = d.assignment.filter((p) => p.target.kind === 'slot').length;
    const message = `Dry run: ${chosen} would take VMI ${m.metadata.namespace}/${m.spec.vmiName}` + (creates > 0 ? ` (${creates} device(s) to create)` : '');
    await this.#patch(m, {
      ...phaseStatus(m, { phase: 'Planned', reason: 'DryRun', message }, this.#now()),
      ...decisionStatus(d),
      targetNode: chosen,
      devices: devicePairs(d),
    });
    controllerMetrics.migrations.inc({ result: 'planned' });
    this.#event(m, 'Normal', 'Planned', message);
  }

  async #reserveAndMigrate(m: MdevMigration, d: DecisionResult, failedCount: number): Promise<ReconcileResult | void> {
    const chosen = d.chosen?.node as string;
    const created = await this.#createTargets(m, d);
    if ('reason' in created) {
      if (created.node) this.#refusedOn(m).set(created.node, created.reason);
      m = await this.#patch(m, { ...decisionStatus(d), message: `${created.reason}${created.node ? '; trying the next candidate' : ''}` });
      this.#event(m, 'Warning', 'TargetCreationFailed', created.reason);
      return { requeueAfter: created.node ? 1 : 2000 };
    }
    const pairs = devicePairs(d, created.devices);
    const owner = { namespace: m.metadata.namespace as string, name: m.metadata.name, uid: m.metadata.uid ?? '' };
    const reserved = await this.#o.reservations.reserve(owner, chosen, pairs.map((p) => p.target), this.#deadlineAt(m) + RESERVATION_GRACE_MS);
    if (!reserved.ok) {
      // Another migration won the device: decide again once the cache shows that write, backing
      // off per key (the workqueue's rate limiter) rather than retrying at a fixed pace.
      this.#event(m, 'Normal', 'ReservationLost', `Lost ${reserved.device} on ${chosen}: ${reserved.reason}; deciding again`);
      this.#rememberLoss(m, reserved);
      return { requeue: true };
    }
    const attempt = Math.max(m.status?.attempts ?? 0, failedCount) + 1;
    const message = `Reserved ${pairs.length} device(s) on ${chosen} for attempt ${attempt}`;
    try {
      m = await this.#patch(m, {
        ...phaseStatus(m, { phase: 'Planned', reason: 'Reserved', message }, this.#now()),
        ...decisionStatus(d),
        targetNode: chosen,
        devices: pairs,
        attempts: attempt,
      });
    } catch (err) {
      if (!(err instanceof Stop)) await this.#o.reservations.releaseAll(owner.uid).catch(() => undefined);
      throw err;
    }
    this.#event(m, 'Normal', 'Reserved', message);
    return this.#startMigration(m);
  }

  /** Planned with reservations: make sure they are still ours, then create (or adopt) the VMIM. */
  async #startMigration(m: MdevMigration): Promise<ReconcileResult | void> {
    const status = m.status as MdevMigrationStatus;
    const target = status.targetNode as string;
    const owner = { namespace: m.metadata.namespace as string, name: m.metadata.name, uid: m.metadata.uid ?? '' };
    const held = await this.#o.reservations.reserve(owner, target, (status.devices ?? []).map((p) => p.target), this.#deadlineAt(m) + RESERVATION_GRACE_MS);
    if (!held.ok) {
      await this.#patch(m, {
        ...phaseStatus(m, { phase: 'Probing', reason: 'ReservationLost', message: `Reservation on ${target} was lost (${held.reason}); deciding again` }, this.#now()),
        targetNode: null,
        devices: null,
      } as unknown as Partial<MdevMigrationStatus>);
      this.#rememberLoss(m, held);
      return { requeue: true };
    }
    const attempt = status.attempts ?? 1;
    const { vmim, created } = await this.#o.vmims.ensure(m, attempt, target);
    const message = `${created ? 'Created' : 'Adopted'} VirtualMachineInstanceMigration ${vmim.metadata.name} to ${target}`;
    m = await this.#patch(m, {
      ...phaseStatus(m, { phase: 'Migrating', reason: 'Migrating', message }, this.#now()),
      migrationName: vmim.metadata.name,
    });
    this.#event(m, 'Normal', 'Migrating', message);
    return this.#follow(m, undefined, vmim);
  }

  async #follow(m: MdevMigration, _vmi: Vmi | undefined, known?: Vmim): Promise<ReconcileResult | void> {
    const name = m.status?.migrationName as string;
    const ns = m.metadata.namespace as string;
    const vmim = this.#newer(known, this.#o.caches.vmims.get(objectKey(ns, name))) ?? (await this.#o.vmims.get(ns, name));
    const target = m.status?.targetNode ?? '';
    if (!vmim || !isOwnedBy(vmim, m.metadata.uid ?? '')) {
      return this.#retry(m, target, `VirtualMachineInstanceMigration ${ns}/${name} disappeared before it finished`);
    }
    if (vmim.status?.phase === 'Succeeded') {
      const message = `VMI ${ns}/${m.spec.vmiName} now runs on ${target}`;
      await this.#patch(m, phaseStatus(m, { phase: 'Succeeded', reason: 'Succeeded', message }, this.#now()));
      controllerMetrics.migrations.inc({ result: 'succeeded' });
      this.#event(m, 'Normal', 'Succeeded', message);
      return;
    }
    if (vmim.status?.phase === 'Failed') {
      const why = vmim.status.migrationState?.failureReason ?? 'the KubeVirt migration failed';
      return this.#retry(m, target, `VirtualMachineInstanceMigration ${name} to ${target} failed: ${why}`);
    }
    return { requeueAfter: Math.max(1, Math.min(RESYNC_MS, this.#deadlineAt(m) - this.#now())) };
  }

  /**
   * An admission record: its VMIM's end is the record's end. No retry (that VMIM is the user's or
   * KubeVirt's) and no deadline (KubeVirt's own progress timeouts govern a running migration).
   */
  async #followAdmitted(m: MdevMigration): Promise<ReconcileResult | void> {
    let vmim = this.#admittedVmim(m);
    let step = admittedStep({ record: m, vmim, now: this.#now(), graceMs: this.#o.admissionGraceMs, resyncMs: RESYNC_MS });
    if (!vmim && step.kind === 'failed') {
      // Never fail a record on a lagging cache: ask the API server before giving up on its VMIM.
      vmim = await this.#admittedVmimFromApi(m);
      step = admittedStep({ record: m, vmim, now: this.#now(), graceMs: this.#o.admissionGraceMs, resyncMs: RESYNC_MS });
    }
    if (step.kind === 'wait') return { requeueAfter: step.requeueAfterMs };
    if (step.kind === 'failed') return this.#fail(m, step.reason, step.message);
    await this.#patch(m, phaseStatus(m, { phase: 'Succeeded', reason: 'Succeeded', message: step.message }, this.#now()));
    controllerMetrics.migrations.inc({ result: 'succeeded' });
    this.#event(m, 'Normal', 'Succeeded', step.message);
  }

  #admittedVmim(m: MdevMigration): Vmim | undefined {
    const ns = m.metadata.namespace as string;
    for (const name of admittedVmimNames(m)) {
      const v = this.#o.caches.vmims.get(objectKey(ns, name));
      if (v && isAdmittedVmimOf(v, m)) return v;
    }
    // A generated name (generateName) is known only from the VMIM's annotation.
    return this.#o.caches.vmims.list().find((v) => isAdmittedVmimOf(v, m));
  }

  async #admittedVmimFromApi(m: MdevMigration): Promise<Vmim | undefined> {
    const ns = m.metadata.namespace as string;
    for (const name of admittedVmimNames(m)) {
      const v = await this.#o.vmims.get(ns, name);
      if (v && isAdmittedVmimOf(v, m)) return v;
    }
    return undefined;
  }

  /** An attempt ended without success: release, then plan again (excluding that node) or give up. */
  async #retry(m: MdevMigration, target: string, reason: string): Promise<ReconcileResult | void> {
    await this.#o.reservations.releaseAll(m.metadata.uid ?? '');
    this.#event(m, 'Warning', 'AttemptFailed', reason);
    const attempts = m.status?.attempts ?? 1;
    const maxAttempts = this.#o.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    if (attempts >= maxAttempts) return this.#fail(m, 'AttemptsExhausted', `${attempts} migration attempts failed; the last: ${reason}`);
    await this.#patch(m, {
      ...phaseStatus(m, { phase: 'Probing', reason: 'AttemptFailed', message: `${reason}; trying the next candidate` }, this.#now()),
      targetNode: null,
      devices: null,
      migrationName: null,
    } as unknown as Partial<MdevMigrationStatus>);
    void target;
    return { requeueAfter: 1 };
  }

  /** Requeued when the caches recover or a lease changes, and every WAIT_RETRY_MS meanwhile. */
  #wait(m: MdevMigration, why: string): ReconcileResult {
    const key = objectKey(m.metadata.namespace, m.metadata.name);
    if (!this.#waiting.has(key)) this.#o.log.info(`Waiting: ${why}`, { migration: key });
    this.#waiting.add(key);
    return { requeueAfter: WAIT_RETRY_MS };
  }

  /** Unknown-state agents that could take this migration (inside its targetNodes, if any). */
  #waitableUnknownAgents(m: MdevMigration, decision: DecisionResult): string[] {
    const allowed = m.spec.targetNodes && m.spec.targetNodes.length > 0 ? new Set(m.spec.targetNodes) : undefined;
    return (decision.unknownAgents ?? []).filter((n) => !allowed || allowed.has(n));
  }

  #rememberLoss(m: MdevMigration, lost: { device: string; seenVersion?: string }): void {
    if (lost.seenVersion) this.#lostAt.set(objectKey(m.metadata.namespace, m.metadata.name), { device: lost.device, version: lost.seenVersion });
  }

  /** Whether the device cache has seen the write that took a device from this migration (if any). */
  #cacheSawLoss(m: MdevMigration): boolean {
    const key = objectKey(m.metadata.namespace, m.metadata.name);
    const lost = this.#lostAt.get(key);
    if (!lost) return true;
    const cached = this.#o.caches.devices.get(lost.device);
    if (cached && !versionAtLeast(cached.metadata.resourceVersion, lost.version)) return false;
    this.#lostAt.delete(key);
    return true;
  }

  #refusedOn(m: MdevMigration): Map<string, string> {
    const uid = m.metadata.uid ?? '';
    let refused = this.#refusedTargets.get(uid);
    if (!refused) this.#refusedTargets.set(uid, (refused = new Map()));
    return refused;
  }

  async #fail(m: MdevMigration, reason: string, message: string, extra: Partial<MdevMigrationStatus> = {}): Promise<void> {
    this.#refusedTargets.delete(m.metadata.uid ?? '');
    const ns = m.metadata.namespace as string;
    const running = m.status?.migrationName ? this.#o.caches.vmims.get(objectKey(ns, m.status.migrationName)) : undefined;
    // Only a VMIM this migration owns is ours to abort; an admitted VMIM belongs to whoever created it.
    if (running && !isVmimFinal(running) && isOwnedBy(running, m.metadata.uid ?? '')) await this.#o.vmims.delete(ns, running.metadata.name);
    await this.#o.reservations.releaseAll(m.metadata.uid ?? '');
    await this.#patch(m, { ...extra, ...phaseStatus(m, { phase: 'Failed', reason, message }, this.#now()) });
    controllerMetrics.migrations.inc({ result: 'failed' });
    this.#event(m, 'Warning', reason, message);
  }

  /** Devices to create on the target (allowCreateTarget): asks its agent, returns source → new device. */
  async #createTargets(m: MdevMigration, d: DecisionResult): Promise<{ devices: Map<string, string> } | { reason: string; node?: string }> {
    const devices = new Map<string, string>();
    const sources = new Map((d.source?.devices ?? []).map((s) => [s.name, s]));
    for (const pair of d.assignment) {
      if (pair.target.kind !== 'slot') continue;
      const source = sources.get(pair.source);
      if (!source) return { reason: `source device ${pair.source} vanished while planning` };
      const params = this.#o.caches.devices.get(pair.source)?.spec.creationParams;
      this.#o.guard?.();
      const outcome = await this.#o.probes.createDuplicate(
        { nodeName: pair.target.nodeName, typeId: pair.target.typeId, sourceVersion: source.version, parent: pair.target.parentAddress, uuid: duplicateUuid(m.metadata.uid ?? '', pair.source), ...(params ? { creationParams: params } : {}) },
        this.#o.createTimeoutMs ?? 20_000,
      );
      if ('reason' in outcome) return { reason: `could not create a duplicate of ${pair.source} on ${pair.target.nodeName}: ${outcome.reason}`, node: pair.target.nodeName };
      devices.set(pair.source, outcome.device);
    }
    return { devices };
  }

  // ---------------------------------------------------------------------------------------------
  // Plumbing
  // ---------------------------------------------------------------------------------------------

  async #patch(m: MdevMigration, status: Partial<MdevMigrationStatus>): Promise<MdevMigration> {
    this.#o.guard?.();
    const key = objectKey(m.metadata.namespace, m.metadata.name);
    const body = { metadata: { resourceVersion: m.metadata.resourceVersion }, status: { observedGeneration: m.metadata.generation ?? 1, ...status } };
    try {
      const raw = await mergePatch(this.#o.kc, MDEV_MIGRATIONS, { namespace: m.metadata.namespace, name: m.metadata.name }, body, {
        subresource: 'status',
        fieldManager: FIELD_MANAGER_CONTROLLER,
      });
      const stored = parseFromWire('MdevMigration', raw, this.#o.log);
      if (!stored) throw new Error(`The API server returned a malformed MdevMigration ${key}: check the installed CRDs (crds/)`);
      this.#written.set(key, cachedMigration(stored) as MdevMigration);
      return stored;
    } catch (err) {
      if (isNotFound(err)) throw new Stop();
      throw err;
    }
  }

  /** The cached object, or the one our last write returned when the cache has not caught up. */
  #latest(key: string): MdevMigration | undefined {
    const cached = this.#o.caches.migrations.get(key);
    const written = this.#written.get(key);
    if (!cached) {
      this.#written.delete(key);
      return undefined;
    }
    if (!written) return cached;
    const newer = written.metadata.uid === cached.metadata.uid ? newerByVersion(cached, written) : cached;
    // Once the cache has caught up, the written copy has served its purpose.
    if (newer === cached) this.#written.delete(key);
    return newer;
  }

  /** Drops our written copy of `m` once the cache holds that version or a newer one. */
  #forgetWrittenUpTo(m: MdevMigration): void {
    const key = objectKey(m.metadata.namespace, m.metadata.name);
    const written = this.#written.get(key);
    if (written && (written.metadata.uid !== m.metadata.uid || newerByVersion(m, written) === m)) this.#written.delete(key);
  }

  #newer(a: Vmim | undefined, b: Vmim | undefined): Vmim | undefined {
    if (!a || !b) return a ?? b;
    return newerByVersion(a, b);
  }

  #ownedVmims(m: MdevMigration): Vmim[] {
    return this.#o.caches.vmims.list().filter((v) => v.metadata.namespace === m.metadata.namespace && isOwnedBy(v, m.metadata.uid ?? ''));
  }

  #deadlineAt(m: MdevMigration): number {
    const created = Date.parse(String((m.metadata as { creationTimestamp?: unknown }).creationTimestamp ?? ''));
    return (Number.isFinite(created) ? created : this.#now()) + m.spec.deadlineSeconds * 1000;
  }

  #event(m: MdevMigration, type: EventType, reason: string, message: string): void {
    this.#o.events.record(m, type, reason, message);
    this.#o.log.info(`${reason}: ${message}`, { migration: `${m.metadata.namespace}/${m.metadata.name}` });
  }

  #now(): number {
    return this.#o.now?.() ?? Date.now();
  }
}

/**
 * The newer of two versions of one object. resourceVersions are opaque by contract, but the
 * API server's are etcd revisions; this is only an optimisation (every write carries a
 * precondition), so a wrong guess costs a 409 and a retry, never a lost update.
 */
export function newerByVersion<T extends { metadata: { resourceVersion?: string } }>(a: T, b: T): T {
  const ra = a.metadata.resourceVersion ?? '';
  const rb = b.metadata.resourceVersion ?? '';
  if (/^\d+$/.test(ra) && /^\d+$/.test(rb)) return BigInt(rb) > BigInt(ra) ? b : a;
  return a;
}

/** Whether resourceVersion `rv` is `min` or newer (etcd revisions; an opaque one counts as new enough). */
export function versionAtLeast(rv: string | undefined, min: string): boolean {
  if (!rv || !/^\d+$/.test(rv) || !/^\d+$/.test(min)) return true;
  return BigInt(rv) >= BigInt(min);
}

/** A deterministic mdev UUID for the duplicate of `sourceDevice` made for migration `uid`. */
export function duplicateUuid(migrationUid: string, sourceDevice: string): string {
  const h = createHash('sha256').update(`${migrationUid}\0${sourceDevice}`).digest('hex');
  const variant = ((parseInt(h[16] as string, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
