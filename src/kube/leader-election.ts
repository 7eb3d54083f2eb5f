// client-go's leader election (tools/leaderelection) on a coordination.k8s.io/v1 Lease:
//  - acquire when the Lease is absent, released (empty holder), or expired: its record has not
//    changed for leaseDuration as observed on OUR clock (no trust in other hosts' clocks);
//  - while leading, renew every retryPeriod with the read resourceVersion (a concurrent writer
//    gets 409); seeing another holder means leadership is lost;
//  - step down if no renewal succeeded within renewDeadline (< leaseDuration, so we stop before
//    anyone else may take over);
//  - on stop, finish the leader's work, then release by clearing holderIdentity.
import { loggerFor, type Logger } from '../observability/logger.ts';
import { gauge } from '../observability/metrics.ts';
import { clockTimeout, realClock, sleep, type Clock } from './clock.ts';
import { describeApiError } from './errors.ts';
import type { LeaseRecord, LeaseStore, StoredLease } from './lease-store.ts';

const masterStatus = gauge({ name: 'leader_election_master_status', help: '1 while this process holds the named lease, else 0.', labelNames: ['name'] });

export interface LeaderElectionOptions {
  store: LeaseStore;
  leaseName: string;
  /** Unique per candidate, e.g. the pod name. */
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Acquire retries wait retryPeriod · (1 + random · jitterFactor); default 1.2 as in client-go. */
  jitterFactor?: number;
  /** Runs the leader's work; must stop when `signal` aborts. Its promise is awaited before release. */
  onStartedLeading: (signal: AbortSignal) => void | Promise<void>;
  /** Called once after leading ends (lost or stopped). On loss the leader's work was aborted but not awaited: await it before leading again. */
  onStoppedLeading?: (reason: 'lost' | 'stopped') => void;
  /** Called whenever a different holder is observed. */
  onNewLeader?: (identity: string) => void;
  clock?: Clock;
  logger?: Logger;
}

type Attempt = 'ok' | 'held' | 'failed';

function sameRecord(a: LeaseRecord | undefined, b: LeaseRecord): boolean {
  return (
    a !== undefined &&
    a.holderIdentity === b.holderIdentity &&
    a.renewTime === b.renewTime &&
    a.acquireTime === b.acquireTime &&
    a.leaseTransitions === b.leaseTransitions &&
    a.leaseDurationSeconds === b.leaseDurationSeconds
  );
}

export class LeaderElector {
  readonly #o: LeaderElectionOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #leaseDurationMs: number;
  readonly #renewDeadlineMs: number;
  readonly #retryPeriodMs: number;
  readonly #stop = new AbortController();
  #wake: AbortController | undefined;
  #observed: StoredLease | undefined;
  #observedAt = 0;
  #leading = false;
  #run: Promise<void> | undefined;

