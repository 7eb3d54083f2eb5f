// How long to wait before retrying a failed call to the API server, shared by the informers and the
// agents' Lease heartbeat. Exponential from `initialMs`, but capped low (`fastCapMs`) while the
// failures are young: an API server restart or a short etcd outage is over within a minute, and a
// client that has backed off to 30 s by then comes back up to 30 s late (issue 18: the first
// decision after /readyz came 18 s late). Only failures that last longer than `fastWindowMs` back
// off further, up to `maxMs`, so a long outage is not met with a retry storm. Jittered, so many
// clients do not retry in lockstep.
import { jitter } from './clock.ts';

export interface BackoffPolicy {
  /** Delay after the first failure. */
  initialMs: number;
  /** Cap while the failures started less than `fastWindowMs` ago. */
  fastCapMs: number;
  fastWindowMs: number;
  /** Cap after that. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 200, fastCapMs: 2_000, fastWindowMs: 60_000, maxMs: 30_000 };

/** The delay before retry number `failures` (1 = first), the failures having lasted `failingForMs`; without jitter. */
export function backoffDelayMs(policy: BackoffPolicy, failures: number, failingForMs: number): number {
  const cap = failingForMs < policy.fastWindowMs ? Math.min(policy.fastCapMs, policy.maxMs) : policy.maxMs;
  return Math.min(cap, policy.initialMs * 2 ** Math.min(Math.max(0, failures - 1), 30));
}

/** Consecutive failures of one loop: call `failed()` for the next delay (jittered), `succeeded()` to reset. */
export class Backoff {
  readonly #policy: BackoffPolicy;
  #failures = 0;
  #failingSince = 0;

  constructor(policy: Partial<BackoffPolicy> = {}) {
    this.#policy = { ...DEFAULT_BACKOFF, ...policy };
  }

  get failures(): number {
    return this.#failures;
  }

  /** Records a failure at `now`; returns how long to wait before the next try. */
  failed(now: number): number {
    if (this.#failures === 0) this.#failingSince = now;
    this.#failures++;
    return jitter(backoffDelayMs(this.#policy, this.#failures, now - this.#failingSince));
  }

  succeeded(): void {
    this.#failures = 0;
  }
}
