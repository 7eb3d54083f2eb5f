// How long to wait before retrying a failed call to the API server, shared by the informers, the
// agents' Lease heartbeat and their probe-answer writes. Exponential from `initialMs`, but capped
// low (`fastCapMs`) while the failures are young: a client that has backed off to 30 s when the
// API server comes back is up to 30 s late (issue 18: the first decision after /readyz came 18 s
// late). "Young" is three minutes: an etcd killed for 45 s left /readyz failing for 61-71 s here
// (the API server's own etcd clients reconnect with backoff), and a first failure comes at the
// moment of the kill, so a one-minute window had ended before the server was back and a held
// agent's answer or lease renewal went out up to 10-30 s after /readyz. Only failures that last
// longer than `fastWindowMs` back off further, up to `maxMs`, so a long outage is not met with a
// retry storm. Jittered, so many clients do not retry in lockstep.
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

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 200, fastCapMs: 2_000, fastWindowMs: 180_000, maxMs: 30_000 };

/**
 * For a write someone else is waiting for (an agent's lease renewal, its probe answer), from a
 * process that has no `/readyz` signal to retry on: at most ~1 s apart while the failures are
 * young, so it lands within about a second of the API server's return (with 2 s, a held answer
 * after an API server restart came up to 2.4 s late: half of the first decision's 5 s budget).
 * One small request per second per failing write is what a kubelet's lease retries cost.
 */
export const PROMPT_WRITE_BACKOFF: Partial<BackoffPolicy> = { fastCapMs: 1_000 };

/**
 * How long one attempt of such a write may take before it is abandoned and retried. A request sent
 * while etcd is down is held by the API server until its own timeout (34-60 s measured) and does
 * not complete when etcd returns, so without a bound an attempt that started in the outage kept
 * the answer or renewal from landing for up to a minute after `/readyz` (issue 18: the held wave
 * planned 10-24 s late). The kubelet bounds its lease renewals the same way (its heartbeat client's
 * timeout); ours is shorter because this bound is the delay after the API server's return. A write
 * abandoned on a slow but healthy server may still land: renewals carry a resourceVersion and
 * answers are idempotent, so the retry is harmless.
 */
export const PROMPT_WRITE_ATTEMPT_MS = 2_000;

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
