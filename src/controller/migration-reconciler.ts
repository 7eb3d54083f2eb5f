// Reconciles MdevMigrations: Pending → Probing → Planned (a dry run stops) → Migrating →
// Succeeded | Failed. Level-based and idempotent: every step reads what is (caches, VMIMs owned by
// the migration, capacity claims on MdevNodes) and all progress is written to status with the
// resourceVersion that was read, so a restarted or stale controller cannot write over newer
// progress, and a restarted one resumes from status. Attempt N's VMIM has a deterministic name,
// so a crash between creating it and recording it ends in adoption, never in a second VMIM.
//
// This file wires the queue and dispatches on the phase; each step lives in ./migration/:
// plan.ts (decide), claim.ts (create targets, claim capacity), start.ts (create or adopt the
// VMIM), follow.ts (follow it, give up a Pending target), settle.ts (record the device the VMI got),
// admitted.ts (admission records), outcome.ts (retry and fail), status-writer.ts (the one writer).
import type { MdevMigration } from '../api/v1alpha1/index.ts';
import { ANNOTATION_MIGRATION } from '../api/v1alpha1/constants.ts';
import { isConflict } from '../kube/errors.ts';
import { objectKey } from '../kube/resource.ts';
import { WorkQueue, type ReconcileResult } from '../kube/workqueue.ts';
import type { Vmi, Vmim } from '../kubevirt/types.ts';
import { isAdmissionRecord } from './admitted-migration.ts';
import { followAdmitted } from './migration/admitted.ts';
import { StepContext, type MigrationReconcilerOptions } from './migration/context.ts';
import { follow } from './migration/follow.ts';
import { fail } from './migration/outcome.ts';
import { plan } from './migration/plan.ts';
import { settle } from './migration/settle.ts';
import { adopt, liveVmimToAdopt, startMigration } from './migration/start.ts';
import { StatusWriter, Stop } from './migration/status-writer.ts';
import { isFinalPhase } from './migration-status.ts';

export type { MigrationReconcilerOptions } from './migration/context.ts';
export { DEFAULT_MAX_ATTEMPTS, DEFAULT_TARGET_PENDING_TIMEOUT_MS } from './migration/context.ts';
export { newerByVersion, versionAtLeast } from './migration/status-writer.ts';
export { duplicateUuid } from './migration/claim.ts';

export const CONTROLLER_NAME = 'mdevmigration';

export class MigrationReconciler {
  readonly queue: WorkQueue;
  readonly #ctx: StepContext;
  readonly #unregister: Array<() => void> = [];

  constructor(opts: MigrationReconcilerOptions) {
    this.#ctx = new StepContext(opts, new StatusWriter(opts.kc, opts.caches.migrations, opts.log, opts.guard));
    this.queue = new WorkQueue({ name: CONTROLLER_NAME, logger: opts.log });
  }

