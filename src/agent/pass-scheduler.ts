// Runs one async pass at a time, on an interval and on demand. Requests made while a pass runs
// are coalesced into one follow-up pass, so a burst of triggers (probes creating devices, a
// timer firing) never runs discovery concurrently or piles up work.
import type { CancelTimer, Clock } from '../kube/clock.ts';
import { realClock } from '../kube/clock.ts';

export class PassScheduler {
  readonly #pass: () => Promise<void>;
  readonly #intervalMs: number;
  readonly #clock: Clock;
  #running: Promise<void> | undefined;
  #followUp: Promise<void> | undefined;
  #cancelTimer: CancelTimer | undefined;
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

  /** Cancels the interval and waits for the running pass. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#cancelTimer?.();
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
