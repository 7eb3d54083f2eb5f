// Time as a dependency: the workqueue, informer and leader election read the time and arm timers
// only through a Clock, so unit tests can drive them with a fake clock instead of sleeping.

export type CancelTimer = () => void;

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `fn` once after `ms`; the returned function cancels it. */
  setTimer(fn: () => void, ms: number): CancelTimer;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const t = setTimeout(fn, Math.max(0, ms));
    return () => clearTimeout(t);
  },
};

/** Resolves after `ms` on `clock`, or early (without rejecting) when `signal` aborts. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = (): void => {
      cancel();
      resolve();
    };
    const cancel = clock.setTimer(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A signal that aborts after `ms` on `clock` (with `reason`, if given), and the function that
 * disarms it. `AbortSignal.timeout` would read the real clock, which fake-clock tests cannot drive.
 */
export function clockTimeout(clock: Clock, ms: number, reason?: unknown): { signal: AbortSignal; cancel: CancelTimer } {
  const timeout = new AbortController();
  const cancel = clock.setTimer(() => timeout.abort(reason), ms);
  return { signal: timeout.signal, cancel };
}

/** ±`fraction` random jitter, so many replicas or informers do not retry in lockstep. */
export function jitter(ms: number, fraction = 0.2): number {
  return ms * (1 - fraction + Math.random() * 2 * fraction);
}
