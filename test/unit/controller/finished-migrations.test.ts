// The lifecycle of finished MdevMigrations on a fake clock: a TTL counts from completionTime and
// deletes at, not before, the expiry; each VMI keeps its newest `historyLimit` finished records;
// in-flight records are never touched; a record changed since it was judged (409) is judged again;
// and a new controller (fresh queue, same cache) deletes what expired while none was running.
import { expect } from 'chai';
import type { MdevMigration } from '../../../src/api/v1alpha1/index.ts';
import { beyondHistory, expiresAt, FinishedMigrations, finishedAt } from '../../../src/controller/finished-migrations.ts';
import { isFinished, phaseStatus } from '../../../src/controller/migration-status.ts';
import type { InformerHandlers } from '../../../src/kube/informer.ts';
import { FakeClock, silentLogger } from '../kube/fakes.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

function record(name: string, o: { vmi?: string; phase?: 'Probing' | 'Planned' | 'Succeeded' | 'Failed'; finished?: number; ttl?: number; dryRun?: boolean; rv?: string } = {}): MdevMigration {
  return {
    apiVersion: 'mdev-operator.io/v1alpha1',
    kind: 'MdevMigration',
    metadata: { name, namespace: 'vms', uid: `uid-${name}`, resourceVersion: o.rv ?? '1', generation: 1 },
    spec: { vmiName: o.vmi ?? 'vm', allowCreateTarget: false, dryRun: o.dryRun ?? false, deadlineSeconds: 900, ...(o.ttl !== undefined ? { ttlSecondsAfterFinished: o.ttl } : {}) },
    ...(o.phase ? { status: { phase: o.phase, ...(o.finished !== undefined ? { completionTime: iso(o.finished) } : {}) } } : {}),
  };
}

