import { expect } from 'chai';
import { LeaderElector, type LeaderElectionOptions } from '../../../src/kube/leader-election.ts';
import { metricValue } from '../../../src/observability/metrics.ts';
import { FakeClock, MemoryLeaseStore, PartitionableStore, flush } from './fakes.ts';

const LEASE = 'mdev-controller';
// client-go defaults: lease 15 s, renew deadline 10 s, retry 2 s; no jitter so timing is exact.
const TIMING = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, jitterFactor: 0 };

interface Candidate {
  elector: LeaderElector;
  store: PartitionableStore;
  events: Array<{ what: string; at: number }>;
  run: Promise<void>;
}

function candidate(identity: string, shared: MemoryLeaseStore, clock: FakeClock, extra: Partial<LeaderElectionOptions> = {}): Candidate {
  const store = new PartitionableStore(shared);
  const events: Candidate['events'] = [];
  const elector = new LeaderElector({
    ...TIMING,
    store,
    clock,
    leaseName: LEASE,
    identity,
    onStartedLeading: (signal) => {
      events.push({ what: 'started', at: clock.now() });
      return new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
    },
    onStoppedLeading: (reason) => events.push({ what: `stopped:${reason}`, at: clock.now() }),
    ...extra,
  });
  return { elector, store, events, run: elector.run() };
}

