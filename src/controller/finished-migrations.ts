// The lifecycle of finished MdevMigrations, like Jobs': a record whose spec.ttlSecondsAfterFinished
// has passed since status.completionTime is deleted, and of each VMI's finished records only the
// newest `historyLimit` are kept. Level-based: everything is read from the cache and the clock, so a
// restarted controller deletes what expired while it was down, and an expiry in the future is a
// delayed requeue, not a timer that a restart would lose. Deletions carry the uid and
// resourceVersion that were judged, so a record recreated or changed meanwhile is judged again.
// Owned VMIMs go with their record (garbage collection); the informer's delete event makes every
// per-migration memory of the controller forget it.
import type { MdevMigration } from '../api/v1alpha1/index.ts';
import type { Clock } from '../kube/clock.ts';
import { isConflict, isNotFound } from '../kube/errors.ts';
import type { InformerHandlers } from '../kube/informer.ts';
import { objectKey } from '../kube/resource.ts';
import { WorkQueue, type ReconcileResult } from '../kube/workqueue.ts';
import type { Logger } from '../observability/logger.ts';
import { isFinished } from './migration-status.ts';

export const FINISHED_CONTROLLER_NAME = 'mdevmigration-lifecycle';
/** Finished records kept per VMI when the flag is not given. */
export const DEFAULT_HISTORY_LIMIT = 5;

/** When `m` finished (ms since the epoch): status.completionTime, else the Ready condition's last transition. */
export function finishedAt(m: MdevMigration): number | undefined {
  if (!isFinished(m)) return undefined;
  const stamp = m.status?.completionTime ?? m.status?.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime;
  const at = stamp === undefined ? Number.NaN : Date.parse(stamp);
  return Number.isFinite(at) ? at : undefined;
}

/** When `m` is due for deletion by its TTL; undefined without a TTL or before it finished. */
export function expiresAt(m: MdevMigration): number | undefined {
  const ttl = m.spec.ttlSecondsAfterFinished;
  const at = finishedAt(m);
  return ttl === undefined || at === undefined ? undefined : at + ttl * 1000;
}

/** The finished records of one VMI beyond the newest `limit` (newest by finish time, then creation, then name). */
export function beyondHistory(records: readonly MdevMigration[], limit: number): MdevMigration[] {
  const finished = records.flatMap((m) => {
    const at = finishedAt(m);
    return at === undefined ? [] : [{ m, at }];
  });
  const created = (m: MdevMigration): string => m.metadata.creationTimestamp ?? '';
  const desc = (x: string, y: string): number => (x < y ? 1 : x > y ? -1 : 0);
  finished.sort((a, b) => b.at - a.at || desc(created(a.m), created(b.m)) || desc(a.m.metadata.name, b.m.metadata.name));
  return finished.slice(Math.max(0, limit)).map((f) => f.m);
}

/** What the lifecycle needs of the MdevMigration cache (the informer). */
export interface MigrationSource {
  list(): MdevMigration[];
  get(key: string): MdevMigration | undefined;
  /** Returns the removal of the handlers (or nothing, for a source that never removes). */
  addHandlers(handlers: InformerHandlers<MdevMigration>): (() => void) | void;
}

/** Deletes `m` if it still has the uid and resourceVersion it was judged by (throws a 409 otherwise). */
export type DeleteMigration = (m: MdevMigration) => Promise<void>;

export interface FinishedMigrationsOptions {
  migrations: MigrationSource;
  deleteMigration: DeleteMigration;
  /** Finished records kept per VMI (default DEFAULT_HISTORY_LIMIT). */
  historyLimit?: number;
  clock: Clock;
  log: Logger;
}

const VMI_KEY = 'vmi:';

export class FinishedMigrations {
  readonly queue: WorkQueue;
  readonly #o: FinishedMigrationsOptions;
  #unregister: (() => void) | undefined;

  constructor(opts: FinishedMigrationsOptions) {
    this.#o = opts;
    this.queue = new WorkQueue({ name: FINISHED_CONTROLLER_NAME, clock: opts.clock, logger: opts.log });
  }

  /** Every finished record is judged by its TTL, and its VMI's history by the limit. */
  register(): void {
    const seen = (m: MdevMigration): void => {
      if (!isFinished(m)) return;
      this.queue.add(objectKey(m.metadata.namespace, m.metadata.name));
      this.queue.add(`${VMI_KEY}${objectKey(m.metadata.namespace, m.spec.vmiName)}`);
    };
    const remove = this.#o.migrations.addHandlers({ add: seen, update: (_o, n) => seen(n) });
    if (remove) this.#unregister = remove;
  }

  /** Removes the handlers `register` added (a leader term ended). */
  unregister(): void {
    this.#unregister?.();
    this.#unregister = undefined;
  }

  run(workers: number): Promise<void> {
    return this.queue.runWorkers(workers, (key) => this.reconcile(key));
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    if (key.startsWith(VMI_KEY)) return this.#trimHistory(key.slice(VMI_KEY.length));
    const m = this.#o.migrations.get(key);
    const due = m ? expiresAt(m) : undefined;
    if (!m || due === undefined) return;
    const wait = due - this.#o.clock.now();
    if (wait > 0) return { requeueAfter: wait };
    return this.#delete(m, `its ttlSecondsAfterFinished (${m.spec.ttlSecondsAfterFinished}s) passed`);
  }

  async #trimHistory(vmiKey: string): Promise<ReconcileResult | void> {
    const limit = this.#o.historyLimit ?? DEFAULT_HISTORY_LIMIT;
    const records = this.#o.migrations.list().filter((m) => objectKey(m.metadata.namespace, m.spec.vmiName) === vmiKey);
    let retry = false;
    for (const m of beyondHistory(records, limit)) {
      if ((await this.#delete(m, `VMI ${vmiKey} has more than ${limit} finished MdevMigrations`))?.requeue) retry = true;
    }
    return retry ? { requeue: true } : undefined;
  }

  async #delete(m: MdevMigration, why: string): Promise<ReconcileResult | void> {
    const name = objectKey(m.metadata.namespace, m.metadata.name);
    try {
      await this.#o.deleteMigration(m);
      this.#o.log.info(`Deleted finished MdevMigration ${name}: ${why}`, { migration: name });
    } catch (err) {
      if (isNotFound(err)) return;
      // Changed or recreated since it was judged: the informer brings the new version, judged again.
      if (isConflict(err)) return { requeue: true };
      throw err;
    }
  }
}
