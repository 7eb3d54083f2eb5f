// A list+watch cache for one resource that keeps itself alive. client-node's informer can stop
// silently (a half-open connection, or any non-410 error ends it); this one runs a single loop:
//   list → watch from the list's resourceVersion → (server closes: resume from the last RV)
//   410 Gone, an error, the periodic relist or the WATCHDOG (no event/bookmark within
//   `watchdogMs`) → tear the watch down and relist, with jittered backoff after failures
//   (capped low while the failures are young, reset by success, cut short by `retryNow()`).
// The cache knows when it may be behind the API server: from a broken watch or a failed list until
// the next list succeeds (`currentSince()` is undefined then), so time-based verdicts read from it
// (an agent Lease that looks expired) can be judged against how long it has been current.
// Objects reach the cache and the handlers only through `parse`; an object that does not parse is
// skipped, counted and logged by name and never stops the loop. See docs/adr/0002.
import type { KubeConfig } from './kubeconfig.ts';
import { loggerFor, type Logger } from '../observability/logger.ts';
import { counter, gauge } from '../observability/metrics.ts';
import { Backoff, type BackoffPolicy } from './backoff.ts';
import { jitter, realClock, sleep, type CancelTimer, type Clock } from './clock.ts';
import { describeApiError, isGone } from './errors.ts';
import { apiListWatch, type ListWatchSource, type WatchHandle } from './list-watch.ts';
import { objectKey, resourceLabel, type ResourceRef } from './resource.ts';

const restarts = counter({ name: 'watch_restarts_total', help: 'Watches torn down and rebuilt, by reason (gone, error, watchdog, relist).', labelNames: ['resource', 'reason'] });
const lastEvent = gauge({ name: 'informer_last_event_timestamp_seconds', help: 'Unix time of the last list, watch (re)connect, event or bookmark seen by the informer.', labelNames: ['resource'] });
const malformed = counter({ name: 'informer_malformed_objects_total', help: 'Objects skipped because they failed validation.', labelNames: ['resource'] });
const behindGauge = gauge({ name: 'informer_behind', help: '1 while the informer cache may be behind the API server (a watch broke or a list failed, no relist succeeded since), else 0.', labelNames: ['resource'] });

export interface InformerHandlers<T> {
  add?(obj: T): void;
  update?(oldObj: T, newObj: T): void;
  delete?(obj: T): void;
}

/** Why a watch ended: `closed` is the normal server-side timeout and resumes without a relist. */
export type WatchEndReason = 'closed' | 'gone' | 'error' | 'watchdog' | 'relist' | 'stopped';

export interface InformerOptions<T> {
  resource: ResourceRef;
  /** Validates a raw object; undefined means malformed (skipped). */
  parse: (obj: unknown) => T | undefined;
  /** Metric/log label; defaults to `plural.group`. Give distinct names to informers on one resource. */
  name?: string;
  /** Full relist period, default 10 min. */
  relistIntervalMs?: number;
  /** Rebuild the watch when nothing (event, bookmark, connect) arrived for this long. */
  watchdogMs?: number;
  /** A LIST that takes longer is aborted and retried (a hung connection must not hang the loop). */
  listTimeoutMs?: number;
  /** Retry delays after failures (default DEFAULT_BACKOFF: 200 ms doubling, at most 2 s for the first three minutes, then 30 s). */
  backoff?: Partial<BackoffPolicy>;
  clock?: Clock;
  logger?: Logger;
  /** Observer for tests and diagnostics, called after each watch ends. */
  onWatchEnd?: (reason: WatchEndReason) => void;
}

export interface ApiInformerOptions<T> extends InformerOptions<T> {
  /** Namespace to watch; omit for all namespaces (or a cluster-scoped resource). */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Server-side watch timeout, so a healthy idle watch still ends and reconnects. Default 60 s. */
  watchTimeoutSeconds?: number;
  /** Test hook: wrap the real list/watch (e.g. to make a watch go silent). */
  wrapSource?: (source: ListWatchSource) => ListWatchSource;
}

interface Entry<T> {
  obj: T;
  resourceVersion: string;
}