  /** Wires informer events to the queue (undone by `unregister`, when this leader's term ends). */
  register(): void {
    const { caches } = this.#ctx;
    const status = this.#ctx.status;
    const enqueue = (m: MdevMigration): void => this.queue.add(objectKey(m.metadata.namespace, m.metadata.name));
    const wakeWaiting = (): void => {
      for (const key of this.#ctx.takeWaiting()) this.queue.add(key);
    };
    this.#unregister.push(
      caches.onRecovered(wakeWaiting),
      caches.leases.addHandlers({ add: wakeWaiting, update: wakeWaiting }),
      caches.probes.addHandlers({ update: wakeWaiting }),
    );
    this.#unregister.push(caches.migrations.addHandlers({
      add: enqueue,
      update: (o, n) => {
        status.forgetUpTo(n);
        if (o.metadata.generation !== n.metadata.generation || o.status?.phase !== n.status?.phase) enqueue(n);
      },
      delete: (m) => {
        const key = objectKey(m.metadata.namespace, m.metadata.name);
        status.forget(key);
        this.#ctx.forget(key);
      },
    }));
    const byOwner = (v: Vmim): void => {
      const refs = v.metadata.ownerReferences ?? [];
      for (const r of refs) if (r.kind === 'MdevMigration' && r.controller && r.name) this.queue.add(objectKey(v.metadata.namespace, r.name));
      // A VMIM admitted by the webhook names its MdevMigration in an annotation.
      const admitted = v.metadata.annotations?.[ANNOTATION_MIGRATION];
      if (admitted) this.queue.add(objectKey(v.metadata.namespace, admitted));
    };
    this.#unregister.push(caches.vmims.addHandlers({ add: byOwner, update: (_o, n) => byOwner(n), delete: byOwner }));
    const byVmi = (vmi: Vmi): void => {
      for (const m of caches.migrations.list()) {
        if (m.metadata.namespace !== vmi.metadata.namespace || m.spec.vmiName !== vmi.metadata.name) continue;
        // Settling a succeeded migration waits for the VMI's devices too.
        if (!isFinalPhase(m.status?.phase) || m.status?.phase === 'Succeeded') enqueue(m);
      }
    };
    this.#unregister.push(caches.vmis.addHandlers({ add: byVmi, delete: byVmi }));
    // A device the target's agent now shows as the VMI's settles its succeeded migration.
    this.#unregister.push(caches.devices.addHandlers({
      update: (o, n) => {
        const uid = n.status?.consumer?.uid;
        if (!uid || uid === o.status?.consumer?.uid) return;
        for (const m of caches.migrations.list()) {
          if (m.status?.phase === 'Succeeded' && m.status.targetNode === n.spec.nodeName && !(m.status.devices ?? []).every((p) => p.target)) enqueue(m);
        }
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
    const m = this.#ctx.status.latest(key);
    if (!m || m.metadata.deletionTimestamp) return;
    try {
      return await this.#ctx.reconciling(key, () => this.#dispatch(m));
    } catch (err) {
      // The manager was killed, or this leader term ended (lost Lease): write nothing more.
      if (err instanceof Stop || ['ManagerKilledError', 'NotLeaderError'].includes((err as Error | undefined)?.name ?? '')) return;
      // Our view was stale: someone (maybe we, before a restart) wrote newer status. Read again.
      if (isConflict(err)) return { requeueAfter: 100 };
      throw err;
    }
  }

  async #dispatch(m: MdevMigration): Promise<ReconcileResult | void> {
    const ctx = this.#ctx;
    const phase = m.status?.phase;
    if (phase === 'Succeeded') return settle(ctx, m);
    if (phase === 'Failed') {
      await ctx.o.claims.releaseAll(m.metadata.uid ?? '');
      return;
    }
    if (phase === 'Planned' && m.spec.dryRun) return;
    // Nothing is read from caches that may be behind the API server (an informer relisting or in
    // backoff, /readyz failing): a VMI, VMIM or lease missing there proves nothing. Wait.
    const behind = ctx.caches.currency().behind;
    if (behind.length > 0) return ctx.wait(m, `caches behind the API server: ${behind.join(', ')}`);
    // Decided by the webhook for a VMIM someone else created: follow it, never plan or migrate.
    if (isAdmissionRecord(m)) return followAdmitted(ctx, m);
    if (ctx.now() >= ctx.deadlineAt(m)) {
      return fail(ctx, m, 'DeadlineExceeded', `deadline of ${m.spec.deadlineSeconds}s exceeded before the migration finished`);
    }
    const vmi = ctx.caches.vmis.get(objectKey(m.metadata.namespace, m.spec.vmiName));
    if (!vmi) return fail(ctx, m, 'VMIGone', `VirtualMachineInstance ${m.metadata.namespace}/${m.spec.vmiName} does not exist (any more)`);
    if (phase === 'Migrating' && m.status?.migrationName) return follow(ctx, m);
    // A controller that died (or lost its Lease in an outage) after creating the VMIM but before
    // recording it left a live VMIM and an older phase: follow that VMIM, before anything else.
    // Deciding again would read the VMI's new node as the source; claiming the Planned target again
    // would find its pool short by the very device this VMI took once KubeVirt finished meanwhile.
    const live = liveVmimToAdopt(ctx, m);
    if (live) return adopt(ctx, m, live);
    if (phase === 'Planned' && m.status?.targetNode && (m.status.devices?.length ?? 0) > 0) return startMigration(ctx, m);
    return plan(ctx, m, vmi);
  }
}
