// A rate-limited, de-duplicating work queue with client-go semantics:
//  - a key is queued at most once (dirty set); adding a key that is being processed marks it to be
//    processed once more after `done`, so the same key never runs concurrently;
//  - `addRateLimited` retries with per-key exponential backoff bounded by a global token bucket,
//    `forget` resets the backoff on success, `addAfter` delays (earliest wins);
//  - `shutdown` stops new adds and resolves once queued and in-flight keys are finished.
// `runWorkers` is the controller-runtime reconcile loop on top, with its metric names.
import { loggerFor, type Logger } from '../observability/logger.ts';
import { counter, gauge, histogram } from '../observability/metrics.ts';
import { realClock, type CancelTimer, type Clock } from './clock.ts';
import { defaultControllerRateLimiter, type RateLimiter } from './rate-limiter.ts';

const depth = gauge({ name: 'workqueue_depth', help: 'Current depth of the workqueue.', labelNames: ['name'] });
const adds = counter({ name: 'workqueue_adds_total', help: 'Total number of adds handled by the workqueue.', labelNames: ['name'] });
const retries = counter({ name: 'workqueue_retries_total', help: 'Total number of rate-limited retries handled by the workqueue.', labelNames: ['name'] });
const queueDuration = histogram({ name: 'workqueue_queue_duration_seconds', help: 'How long in seconds an item stays in the workqueue before being requested.', labelNames: ['name'] });
const workDuration = histogram({ name: 'workqueue_work_duration_seconds', help: 'How long in seconds processing an item from the workqueue takes.', labelNames: ['name'] });
const reconcileTotal = counter({ name: 'controller_runtime_reconcile_total', help: 'Total number of reconciliations per controller.', labelNames: ['controller', 'result'] });
const reconcileErrors = counter({ name: 'controller_runtime_reconcile_errors_total', help: 'Total number of reconciliation errors per controller.', labelNames: ['controller'] });
const reconcileTime = histogram({ name: 'controller_runtime_reconcile_time_seconds', help: 'Length of time per reconciliation per controller.', labelNames: ['controller'] });

export interface WorkQueueOptions {
  /** Queue and controller name: the `name`/`controller` metric label. Low cardinality. */
  name: string;
  rateLimiter?: RateLimiter;
  clock?: Clock;
  logger?: Logger;
}

export interface ReconcileResult {
  /** Process the key again after this many ms (resets its backoff, like controller-runtime). */
  requeueAfter?: number;
  /** Process the key again after its rate-limited backoff. */
  requeue?: boolean;
}

/** Reconciles one key; throwing means "retry with backoff". */
export type Reconciler = (key: string) => Promise<ReconcileResult | void>;

export interface ShutdownOptions {
  /** true (default): finish queued keys too; false: drop queued keys, wait for in-flight ones only. */
  drain?: boolean;
}

export class WorkQueue {
  readonly name: string;
  readonly #limiter: RateLimiter;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #queue: string[] = [];
  readonly #dirty = new Set<string>();
  readonly #processing = new Map<string, number>(); // key → start time
  readonly #addedAt = new Map<string, number>();
  readonly #waiting = new Map<string, { at: number; cancel: CancelTimer }>();
  #waiters: Array<() => void> = [];
  #shuttingDown = false;
  #drained: Array<() => void> = [];

  constructor(opts: WorkQueueOptions) {
    this.name = opts.name;
    this.#clock = opts.clock ?? realClock;
    this.#limiter = opts.rateLimiter ?? defaultControllerRateLimiter(this.#clock);
    this.#log = opts.logger ?? loggerFor('workqueue', { controller: opts.name });
  }

  /** Keys waiting to be processed (not counting in-flight or delayed ones). */
  len(): number {
    return this.#queue.length;
  }

  isShuttingDown(): boolean {
    return this.#shuttingDown;
  }

  add(key: string): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    adds.inc({ name: this.name });
    this.#dirty.add(key);
    this.#addedAt.set(key, this.#clock.now());
    if (this.#processing.has(key)) return; // `done` re-queues it
    this.#push(key);
  }