describe('LeaderElector (fake clock, in-memory Lease)', () => {
  it('acquires an absent lease at once and keeps renewing it', async () => {
    const clock = new FakeClock();
    const shared = new MemoryLeaseStore();
    const a = candidate('a', shared, clock);
    await flush();
    expect(a.elector.isLeader()).to.equal(true);
    expect(a.events.map((e) => e.what)).to.deep.equal(['started']);
    expect(shared.leases.get(LEASE)?.record.holderIdentity).to.equal('a');
    expect(await metricValue('leader_election_master_status', { name: LEASE })).to.equal(1);
    const firstRenew = shared.leases.get(LEASE)?.record.renewTime as number;
    await clock.advance(60_000);
    expect(shared.leases.get(LEASE)?.record.renewTime).to.equal(firstRenew + 60_000);
    expect(a.elector.isLeader()).to.equal(true);
    await a.elector.stop();
  });

  it('gives exactly one leader among two candidates; the other takes over after a release', async () => {
    const clock = new FakeClock();
    const shared = new MemoryLeaseStore();
    const a = candidate('a', shared, clock);
    await flush();
    const b = candidate('b', shared, clock);
    await clock.advance(60_000);
    expect([a.elector.isLeader(), b.elector.isLeader()]).to.deep.equal([true, false]);
    expect(b.elector.observedLeader()).to.equal('a');

    const stoppedAt = clock.now();
    await a.elector.stop();
    await a.run;
    expect(a.events.map((e) => e.what)).to.deep.equal(['started', 'stopped:stopped']);
    expect(shared.leases.get(LEASE)?.record.holderIdentity, 'released').to.equal('');
    expect(await metricValue('leader_election_master_status', { name: LEASE })).to.equal(0);

    await clock.advance(TIMING.retryPeriodMs);
    expect(b.elector.isLeader(), 'takes a released lease on its next retry').to.equal(true);
    expect((b.events[0]?.at ?? Infinity) - stoppedAt).to.be.at.most(TIMING.retryPeriodMs);
    expect(shared.leases.get(LEASE)?.record.leaseTransitions).to.equal(1);
    await b.elector.stop();
  });

  it('a partitioned leader steps down after renewDeadline, before the other may acquire', async () => {
    const clock = new FakeClock();
    const shared = new MemoryLeaseStore();
    const a = candidate('a', shared, clock);
    await flush();
    const b = candidate('b', shared, clock);
    await clock.advance(10_000);
    const lastRenew = shared.leases.get(LEASE)?.record.renewTime as number;
    a.store.partitioned = true;

    await clock.advance(lastRenew + TIMING.leaseDurationMs - 1 - clock.now());
    expect(b.elector.isLeader(), 'the lease is not expired yet as b observed it').to.equal(false);
    expect(a.elector.isLeader()).to.equal(false);
    await a.run;
    const lostAt = a.events.find((e) => e.what === 'stopped:lost')?.at as number;
    expect(lostAt - lastRenew).to.be.at.most(TIMING.renewDeadlineMs + TIMING.retryPeriodMs);

    await clock.advance(TIMING.leaseDurationMs);
    expect(b.elector.isLeader()).to.equal(true);
    const bStarted = b.events[0]?.at as number;
    expect(bStarted, 'b leads only after a stopped leading').to.be.greaterThan(lostAt);
    expect(bStarted - lastRenew, 'b waited a full lease duration from its own observation').to.be.at.least(TIMING.leaseDurationMs);
    await b.elector.stop();
  });

  it('a leader that sees another holder on the lease stops leading at once', async () => {
    const clock = new FakeClock();
    const shared = new MemoryLeaseStore();
    const a = candidate('a', shared, clock);
    await flush();
    shared.overwrite(LEASE, { holderIdentity: 'intruder', leaseDurationSeconds: 15, renewTime: clock.now(), acquireTime: clock.now(), leaseTransitions: 1 });
    await clock.advance(TIMING.retryPeriodMs);
    expect(a.elector.isLeader()).to.equal(false);
    expect(a.events.map((e) => e.what)).to.deep.equal(['started', 'stopped:lost']);
    expect(shared.leases.get(LEASE)?.record.holderIdentity, 'does not release a lease it no longer holds').to.equal('intruder');
  });

  it('waits for the leader work to finish before releasing on stop', async () => {
    const clock = new FakeClock();
    const shared = new MemoryLeaseStore();
    let finishWork!: () => void;
    const holderWhenWorkEnded: string[] = [];
    const a = candidate('a', shared, clock, {
      onStartedLeading: (signal) =>
        new Promise<void>((resolve) => {
          finishWork = () => {
            holderWhenWorkEnded.push(shared.leases.get(LEASE)?.record.holderIdentity ?? '');
            resolve();
          };
          signal.addEventListener('abort', () => setImmediate(() => finishWork()));
        }),
    });
    await flush();
    await a.elector.stop();
    expect(holderWhenWorkEnded).to.deep.equal(['a']);
    expect(shared.leases.get(LEASE)?.record.holderIdentity).to.equal('');
  });

  it('a leader cut off past its renewDeadline stops leading; a new elector of the same identity takes its own lease back at once when the API returns, and retryNow() skips the retry wait', async () => {
    const clock = new FakeClock();
    const shared = new MemoryLeaseStore();
    const a = candidate('a', shared, clock);
    await flush();
    a.store.partitioned = true; // the API server went away
    await clock.advance(TIMING.renewDeadlineMs + TIMING.retryPeriodMs);
    await a.run;
    expect(a.events.map((e) => e.what)).to.deep.equal(['started', 'stopped:lost']);
    // What the manager does next (ADR 0009): a new elector, same identity, campaigning while the API is still down.
    const again = candidate('a', shared, clock, { store: a.store, retryPeriodMs: 5_000, renewDeadlineMs: 7_000, leaseDurationMs: 15_000 });
    await clock.advance(20_000);
    expect(again.elector.isLeader(), 'nothing to acquire while cut off').to.equal(false);
    a.store.partitioned = false;
    again.elector.retryNow(); // /readyz turned ok
    await flush();
    expect(again.elector.isLeader(), 'its own lease: renewed at once, no need to wait for it to expire').to.equal(true);
    expect(shared.leases.get(LEASE)?.record.holderIdentity).to.equal('a');
    expect(shared.leases.get(LEASE)?.record.leaseTransitions, 'the same holder: no transition').to.equal(0);
    await again.elector.stop();
  });

  it('rejects timing that cannot be safe', () => {
    const base = { store: new MemoryLeaseStore(), leaseName: LEASE, identity: 'a', onStartedLeading: () => {} };
    expect(() => new LeaderElector({ ...base, leaseDurationMs: 10_000, renewDeadlineMs: 10_000 })).to.throw(/leaseDuration/);
    expect(() => new LeaderElector({ ...base, renewDeadlineMs: 2_000, retryPeriodMs: 2_000 })).to.throw(/renewDeadline/);
    expect(() => new LeaderElector({ ...base, identity: '' })).to.throw(/identity/);
  });
});
