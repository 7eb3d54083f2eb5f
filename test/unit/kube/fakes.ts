// Test doubles for the kube runtime: a manual clock and an in-memory Lease store with the API
// server's optimistic-concurrency behaviour (resourceVersion checks, AlreadyExists, Conflict).
import { Writable } from 'node:stream';
import winston from 'winston';
import type { CancelTimer, Clock } from '../../../src/kube/clock.ts';
import type { LeaseRecord, LeaseStore, StoredLease } from '../../../src/kube/lease-store.ts';

/** Lets pending promise chains (fake I/O resolves immediately) run to their next timer. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  #timers: Timer[] = [];

  constructor(start = 1_700_000_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimer(fn: () => void, ms: number): CancelTimer {
    const t: Timer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn, cancelled: false };
    this.#timers.push(t);
    return () => {
      t.cancelled = true;
    };
  }

  /** Moves time forward, firing due timers in order and letting async work settle after each. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      await flush();
      this.#timers = this.#timers.filter((t) => !t.cancelled);
      const due = this.#timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.#timers.splice(this.#timers.indexOf(due), 1);
      this.#now = due.at;
      due.fn();
    }
    this.#now = target;
    await flush();
  }
}

function apiError(code: number, reason: string): Error {
  return Object.assign(new Error(`${code} ${reason}`), { code, body: JSON.stringify({ code, reason }) });
}

export class MemoryLeaseStore implements LeaseStore {
  readonly leases = new Map<string, StoredLease>();
  #rv = 1;

  get(name: string): Promise<StoredLease | undefined> {
    const l = this.leases.get(name);
    return Promise.resolve(l && structuredClone(l));
  }

  create(name: string, record: LeaseRecord): Promise<StoredLease> {
    if (this.leases.has(name)) return Promise.reject(apiError(409, 'AlreadyExists'));
    return Promise.resolve(this.#put(name, record));
  }

  update(previous: StoredLease, record: LeaseRecord): Promise<StoredLease> {
    const name = String(previous.metadata.name);
    const cur = this.leases.get(name);
    if (!cur) return Promise.reject(apiError(404, 'NotFound'));
    if (cur.resourceVersion !== previous.resourceVersion) return Promise.reject(apiError(409, 'Conflict'));
    return Promise.resolve(this.#put(name, record));
  }

  /** Writes as another actor would (e.g. a forced takeover). */
  overwrite(name: string, record: LeaseRecord): void {
    this.#put(name, record);
  }

  #put(name: string, record: LeaseRecord): StoredLease {
    const l = { record: structuredClone(record), resourceVersion: String(this.#rv++), metadata: { name } };
    this.leases.set(name, l);
    return structuredClone(l);
  }
}

/** A view of a store that can be cut off, as a network partition would. */
export class PartitionableStore implements LeaseStore {
  readonly #inner: LeaseStore;
  partitioned = false;

  constructor(inner: LeaseStore) {
    this.#inner = inner;
  }

  #check(): void {
    if (this.partitioned) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
  }

  async get(name: string): Promise<StoredLease | undefined> {
    this.#check();
    return this.#inner.get(name);
  }

  async create(name: string, record: LeaseRecord): Promise<StoredLease> {
    this.#check();
    return this.#inner.create(name, record);
  }

  async update(previous: StoredLease, record: LeaseRecord): Promise<StoredLease> {
    this.#check();
    return this.#inner.update(previous, record);
  }
}

/** For tests that provoke error logs on purpose. */
export const silentLogger = winston.createLogger({ silent: true });

/** A debug-level logger whose JSON lines the test reads back. */
export function capturingLogger(): { log: winston.Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { log: winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] }), lines };
}