/** A raw object read and decoded, not yet applied to the cache (decoding happens as a list page arrives). */
class Decoded<T> {
  readonly key: string | undefined;
  readonly resourceVersion: string;
  /** undefined: malformed (or no name); `unchanged`: the cache already holds this resourceVersion. */
  readonly parsed: T | 'unchanged' | undefined;
  constructor(key: string | undefined, resourceVersion: string, parsed: T | 'unchanged' | undefined) {
    this.key = key;
    this.resourceVersion = resourceVersion;
    this.parsed = parsed;
  }
}

interface RawMeta {
  name: string;
  namespace?: string;
  resourceVersion: string;
}

function rawMeta(obj: unknown): RawMeta | undefined {
  const m = (obj as { metadata?: Record<string, unknown> } | null)?.metadata;
  if (typeof m?.name !== 'string' || m.name === '') return undefined;
  return {
    name: m.name,
    namespace: typeof m.namespace === 'string' && m.namespace !== '' ? m.namespace : undefined,
    resourceVersion: typeof m.resourceVersion === 'string' ? m.resourceVersion : '',
  };
}

function removeFrom<T>(list: T[], item: T): void {
  const i = list.indexOf(item);
  if (i >= 0) list.splice(i, 1);
}

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * The object without the server's write bookkeeping: `metadata.managedFields` (often larger than
 * the object itself: one entry per field manager, with every field path it owns) and kubectl's
 * last-applied annotation (a second copy of the object). No cache reader needs either, and a
 * cache of thousands of objects would otherwise hold them for as long as the process runs.
 */
export function withoutBookkeeping(raw: unknown): unknown {
  const meta = (raw as { metadata?: Record<string, unknown> } | null)?.metadata;
  if (!meta || typeof meta !== 'object') return raw;
  const annotations = meta.annotations as Record<string, unknown> | undefined;
  const hasLastApplied = typeof annotations === 'object' && annotations !== null && LAST_APPLIED in annotations;
  if (!('managedFields' in meta) && !hasLastApplied) return raw;
  const { managedFields: _managedFields, ...kept } = meta;
  if (hasLastApplied) {
    const { [LAST_APPLIED]: _lastApplied, ...rest } = annotations;
    kept.annotations = rest;
  }
  return { ...(raw as object), metadata: kept };
}

export class Informer<T> {
  readonly name: string;
  readonly #source: ListWatchSource;
  readonly #opts: InformerOptions<T>;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #relistIntervalMs: number;
  readonly #watchdogMs: number;
  readonly #cache = new Map<string, Entry<T>>();
  readonly #handlers: InformerHandlers<T>[] = [];
  readonly #stop = new AbortController();
  #resourceVersion = '';
  #revision = 0;
  #synced = false;
  #syncWaiters: Array<() => void> = [];
  /** When the cache last became current (a list succeeded after a failure); undefined while it may be behind. */
  #currentSince: number | undefined;
  readonly #currentListeners: Array<() => void> = [];
  #wake: AbortController | undefined;
  #lastSeen = 0;
  #nextRelistAt = 0;
  #endWatch: ((reason: WatchEndReason, err?: unknown) => void) | undefined;
  #loop: Promise<void> | undefined;

  constructor(source: ListWatchSource, opts: InformerOptions<T>) {
    this.#source = source;
    this.#opts = opts;
    this.name = opts.name ?? resourceLabel(opts.resource);
    this.#clock = opts.clock ?? realClock;
    this.#log = opts.logger ?? loggerFor('informer', { resource: this.name });
    this.#relistIntervalMs = opts.relistIntervalMs ?? 600_000;
    this.#watchdogMs = opts.watchdogMs ?? 90_000;
  }