  /** Adds `key` after `ms`; if it is already waiting, the earlier time wins. */
  addAfter(key: string, ms: number): void {
    if (this.#shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const at = this.#clock.now() + ms;
    const prior = this.#waiting.get(key);
    if (prior && prior.at <= at) return;
    prior?.cancel();
    const cancel = this.#clock.setTimer(() => {
      this.#waiting.delete(key);
      this.add(key);
    }, ms);
    this.#waiting.set(key, { at, cancel });
  }

  addRateLimited(key: string): void {
    if (this.#shuttingDown) return;
    retries.inc({ name: this.name });
    this.addAfter(key, this.#limiter.when(key));
  }

  /** Ends backoff tracking for `key`: call when it was processed successfully. */
  forget(key: string): void {
    this.#limiter.forget(key);
  }

  numRequeues(key: string): number {
    return this.#limiter.numRequeues(key);
  }

  /** The next key to process, or undefined once shut down and empty. Call `done(key)` afterwards. */
  async get(): Promise<string | undefined> {
    for (;;) {
      const key = this.#queue.shift();
      if (key !== undefined) {
        depth.set({ name: this.name }, this.#queue.length);
        const now = this.#clock.now();
        const added = this.#addedAt.get(key);
        if (added !== undefined) queueDuration.observe({ name: this.name }, (now - added) / 1000);
        this.#addedAt.delete(key);
        this.#dirty.delete(key);
        this.#processing.set(key, now);
        return key;
      }
      if (this.#shuttingDown) {
        this.#checkDrained();
        return undefined;
      }
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** Marks `key` finished; if it was added meanwhile, it is queued again. */
  done(key: string): void {
    const started = this.#processing.get(key);
    if (started === undefined) return;
    this.#processing.delete(key);
    workDuration.observe({ name: this.name }, (this.#clock.now() - started) / 1000);
    if (this.#dirty.has(key)) this.#push(key);
    this.#checkDrained();
  }

  /** Stops accepting keys and cancels delayed adds; resolves when nothing is queued or in flight. */
  shutdown(opts: ShutdownOptions = {}): Promise<void> {
    this.#shuttingDown = true;
    for (const w of this.#waiting.values()) w.cancel();
    this.#waiting.clear();
    if (opts.drain === false) {
      for (const key of this.#queue.splice(0)) {
        this.#dirty.delete(key);
        this.#addedAt.delete(key);
      }
      for (const key of this.#processing.keys()) this.#dirty.delete(key);
      depth.set({ name: this.name }, 0);
    }
    const done = new Promise<void>((resolve) => this.#drained.push(resolve));
    this.#wakeAll();
    this.#checkDrained();
    return done;
  }

  /**
   * Runs `n` workers until shutdown: each takes a key, reconciles it and requeues per the result
   * (error → rate-limited retry; requeueAfter → forget + delayed add; success → forget).
   */
  async runWorkers(n: number, reconcile: Reconciler): Promise<void> {
    await Promise.all(Array.from({ length: n }, () => this.#worker(reconcile)));
  }

  async #worker(reconcile: Reconciler): Promise<void> {
    for (let key = await this.get(); key !== undefined; key = await this.get()) {
      await this.#reconcileOne(key, reconcile);
    }
  }

  async #reconcileOne(key: string, reconcile: Reconciler): Promise<void> {
    const controller = this.name;
    const start = this.#clock.now();
    try {
      const result = (await reconcile(key)) ?? {};
      if (result.requeueAfter !== undefined && result.requeueAfter > 0) {
        this.forget(key);
        this.addAfter(key, result.requeueAfter);
        reconcileTotal.inc({ controller, result: 'requeue_after' });
      } else if (result.requeue) {
        this.addRateLimited(key);
        reconcileTotal.inc({ controller, result: 'requeue' });
      } else {
        this.forget(key);
        reconcileTotal.inc({ controller, result: 'success' });
      }
    } catch (err) {
      reconcileTotal.inc({ controller, result: 'error' });
      reconcileErrors.inc({ controller });
      this.#log.error('Reconciler failed', { key, requeues: this.numRequeues(key), error: err instanceof Error ? err.message : String(err) });
      this.addRateLimited(key);
    } finally {
      reconcileTime.observe({ controller }, (this.#clock.now() - start) / 1000);
      this.done(key);
    }
  }

  #push(key: string): void {
    this.#queue.push(key);
    depth.set({ name: this.name }, this.#queue.length);
    this.#waiters.shift()?.();
  }

  #wakeAll(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  #checkDrained(): void {
    if (!this.#shuttingDown || this.#queue.length > 0 || this.#processing.size > 0) return;
    const resolvers = this.#drained;
    this.#drained = [];
    for (const r of resolvers) r();
    this.#wakeAll();
  }
}