/** An in-memory MdevMigration cache with the informer's handler semantics. */
class FakeCache {
  readonly items = new Map<string, MdevMigration>();
  readonly #handlers: InformerHandlers<MdevMigration>[] = [];
  list = () => [...this.items.values()];
  get = (key: string) => this.items.get(key);
  addHandlers(h: InformerHandlers<MdevMigration>): void {
    this.#handlers.push(h);
    for (const m of this.items.values()) h.add?.(m);
  }
  put(m: MdevMigration): void {
    const key = `${m.metadata.namespace}/${m.metadata.name}`;
    const old = this.items.get(key);
    this.items.set(key, m);
    for (const h of this.#handlers) {
      if (old) h.update?.(old, m);
      else h.add?.(m);
    }
  }
  remove(key: string): void {
    const old = this.items.get(key);
    this.items.delete(key);
    if (old) for (const h of this.#handlers) h.delete?.(old);
  }
}

function conflict(): Error {
  return Object.assign(new Error('409 Conflict'), { code: 409, body: JSON.stringify({ code: 409, reason: 'Conflict' }) });
}

function start(cache: FakeCache, clock: FakeClock, historyLimit = 5, refuse = new Set<string>()) {
  const deleted: string[] = [];
  const lifecycle = new FinishedMigrations({
    migrations: cache,
    clock,
    log: silentLogger,
    historyLimit,
    deleteMigration: async (m) => {
      const key = `${m.metadata.namespace}/${m.metadata.name}`;
      if (refuse.has(key)) {
        refuse.delete(key);
        throw conflict();
      }
      deleted.push(m.metadata.name);
      cache.remove(key);
    },
  });
  lifecycle.register();
  const running = lifecycle.run(1);
  return { deleted, stop: async () => { await lifecycle.queue.shutdown({ drain: false }); await running; } };
}

describe('finished MdevMigrations: TTL and per-VMI history (fake clock)', () => {
  it('a phase change that finishes a migration stamps completionTime once; Planned finishes only a dry run', () => {
    const now = T0 + 42_000;
    expect(phaseStatus(record('a', { phase: 'Probing' }), { phase: 'Succeeded', reason: 'Succeeded', message: 'ok' }, now + 7).completionTime, 'milliseconds kept').to.equal(new Date(now + 7).toISOString());
    expect(phaseStatus(record('b', { phase: 'Probing' }), { phase: 'Planned', reason: 'Reserved', message: 'r' }, now).completionTime).to.equal(undefined);
    expect(phaseStatus(record('c', { phase: 'Probing', dryRun: true }), { phase: 'Planned', reason: 'DryRun', message: 'd' }, now).completionTime).to.equal(new Date(now).toISOString());
    expect(phaseStatus(record('d', { phase: 'Failed', finished: T0 }), { phase: 'Failed', reason: 'X', message: 'again' }, now).completionTime, 'kept').to.equal(iso(T0));
    expect(isFinished(record('e', { phase: 'Planned' }))).to.equal(false);
  });

  it('expiry is completionTime + TTL; no TTL or not finished means no expiry', () => {
    expect(expiresAt(record('a', { phase: 'Failed', finished: T0, ttl: 60 }))).to.equal(T0 + 60_000);
    expect(expiresAt(record('b', { phase: 'Succeeded', finished: T0 }))).to.equal(undefined);
    expect(expiresAt(record('c', { phase: 'Probing', ttl: 0 }))).to.equal(undefined);
    const legacy = record('d', { phase: 'Succeeded', ttl: 10 });
    legacy.status = { phase: 'Succeeded', conditions: [{ type: 'Ready', status: 'True', reason: 'Succeeded', message: '', lastTransitionTime: iso(T0 + 5000) }] };
    expect(finishedAt(legacy), 'falls back to the Ready condition').to.equal(T0 + 5000);
  });

  it('deletes a record at its expiry, not a millisecond before', async () => {
    const clock = new FakeClock(T0);
    const cache = new FakeCache();
    cache.put(record('done', { phase: 'Succeeded', finished: T0, ttl: 30 }));
    const run = start(cache, clock);
    await clock.advance(29_999);
    expect(run.deleted).to.deep.equal([]);
    await clock.advance(1);
    expect(run.deleted).to.deep.equal(['done']);
    expect(cache.items.size).to.equal(0);
    await run.stop();
  });

  it('keeps the newest N finished records per VMI and never touches one in flight or another VMI’s', async () => {
    const clock = new FakeClock(T0 + 1_000_000);
    const cache = new FakeCache();
    for (let i = 0; i < 5; i++) cache.put(record(`m${i}`, { phase: i % 2 ? 'Failed' : 'Succeeded', finished: T0 + i * 1000 }));
    cache.put(record('running', { phase: 'Probing' }));
    cache.put(record('other', { vmi: 'vm2', phase: 'Succeeded', finished: T0 - 1 }));
    const run = start(cache, clock, 2);
    await clock.advance(0);
    expect(run.deleted.sort()).to.deep.equal(['m0', 'm1', 'm2']);
    expect([...cache.items.keys()].sort()).to.deep.equal(['vms/m3', 'vms/m4', 'vms/other', 'vms/running']);
    expect(beyondHistory(cache.list().filter((m) => m.spec.vmiName === 'vm'), 2).map((m) => m.metadata.name)).to.deep.equal([]);
    await run.stop();
  });

  it('a record changed since it was judged (409) is judged again from the cache', async () => {
    const clock = new FakeClock(T0 + 60_000);
    const cache = new FakeCache();
    cache.put(record('raced', { phase: 'Failed', finished: T0, ttl: 10 }));
    const run = start(cache, clock, 5, new Set(['vms/raced']));
    // The writer that caused the conflict raised the TTL: the new version is not due yet.
    cache.put(record('raced', { phase: 'Failed', finished: T0, ttl: 3600, rv: '2' }));
    await clock.advance(10_000);
    expect(run.deleted).to.deep.equal([]);
    await clock.advance(3_600_000);
    expect(run.deleted).to.deep.equal(['raced']);
    await run.stop();
  });

  it('a new controller deletes what expired while none was running (level-based)', async () => {
    const clock = new FakeClock(T0);
    const cache = new FakeCache();
    cache.put(record('old', { phase: 'Succeeded', finished: T0, ttl: 5 }));
    const first = start(cache, clock);
    await first.stop();
    await clock.advance(60_000);
    expect(cache.items.has('vms/old'), 'nobody deleted it while stopped').to.equal(true);
    const second = start(cache, clock);
    await clock.advance(0);
    expect(second.deleted).to.deep.equal(['old']);
    await second.stop();
  });
});