  /** Registers handlers; objects already cached are replayed as adds (as client-go does). Returns their removal. */
  addHandlers(handlers: InformerHandlers<T>): () => void {
    this.#handlers.push(handlers);
    for (const { obj } of this.#cache.values()) this.#call('add', () => handlers.add?.(obj));
    return () => removeFrom(this.#handlers, handlers);
  }

  /** Starts the list/watch loop in the background. */
  start(): void {
    if (this.#loop) return;
    this.#loop = this.#run().catch((err: unknown) => {
      this.#log.error('Informer loop crashed', { error: String(err) });
    });
  }

  /** Stops the loop and the current watch; resolves once the loop has exited. */
  async stop(): Promise<void> {
    this.#stop.abort();
    this.#endWatch?.('stopped');
    await this.#loop;
  }

  /** True once the first list has been loaded; stays true across relists (see `currentSince` for currency). */
  hasSynced(): boolean {
    return this.#synced;
  }

  /**
   * When the cache last became current: the time of the list that ended its last spell of possibly
   * missed events (the first list, or a relist after a broken watch or a failed list). Undefined
   * while it may be behind the API server: before the first list, and from a watch error, a 410, a
   * silent watch or a failed list until the next list succeeds (relisting or in backoff).
   */
  currentSince(): number | undefined {
    return this.#currentSince;
  }

  /** Called each time the cache becomes current again (after the first list, and after every recovery). Returns its removal. */
  onCurrent(fn: () => void): () => void {
    this.#currentListeners.push(fn);
    return () => removeFrom(this.#currentListeners, fn);
  }

  /** Ends a backoff wait now: the caller knows the API server is back (its /readyz turned ok). */
  retryNow(): void {
    this.#wake?.abort();
  }

  /** Resolves when synced, or rejects if the informer is stopped first. */
  waitForSync(): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((resolve, reject) => {
      if (this.#stop.signal.aborted) return reject(new Error(`Informer ${this.name} stopped before it synced`));
      this.#syncWaiters.push(resolve);
      this.#stop.signal.addEventListener('abort', () => reject(new Error(`Informer ${this.name} stopped before it synced`)), { once: true });
    });
  }

  list(): T[] {
    return [...this.#cache.values()].map((e) => e.obj);
  }

  /** By `namespace/name`, or `name` for cluster-scoped objects. */
  get(key: string): T | undefined {
    return this.#cache.get(key)?.obj;
  }

  keys(): string[] {
    return [...this.#cache.keys()];
  }

  /** Grows with every change to the cache (add, update, delete): equal revisions mean equal contents. */
  revision(): number {
    return this.#revision;
  }

  /** Milliseconds since the last list, event or bookmark; readiness checks can bound it. */
  staleForMs(): number {
    return this.#clock.now() - this.#lastSeen;
  }

  async #run(): Promise<void> {
    let needList = true;
    const backoff = new Backoff(this.#opts.backoff);
    while (!this.#stop.signal.aborted) {
      let delay = 0;
      try {
        if (needList) {
          await this.#relist();
          needList = false;
        }
        const startedAt = this.#clock.now();
        const { reason, err, sawEvents } = await this.#watchOnce();
        this.#opts.onWatchEnd?.(reason);
        if (reason === 'stopped') break;
        if (reason !== 'closed') restarts.inc({ resource: this.name, reason });
        needList = reason !== 'closed';
        // Events may have been missed from here until the relist: the cache may be behind. A
        // periodic relist and a normal close are not failures (the watch was healthy until now).
        if (reason === 'gone' || reason === 'error' || reason === 'watchdog') this.#markBehind();
        // Backoff grows over consecutive failures only: a watch that delivered anything or stayed
        // open a while proves the connection worked (success resets it); a server that closes
        // every watch at once must not make us spin.
        const worked = sawEvents || this.#clock.now() - startedAt >= 1000;
        if (worked) backoff.succeeded();
        if (reason === 'error' || reason === 'watchdog' || (reason === 'closed' && !worked)) delay = backoff.failed(this.#clock.now());
        if (reason === 'error') {
          this.#log.warn('Watch failed; relisting after backoff', { failures: backoff.failures, error: describeApiError(err) });
        } else if (reason === 'watchdog') {
          this.#log.warn('Watch went silent; rebuilding it with a relist', { silentMs: this.staleForMs() });
        }
      } catch (err) {
        if (this.#stop.signal.aborted) break;
        needList = true;
        this.#markBehind();
        delay = backoff.failed(this.#clock.now());
        this.#log.warn('List failed; retrying after backoff', { failures: backoff.failures, error: describeApiError(err) });
      }
      if (delay > 0) await this.#backoffWait(delay);
    }
  }

  /** Sleeps `ms` unless stopped or woken by `retryNow()`. */
  async #backoffWait(ms: number): Promise<void> {
    const wake = new AbortController();
    this.#wake = wake;
    await sleep(this.#clock, ms, AbortSignal.any([this.#stop.signal, wake.signal]));
    this.#wake = undefined;
  }

  #markBehind(): void {
    if (this.#currentSince === undefined) return;
    this.#currentSince = undefined;
    behindGauge.set({ resource: this.name }, 1);
  }

  #markCurrent(): void {
    if (this.#currentSince !== undefined) return;
    this.#currentSince = this.#clock.now();
    behindGauge.set({ resource: this.name }, 0);
    for (const fn of this.#currentListeners) this.#call('current', fn);
  }

  async #relist(): Promise<void> {
    const signal = AbortSignal.any([this.#stop.signal, AbortSignal.timeout(this.#opts.listTimeoutMs ?? 60_000)]);
    const { items, resourceVersion } = await this.#source.list(signal, (raw) => this.#decode(raw));
    if (this.#stop.signal.aborted) return;
    this.#touch();
    const seen = new Set<string>();
    for (const item of items) {
      const key = this.#applyDecoded(item instanceof Decoded ? (item as Decoded<T>) : this.#decode(item));
      if (key !== undefined) seen.add(key);
    }
    for (const [key, entry] of this.#cache) {
      if (!seen.has(key)) this.#remove(key, entry);
    }
    this.#resourceVersion = resourceVersion;
    this.#nextRelistAt = this.#clock.now() + jitter(this.#relistIntervalMs, 0.1);
    if (!this.#synced) {
      this.#synced = true;
      this.#log.info('Informer synced', { objects: this.#cache.size });
      for (const w of this.#syncWaiters.splice(0)) w();
    } else if (this.#currentSince === undefined) {
      this.#log.info('Informer caught up after a relist', { objects: this.#cache.size });
    }
    this.#markCurrent();
  }

  /** One watch; resolves when it ends, for whatever reason. */
  #watchOnce(): Promise<{ reason: WatchEndReason; err?: unknown; sawEvents: boolean }> {
    return new Promise((resolve) => {
      let handle: WatchHandle | undefined;
      let ended = false;
      let sawEvents = false;
      const timers: CancelTimer[] = [];
      const end = (reason: WatchEndReason, err?: unknown): void => {
        if (ended) return;
        ended = true;
        this.#endWatch = undefined;
        for (const cancel of timers) cancel();
        handle?.stop();
        resolve({ reason, err, sawEvents });
      };
      this.#endWatch = end;
      if (this.#stop.signal.aborted) return end('stopped');

      this.#touch(); // connecting counts as traffic: the watchdog bound starts now
      const checkWatchdog = (): void => {
        const silentFor = this.#clock.now() - this.#lastSeen;
        if (silentFor >= this.#watchdogMs) return end('watchdog');
        timers.push(this.#clock.setTimer(checkWatchdog, this.#watchdogMs - silentFor));
      };
      timers.push(this.#clock.setTimer(checkWatchdog, this.#watchdogMs));
      timers.push(this.#clock.setTimer(() => end('relist'), this.#nextRelistAt - this.#clock.now()));

      const onEvent = (type: string, obj: unknown): void => {
        if (ended) return;
        this.#touch();
        if (type === 'ERROR') {
          // The event carries a metav1.Status; 410 means our resourceVersion was compacted away.
          const err = { code: (obj as { code?: unknown } | null)?.code, body: obj };
          return end(isGone(err) ? 'gone' : 'error', err);
        }
        sawEvents = true;
        // Bookmarks carry only metadata.resourceVersion (no name).
        const rv = (obj as { metadata?: { resourceVersion?: unknown } } | null)?.metadata?.resourceVersion;
        if (type === 'ADDED' || type === 'MODIFIED') this.#apply(obj);
        else if (type === 'DELETED') this.#deleteRaw(obj);
        if (typeof rv === 'string' && rv !== '') this.#resourceVersion = rv;
      };
      const onDone = (err?: unknown): void => {
        if (err === undefined) return end('closed');
        end(isGone(err) ? 'gone' : 'error', err);
      };
      this.#source.watch(this.#resourceVersion, onEvent, onDone).then(
        (h) => {
          handle = h;
          if (ended) h.stop();
        },
        (err: unknown) => end('error', err),
      );
    });
  }

  #touch(): void {
    this.#lastSeen = this.#clock.now();
    lastEvent.set({ resource: this.name }, this.#lastSeen / 1000);
  }

  /** Adds or updates from a raw object; returns its key if it is (still) in the cache. */
  #apply(raw: unknown): string | undefined {
    return this.#applyDecoded(this.#decode(raw));
  }

  /** Reads identity and parses (unless the cache holds this resourceVersion already); changes nothing. */
  #decode(raw: unknown): Decoded<T> {
    const meta = rawMeta(raw);
    if (!meta) {
      malformed.inc({ resource: this.name });
      this.#log.warn('Skipped an object without metadata.name');
      return new Decoded<T>(undefined, '', undefined);
    }
    const key = objectKey(meta.namespace, meta.name);
    const prior = this.#cache.get(key);
    if (prior && prior.resourceVersion === meta.resourceVersion && meta.resourceVersion !== '') return new Decoded<T>(key, meta.resourceVersion, 'unchanged');
    let parsed: T | undefined;
    try {
      parsed = this.#opts.parse(withoutBookkeeping(raw));
    } catch (err) {
      this.#log.warn('Parser threw; treating the object as malformed', { key, error: String(err) });
    }
    if (parsed === undefined) {
      malformed.inc({ resource: this.name });
      this.#log.warn('Skipped a malformed object', { key, resourceVersion: meta.resourceVersion });
    }
    return new Decoded<T>(key, meta.resourceVersion, parsed);
  }

  #applyDecoded(d: Decoded<T>): string | undefined {
    const { key } = d;
    if (key === undefined) return undefined;
    if (d.parsed === 'unchanged') return key;
    const prior = this.#cache.get(key);
    if (d.parsed === undefined) {
      // The cache holds only objects that currently validate: a formerly valid one is dropped.
      if (prior) this.#remove(key, prior);
      return undefined;
    }
    const obj = d.parsed;
    this.#cache.set(key, { obj, resourceVersion: d.resourceVersion });
    this.#revision++;
    for (const h of this.#handlers) {
      if (prior) this.#call('update', () => h.update?.(prior.obj, obj));
      else this.#call('add', () => h.add?.(obj));
    }
    return key;
  }

  #deleteRaw(raw: unknown): void {
    const meta = rawMeta(raw);
    if (!meta) return;
    const key = objectKey(meta.namespace, meta.name);
    const prior = this.#cache.get(key);
    if (prior) this.#remove(key, prior);
  }

  #remove(key: string, entry: Entry<T>): void {
    this.#cache.delete(key);
    this.#revision++;
    for (const h of this.#handlers) this.#call('delete', () => h.delete?.(entry.obj));
  }

  /** Handlers must not break the loop (and client-node's Watch would swallow their errors). */
  #call(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log.error('Informer handler threw', { handler: what, error: err instanceof Error ? err.message : String(err) });
    }
  }
}

/** An informer on the API server. `watchdogMs` defaults to the watch timeout plus 30 s. */
export function informerFor<T>(kc: KubeConfig, opts: ApiInformerOptions<T>): Informer<T> {
  const watchTimeoutSeconds = opts.watchTimeoutSeconds ?? 60;
  const watchdogMs = opts.watchdogMs ?? (watchTimeoutSeconds + 30) * 1000;
  let source = apiListWatch(kc, {
    resource: opts.resource,
    namespace: opts.namespace,
    labelSelector: opts.labelSelector,
    fieldSelector: opts.fieldSelector,
    watchTimeoutSeconds,
    inactivityTimeoutMs: watchdogMs + 30_000,
  });
  if (opts.wrapSource) source = opts.wrapSource(source);
  return new Informer<T>(source, { ...opts, watchdogMs });
}
