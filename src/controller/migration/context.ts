// What every step of the MdevMigration reconciler receives: its dependencies, the status writer,
// the clock, Events, and the few derived facts several steps need (deadline, owned VMIMs, claim
// demands, a node's hostname label), and what a migration waits on in memory (recoveries of the
// caches, a lost claim showing in the cache). Steps are plain functions over this context (plan.ts,
// claim.ts, start.ts, follow.ts, settle.ts, admitted.ts, outcome.ts).
import type { KubeConfig } from '../../kube/kubeconfig.ts';
import type { MdevMigration } from '../../api/v1alpha1/index.ts';
import { listObjectEvents, type ObjectEvent } from '../../kube/object-events.ts';
import { objectKey } from '../../kube/resource.ts';
import type { ReconcileResult } from '../../kube/workqueue.ts';
import { listTargetPods, type TargetPod } from '../../kubevirt/launcher-pods.ts';
import { LABEL_HOSTNAME, type Vmim } from '../../kubevirt/types.ts';
import type { Logger } from '../../observability/logger.ts';
import type { ControllerCaches } from '../caches.ts';
import type { CapacityClaims, ClaimDemand, ClaimOwner } from '../claims.ts';
import type { DecisionService } from '../decision.ts';
import type { EventSink, EventType } from '../events.ts';
import { claimDemands } from '../migration-status.ts';
import type { ProbeClient } from '../probe-client.ts';
import { isOwnedBy, type VmimDriver } from '../vmim-driver.ts';
import { versionAtLeast, type StatusWriter } from './status-writer.ts';

export const DEFAULT_MAX_ATTEMPTS = 3;
/** Claims outlive the migration's deadline by this much, so the sweeper, not a race, ends them. */
export const CLAIM_GRACE_MS = 60_000;
export const RESYNC_MS = 30_000;
/**
 * A target pod still Pending this long is given up (cancel, next candidate). KubeVirt itself gives
 * up on an unschedulable target pod after 5 minutes (defaultUnschedulablePendingTimeoutSeconds in
 * pkg/virt-controller/watch/migration/migration.go) and says why only in Events; the operator
 * knows other candidates, so it waits less.
 */
export const DEFAULT_TARGET_PENDING_TIMEOUT_MS = 120_000;
/** How long after success the agent has to show which device the VMI got (then claims go anyway). */
export const DEFAULT_SETTLE_GRACE_MS = 60_000;
/** While waiting for the caches or for agents of unknown state: look again this often (recoveries and lease renewals wake it sooner). */
export const WAIT_RETRY_MS = 2_000;
/** A wait whose wake-up came while its reconcile ran is retried after this long instead (a yield, not a poll). */
export const WOKEN_RETRY_MS = 20;

/** A claim this migration lost on `node`, and the MdevNode's resourceVersion at which it was seen lost. */
export interface ClaimLoss {
  node: string;
  version: string;
}

export interface MigrationReconcilerOptions {
  kc: KubeConfig;
  caches: ControllerCaches;
  decisions: DecisionService;
  claims: CapacityClaims;
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
  /** A target pod Pending longer than this is given up for the next candidate (default 120 s). */
  targetPendingTimeoutMs?: number;
  /** How long after success to wait for the device the VMI got (default 60 s). */
  settleGraceMs?: number;
  /** Events about an object, newest first (default: the API server). */
  objectEvents?: (namespace: string, uid: string) => Promise<ObjectEvent[]>;
  /** A VMIM's target pods (default: the API server). */
  targetPods?: (namespace: string, vmimUid: string) => Promise<TargetPod[]>;
}

export class StepContext {
  readonly o: MigrationReconcilerOptions;
  readonly status: StatusWriter;
  /** VMIM uid → when this controller first saw it before its target ran (target-pending bound). */
  readonly pendingSince = new Map<string, number>();
  /** Migrations (keys) waiting for the caches to catch up or for agents of unknown state: woken by recoveries and lease renewals. */
  readonly #waiting = new Set<string>();
  /**
   * Migrations being reconciled now, and those of them a wake-up (`takeWaiting`) came for while they
   * were: their reconcile may have read the caches before the change that woke them (a lease renewed
   * after an outage while the plan was deciding), so a wait it ends in is cut short, not slept out.
   */
  readonly #reconciling = new Set<string>();
  readonly #wokenWhileReconciling = new Set<string>();
  /**
   * Per migration (key): the claim it last lost, and at which MdevNode resourceVersion. The next plan
   * waits until the MdevNode cache has seen that write, else it picks the same node again (issue 18
   * measured 35 conflicts in 2.4 s from five migrations doing so).
   */
  readonly #lost = new Map<string, ClaimLoss>();

  constructor(o: MigrationReconcilerOptions, status: StatusWriter) {
    this.o = o;
    this.status = status;
  }

  get caches(): ControllerCaches {
    return this.o.caches;
  }

  now(): number {
    return this.o.now?.() ?? Date.now();
  }

  maxAttempts(): number {
    return this.o.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  }

