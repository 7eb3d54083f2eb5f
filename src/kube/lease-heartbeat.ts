// A liveness signal: a Lease whose renewTime its only writer bumps every few seconds (like the
// kubelet's node lease). The agent renews `mdev-agent.<node>` (agentLeaseName in api/), and the
// controller treats a node whose lease is not fresh as AgentUnavailable. No election here.
import { loggerFor, type Logger } from '../observability/logger.ts';
import { Backoff, PROMPT_WRITE_ATTEMPT_MS, PROMPT_WRITE_BACKOFF } from './backoff.ts';
import { clockTimeout, realClock, sleep, type Clock } from './clock.ts';
import { describeApiError, isAlreadyExists, isConflict } from './errors.ts';
import type { LeaseRecord, LeaseStore } from './lease-store.ts';

/** The Lease fields freshness depends on; accepts client-node's V1Lease, raw JSON or parsed data. */
export interface LeaseLike {
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    renewTime?: Date | string | number;
  };
}

/** When the lease lapses (renewTime + leaseDurationSeconds, epoch ms); NaN for a lease that never binds. */
export function leaseExpiresAt(lease: LeaseLike | undefined): number {
  const spec = lease?.spec;
  if (!spec?.holderIdentity || !spec.leaseDurationSeconds || spec.renewTime === undefined) return Number.NaN;
  const renew = spec.renewTime instanceof Date ? spec.renewTime.getTime() : typeof spec.renewTime === 'number' ? spec.renewTime : Date.parse(spec.renewTime);
  return renew + spec.leaseDurationSeconds * 1000;
}

/** True while renewTime + leaseDurationSeconds is in the future (at `now`, epoch ms). */
export function isLeaseFresh(lease: LeaseLike | undefined, now: number): boolean {
  return leaseExpiresAt(lease) > now;
}

export interface LeaseHeartbeatOptions {
  store: LeaseStore;
  /** The Lease to renew (the agent's: agentLeaseName(node)). */
  leaseName: string;
  /** Written as holderIdentity (the agent's: its node name). */
  holderIdentity: string;
  /** How long the lease stays fresh without renewal; default 40 s (as the kubelet's). */
  leaseDurationSeconds?: number;
  /** Default 10 s: four chances to renew within one lease duration. */
  renewIntervalMs?: number;
  clock?: Clock;
  logger?: Logger;
}

export class LeaseHeartbeat {
  readonly leaseName: string;
  readonly #o: LeaseHeartbeatOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #stop = new AbortController();
  #lastRenewedAt: number | undefined;
  #loop: Promise<void> | undefined;

  constructor(opts: LeaseHeartbeatOptions) {
    this.leaseName = opts.leaseName;
    this.#o = opts;
    this.#clock = opts.clock ?? realClock;
    this.#log = opts.logger ?? loggerFor('lease-heartbeat', { lease: opts.leaseName });
  }

  /** Epoch ms of the last successful renewal, for readiness checks. */
  lastRenewedAt(): number | undefined {
    return this.#lastRenewedAt;
  }

  /** Renews now and then every renewInterval until stopped. Failures are logged and retried. */
  start(): void {
    this.#loop ??= this.#run();
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
  }

  /** One renewal (creating the Lease if needed); throws on failure. */
  async renewOnce(signal?: AbortSignal): Promise<void> {
    const { store, holderIdentity } = this.#o;
    const now = this.#clock.now();
    const record: LeaseRecord = {
      holderIdentity,
      leaseDurationSeconds: this.#o.leaseDurationSeconds ?? 40,
      acquireTime: now,
      renewTime: now,
      leaseTransitions: 0,
    };
    const current = await store.get(this.leaseName, signal);
    if (!current) {
      await store.create(this.leaseName, record, signal);
    } else {
      if (current.record.holderIdentity === holderIdentity) record.acquireTime = current.record.acquireTime;
      record.leaseTransitions = current.record.leaseTransitions + (current.record.holderIdentity === holderIdentity ? 0 : 1);
      await store.update(current, record, signal);
    }
    this.#lastRenewedAt = now;
  }

  /** One renewal, abandoned after PROMPT_WRITE_ATTEMPT_MS (see there) or when stopped. */
  async #attempt(): Promise<void> {
    const timeout = clockTimeout(this.#clock, PROMPT_WRITE_ATTEMPT_MS, new Error(`the lease renewal took longer than ${PROMPT_WRITE_ATTEMPT_MS} ms; retrying`));
    try {
      await this.renewOnce(AbortSignal.any([timeout.signal, this.#stop.signal]));
    } finally {
      timeout.cancel();
    }
  }

  async #run(): Promise<void> {
    const interval = this.#o.renewIntervalMs ?? 10_000;
    // A failed renewal is retried soon (like the kubelet's node lease: 200 ms doubling), not a whole
    // interval later: after an API server outage the controller judges this node by how soon its
    // lease is renewed, so waiting out the interval would make the node look dead for longer.
    const backoff = new Backoff({ ...PROMPT_WRITE_BACKOFF, maxMs: Math.max(200, interval) });
    while (!this.#stop.signal.aborted) {
      let wait = interval;
      try {
        await this.#attempt();
        backoff.succeeded();
      } catch (err) {
        // A create race or a concurrent write: read again right away instead of waiting a period.
        const retrySoon = isConflict(err) || isAlreadyExists(err);
        this.#log.warn('Lease renewal failed', { lease: this.leaseName, error: describeApiError(err) });
        if (retrySoon) {
          try {
            await this.#attempt();
            backoff.succeeded();
          } catch (again) {
            this.#log.warn('Lease renewal failed again', { lease: this.leaseName, error: describeApiError(again) });
            wait = Math.min(interval, backoff.failed(this.#clock.now()));
          }
        } else {
          wait = Math.min(interval, backoff.failed(this.#clock.now()));
        }
      }
      await sleep(this.#clock, wait, this.#stop.signal);
    }
  }
}
