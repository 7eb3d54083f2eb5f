// Runs one async pass at a time, on an interval and on demand (now, or soon after a short window
// that gathers a burst of events). Requests made while a pass runs are coalesced into one
// follow-up pass, so a burst of triggers (probes creating devices, pod changes, a timer firing)
// never runs discovery concurrently or piles up work.
import type { CancelTimer, Clock } from '../kube/clock.ts';
import { realClock } from '../kube/clock.ts';

export class PassScheduler {
  readonly #pass: () => Promise<void>;
  readonly #intervalMs: number;
  readonly #clock: Clock;
  #running: Promise<void> | undefined;
  #followUp: Promise<void> | undefined;
  #cancelTimer: CancelTimer | undefined;
  #cancelSoon: CancelTimer | undefined;
  #stopped = false;

  constructor(pass: () => Promise<void>, intervalMs: number, clock: Clock = realClock) {
    this.#pass = pass;
    this.#intervalMs = intervalMs;
    this.#clock = clock;
  }

  /** Arms the interval (the first timed pass runs one interval from now). */
  start(): void {
    this.#arm();
  }

  /** Resolves after a pass that started after this call has finished. */
  request(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    if (!this.#running) return this.#start();
    this.#followUp ??= this.#running.then(() => {
      this.#followUp = undefined;
      return this.#start();
    });
    return this.#followUp;
  }

  /**
   * Requests a pass `delayMs` from now; further calls before then join it, so a burst of events
   * (pods of a node starting together) costs one pass, not one each.
   */
  requestSoon(delayMs: number): void {
    if (this.#stopped || this.#cancelSoon) return;
    this.#cancelSoon = this.#clock.setTimer(() => {
      this.#cancelSoon = undefined;
      void this.request().catch(() => undefined); // the pass logs its own failures
    }, delayMs);
  }

  /** Cancels the interval and waits for the running pass. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#cancelTimer?.();
    this.#cancelSoon?.();
    await this.#running;
  }

  #start(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    const run = this.#pass().finally(() => {
      if (this.#running === run) this.#running = undefined;
    });
    this.#running = run;
    return run;
  }

  #arm(): void {
    if (this.#stopped) return;
    this.#cancelTimer = this.#clock.setTimer(() => {
      void this.request()
        .catch(() => undefined) // the pass logs its own failures
        .finally(() => this.#arm());
    }, this.#intervalMs);
  }
}