  deadlineAt(m: MdevMigration): number {
    const created = Date.parse(m.metadata.creationTimestamp ?? '');
    return (Number.isFinite(created) ? created : this.now()) + m.spec.deadlineSeconds * 1000;
  }

  claimExpiry(m: MdevMigration): number {
    return this.deadlineAt(m) + CLAIM_GRACE_MS;
  }

  owner(m: MdevMigration): ClaimOwner {
    return { namespace: m.metadata.namespace as string, name: m.metadata.name, uid: m.metadata.uid ?? '' };
  }

  /** Requeued when the caches recover, a lease changes or a probe is answered (`takeWaiting`), and every `retryMs` meanwhile. */
  wait(m: MdevMigration, why: string, retryMs = WAIT_RETRY_MS): ReconcileResult {
    const key = objectKey(m.metadata.namespace, m.metadata.name);
    if (!this.#waiting.has(key)) this.o.log.info(`Waiting: ${why}`, { migration: key });
    this.#waiting.add(key);
    // Woken while this reconcile ran: what it waited for may already be in the caches.
    if (this.#wokenWhileReconciling.delete(key)) return { requeueAfter: WOKEN_RETRY_MS };
    return { requeueAfter: retryMs };
  }

  /** The waiting migrations' keys, forgotten: the caller requeues them. Migrations being reconciled now are marked woken (see `wait`). */
  takeWaiting(): string[] {
    const keys = [...this.#waiting];
    this.#waiting.clear();
    for (const key of this.#reconciling) this.#wokenWhileReconciling.add(key);
    return keys;
  }

  /** Brackets one reconcile of `key` (wake-ups that arrive meanwhile are remembered for `wait`). */
  async reconciling<T>(key: string, run: () => Promise<T>): Promise<T> {
    this.#reconciling.add(key);
    try {
      return await run();
    } finally {
      this.#reconciling.delete(key);
      this.#wokenWhileReconciling.delete(key);
    }
  }

  /** Remembers a lost claim; the next plan of `m` waits until the MdevNode cache shows that version. */
  rememberLoss(m: MdevMigration, loss: { node: string; seenVersion?: string }): void {
    if (loss.seenVersion) this.#lost.set(objectKey(m.metadata.namespace, m.metadata.name), { node: loss.node, version: loss.seenVersion });
  }

  /** Whether the MdevNode cache has seen the write that took this migration's last lost claim (if any). */
  cacheSawLoss(m: MdevMigration): boolean {
    const key = objectKey(m.metadata.namespace, m.metadata.name);
    const lost = this.#lost.get(key);
    if (!lost) return true;
    const cached = this.caches.mdevNodes.get(lost.node);
    if (cached && !versionAtLeast(cached.metadata.resourceVersion, lost.version)) return false;
    this.#lost.delete(key);
    return true;
  }

  /** Drops what is kept in memory for a deleted migration. */
  forget(key: string): void {
    this.#waiting.delete(key);
    this.#lost.delete(key);
  }

  event(m: MdevMigration, type: EventType, reason: string, message: string): void {
    this.o.events.record(m, type, reason, message);
    this.o.log.info(`${reason}: ${message}`, { migration: `${m.metadata.namespace}/${m.metadata.name}` });
  }

  vmim(namespace: string, name: string): Vmim | undefined {
    return this.caches.vmims.get(objectKey(namespace, name));
  }

  ownedVmims(m: MdevMigration): Vmim[] {
    return this.caches.vmims.list().filter((v) => v.metadata.namespace === m.metadata.namespace && isOwnedBy(v, m.metadata.uid ?? ''));
  }

  /** The claims the migration's device entries stand for. */
  demands(m: MdevMigration): ClaimDemand[] {
    return claimDemands(m.status?.devices ?? [], (source) => this.caches.devices.get(source)?.spec.type.id);
  }

  /** The node's `kubernetes.io/hostname` label value: what addedNodeSelector must pin. */
  hostnameOf(node: string): string | undefined {
    return this.caches.nodes.get(node)?.labels[LABEL_HOSTNAME];
  }

  /** The node whose hostname label has `value` (a VMIM's pin, back to a node name). */
  nodeOfHostname(value: string): string | undefined {
    if (this.caches.nodes.get(value)?.labels[LABEL_HOSTNAME] === value) return value;
    return this.caches.nodes.list().find((n) => n.labels[LABEL_HOSTNAME] === value)?.name;
  }

  async objectEvents(namespace: string, uid: string): Promise<ObjectEvent[]> {
    try {
      return await (this.o.objectEvents ?? ((ns, u) => listObjectEvents(this.o.kc, ns, u)))(namespace, uid);
    } catch (err) {
      this.o.log.warn('Could not read Events for a failure cause', { namespace, uid, error: err instanceof Error ? err.message : String(err) });
      return [];
    }
  }

  async targetPods(namespace: string, vmimUid: string): Promise<TargetPod[]> {
    return (this.o.targetPods ?? ((ns, u) => listTargetPods(this.o.kc, ns, u)))(namespace, vmimUid);
  }
}