  constructor(opts: LeaderElectionOptions) {
    this.#o = opts;
    this.#clock = opts.clock ?? realClock;
    this.#log = opts.logger ?? loggerFor('leader-election', { lease: opts.leaseName, identity: opts.identity });
    this.#leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.#renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.#retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    const jitter = opts.jitterFactor ?? 1.2;
    if (this.#leaseDurationMs <= this.#renewDeadlineMs) throw new Error('leaseDuration must be greater than renewDeadline');
    if (this.#renewDeadlineMs <= this.#retryPeriodMs * Math.max(1, jitter)) throw new Error(`renewDeadline must be greater than retryPeriod × ${Math.max(1, jitter)}`);
    if (!opts.identity) throw new Error('Leader election needs a non-empty identity (e.g. the pod name)');
  }

  isLeader(): boolean {
    return this.#leading;
  }

  /** The holder last seen on the Lease ('' if none). */
  observedLeader(): string {
    return this.#observed?.record.holderIdentity ?? '';
  }

  /**
   * Campaigns until leading, leads until the lease is lost or `stop()` is called, then resolves.
   * Like client-go, one elector leads at most once; build a new one to campaign again.
   */
  run(): Promise<void> {
    this.#run ??= this.#campaignAndLead();
    return this.#run;
  }

  /**
   * While campaigning: try to acquire now (the API server just came back). An attempt in flight is
   * abandoned too: it went to a server that was not ready, and may hang until that server's own
   * request timeout (half a minute and more while etcd is down).
   */
  retryNow(): void {
    this.#wake?.abort();
  }

  /** Stops campaigning or leading; resolves once the leader's work ended and the lease is released. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#run;
  }

  async #campaignAndLead(): Promise<void> {
    if (!(await this.#acquire())) return;
    this.#setLeading(true);
    this.#log.info('Acquired leadership');
    const work = new AbortController();
    const leaderWork = Promise.resolve()
      .then(() => this.#o.onStartedLeading(work.signal))
      .catch((err: unknown) => this.#log.error('Leader work failed', { error: String(err) }));
    const lost = await this.#renewUntilLostOrStopped();
    work.abort();
    this.#setLeading(false);
    if (lost) {
      this.#log.warn('Lost leadership');
    } else {
      await leaderWork; // the old leader's work must be over before anyone else may start
      await this.#release();
    }
    this.#o.onStoppedLeading?.(lost ? 'lost' : 'stopped');
  }

  async #acquire(): Promise<boolean> {
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      const wake = new AbortController();
      this.#wake = wake;
      // One attempt may take at most renewDeadline: a request hanging on an API server whose etcd
      // is gone must not hold up the campaign after it is back.
      const timeout = clockTimeout(this.#clock, this.#renewDeadlineMs);
      const result = await this.#tryAcquireOrRenew(AbortSignal.any([signal, wake.signal, timeout.signal]));
      timeout.cancel();
      if (result === 'ok') return true;
      const factor = this.#o.jitterFactor ?? 1.2;
      if (!wake.signal.aborted) await sleep(this.#clock, this.#retryPeriodMs * (1 + Math.random() * factor), AbortSignal.any([signal, wake.signal]));
      this.#wake = undefined;
    }
    return false;
  }

  /** Returns true when leadership was lost, false when stopped. */
  async #renewUntilLostOrStopped(): Promise<boolean> {
    let lastRenew = this.#clock.now();
    while (!this.#stop.signal.aborted) {
      await sleep(this.#clock, this.#retryPeriodMs, this.#stop.signal);
      if (this.#stop.signal.aborted) return false;
      // A renewal that hangs past the deadline is as good as failed: abort it.
      const attempt = clockTimeout(this.#clock, lastRenew + this.#renewDeadlineMs - this.#clock.now());
      const result = await this.#tryAcquireOrRenew(attempt.signal);
      attempt.cancel();
      if (result === 'ok') lastRenew = this.#clock.now();
      else if (result === 'held') return true;
      else if (this.#clock.now() - lastRenew >= this.#renewDeadlineMs) return true;
    }
    return false;
  }

  async #tryAcquireOrRenew(signal: AbortSignal): Promise<Attempt> {
    const { store, leaseName, identity } = this.#o;
    const now = this.#clock.now();
    const fresh: LeaseRecord = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(this.#leaseDurationMs / 1000),
      acquireTime: now,
      renewTime: now,
      leaseTransitions: 0,
    };
    try {
      const current = await store.get(leaseName, signal);
      if (!current) {
        this.#observe(await store.create(leaseName, fresh, signal), now);
        return 'ok';
      }
      this.#observe(current, now);
      const old = current.record;
      const held = old.holderIdentity !== '' && old.holderIdentity !== identity;
      if (held && this.#observedAt + old.leaseDurationSeconds * 1000 > now) return 'held';
      if (old.holderIdentity === identity) {
        fresh.acquireTime = old.acquireTime;
        fresh.leaseTransitions = old.leaseTransitions;
      } else {
        fresh.leaseTransitions = old.leaseTransitions + 1;
      }
      this.#observe(await store.update(current, fresh, signal), now);
      return 'ok';
    } catch (err) {
      // 409 (someone else wrote first), timeouts, outages: not fatal here, the caller's deadline is.
      this.#log.debug('Lease attempt failed', { error: describeApiError(err) });
      return 'failed';
    }
  }

  #observe(lease: StoredLease, now: number): void {
    if (sameRecord(this.#observed?.record, lease.record)) {
      this.#observed = lease;
      return;
    }
    const prevHolder = this.#observed?.record.holderIdentity;
    this.#observed = lease;
    this.#observedAt = now;
    const holder = lease.record.holderIdentity;
    if (holder !== prevHolder && holder !== '') {
      if (holder !== this.#o.identity) this.#log.info('Observed a new leader', { leader: holder });
      this.#o.onNewLeader?.(holder);
    }
  }

  async #release(): Promise<void> {
    const current = this.#observed;
    if (!current || current.record.holderIdentity !== this.#o.identity) return;
    const now = this.#clock.now();
    const released: LeaseRecord = {
      holderIdentity: '',
      leaseDurationSeconds: 1,
      acquireTime: now,
      renewTime: now,
      leaseTransitions: current.record.leaseTransitions,
    };
    try {
      this.#observe(await this.#o.store.update(current, released), now);
      this.#log.info('Released leadership');
    } catch (err) {
      this.#log.warn('Could not release the lease; others take over when it expires', { error: describeApiError(err) });
    }
  }

  #setLeading(leading: boolean): void {
    this.#leading = leading;
    masterStatus.set({ name: this.#o.leaseName }, leading ? 1 : 0);
  }
}
