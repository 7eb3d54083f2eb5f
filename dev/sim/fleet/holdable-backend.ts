// A compatibility backend whose tests can be held: while held, every `test` waits (the vendor
// driver is slow to answer, or the agent is wedged) and finishes once released. Reads are never
// held, so the agent keeps publishing and renewing its Lease. Fault tests use it to keep a
// migration waiting on a probe, deterministically, across an API server outage.
import type { CompatBackend, CompatSubject, TestVerdict, VersionRead } from '../../../src/compat/backend.ts';

export class HoldableBackend implements CompatBackend {
  readonly #inner: CompatBackend;
  #gate: Promise<void> | undefined;
  #release: (() => void) | undefined;

  constructor(inner: CompatBackend) {
    this.#inner = inner;
  }

  get name(): CompatBackend['name'] {
    return this.#inner.name;
  }

  /** From now on `test` waits until `release()`. */
  hold(): void {
    if (this.#gate) return;
    this.#gate = new Promise((r) => (this.#release = r));
  }

  release(): void {
    this.#release?.();
    this.#gate = undefined;
    this.#release = undefined;
  }

  readVersion(subject: CompatSubject): Promise<VersionRead> {
    return this.#inner.readVersion(subject);
  }

  async test(target: CompatSubject, sourceVersion: string): Promise<TestVerdict> {
    await this.#gate;
    return this.#inner.test(target, sourceVersion);
  }
}
