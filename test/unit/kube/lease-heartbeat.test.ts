import { expect } from 'chai';
import { agentLeaseName } from '../../../src/api/v1alpha1/names.ts';
import { PROMPT_WRITE_ATTEMPT_MS } from '../../../src/kube/backoff.ts';
import { LeaseHeartbeat, isLeaseFresh } from '../../../src/kube/lease-heartbeat.ts';
import { leaseRecordOf, toMicroTime } from '../../../src/kube/lease-store.ts';
import { FakeClock, MemoryLeaseStore, silentLogger } from './fakes.ts';

describe('agent lease heartbeat', () => {
  it('creates the lease, then renews it every interval with the node as holder', async () => {
    const clock = new FakeClock();
    const store = new MemoryLeaseStore();
    const hb = new LeaseHeartbeat({ store, leaseName: agentLeaseName('worker-7'), holderIdentity: 'worker-7', renewIntervalMs: 10_000, leaseDurationSeconds: 40, clock, logger: silentLogger });
    hb.start();
    await clock.advance(0);
    const created = store.leases.get('mdev-agent.worker-7')?.record;
    expect(created).to.include({ holderIdentity: 'worker-7', leaseDurationSeconds: 40, renewTime: clock.now() });
    await clock.advance(30_000);
    const renewed = store.leases.get('mdev-agent.worker-7')?.record;
    expect(renewed?.renewTime).to.equal(clock.now());
    expect(renewed?.acquireTime, 'acquireTime is kept across renewals').to.equal(created?.acquireTime);
    expect(hb.lastRenewedAt()).to.equal(clock.now());
    await hb.stop();
  });

  it('keeps trying after failures and recovers', async () => {
    const clock = new FakeClock();
    const store = new MemoryLeaseStore();
    let down = true;
    const flaky = {
      get: (n: string) => (down ? Promise.reject(Object.assign(new Error('503'), { code: 503 })) : store.get(n)),
      create: store.create.bind(store),
      update: store.update.bind(store),
    };
    const hb = new LeaseHeartbeat({ store: flaky, leaseName: agentLeaseName('n1'), holderIdentity: 'n1', renewIntervalMs: 10_000, clock, logger: silentLogger });
    hb.start();
    await clock.advance(20_000);
    expect(hb.lastRenewedAt()).to.equal(undefined);
    down = false;
    const back = clock.now();
    await clock.advance(10_000);
    expect(hb.lastRenewedAt()).to.be.within(back, clock.now());
    await hb.stop();
  });

  it('retries a failed renewal within about 1 s (200 ms doubling), not a whole interval later', async () => {
    const clock = new FakeClock();
    const store = new MemoryLeaseStore();
    let down = true;
    let attempts = 0;
    const flaky = {
      get: (n: string) => {
        attempts++;
        return down ? Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })) : store.get(n);
      },
      create: store.create.bind(store),
      update: store.update.bind(store),
    };
    const hb = new LeaseHeartbeat({ store: flaky, leaseName: agentLeaseName('n1'), holderIdentity: 'n1', renewIntervalMs: 10_000, clock, logger: silentLogger });
    hb.start();
    await clock.advance(9_000);
    // 200, 400, 800 ms, then at most 1 s (±20 % jitter) apart: at least 8 tries in 9 s.
    expect(attempts).to.be.greaterThanOrEqual(8);
    down = false;
    const back = clock.now();
    await clock.advance(1_200);
    expect(hb.lastRenewedAt(), 'renewed within the capped retry delay of the API server coming back').to.be.a('number');
    expect((hb.lastRenewedAt() as number) - back).to.be.at.most(1_200);
    await hb.stop();
  });
});

describe('agent lease heartbeat: an attempt held by the API server (etcd down) is abandoned', () => {
  it('gives up on a renewal that does not answer within PROMPT_WRITE_ATTEMPT_MS and renews with the next attempt', async () => {
    const clock = new FakeClock();
    const store = new MemoryLeaseStore();
    let holding = true;
    const abandoned: string[] = [];
    // A GET that never answers while `holding`, as the API server holds requests while etcd is down;
    // only its signal ends it.
    const held = {
      get: (n: string, signal?: AbortSignal) => {
        if (!holding) return store.get(n);
        return new Promise<never>((_, reject) => signal?.addEventListener('abort', () => {
          abandoned.push(String((signal.reason as Error).message));
          reject(signal.reason as Error);
        }, { once: true }));
      },
      create: store.create.bind(store),
      update: store.update.bind(store),
    };
    const hb = new LeaseHeartbeat({ store: held, leaseName: agentLeaseName('n1'), holderIdentity: 'n1', renewIntervalMs: 10_000, clock, logger: silentLogger });
    hb.start();
    await clock.advance(PROMPT_WRITE_ATTEMPT_MS - 1);
    expect(abandoned, 'still within its bound').to.deep.equal([]);
    await clock.advance(1);
    expect(abandoned).to.have.length(1);
    expect(abandoned[0]).to.match(/lease renewal took longer than 2000 ms/);
    holding = false; // etcd is back: the held request would never complete, a new one does
    const back = clock.now();
    await clock.advance(1_500); // the retry comes within ~1 s (PROMPT_WRITE_BACKOFF)
    expect(hb.lastRenewedAt()).to.be.within(back, clock.now());
    await hb.stop();
  });

  it('stop() abandons a renewal in flight instead of waiting for it', async () => {
    const clock = new FakeClock();
    const never = { get: (_n: string, signal?: AbortSignal) => new Promise<never>((_, reject) => signal?.addEventListener('abort', () => reject(new Error('aborted')), { once: true })), create: () => Promise.reject(new Error('unused')), update: () => Promise.reject(new Error('unused')) };
    const hb = new LeaseHeartbeat({ store: never, leaseName: agentLeaseName('n1'), holderIdentity: 'n1', renewIntervalMs: 10_000, clock, logger: silentLogger });
    hb.start();
    await clock.advance(0);
    await hb.stop(); // would hang without the abort: the fake clock does not move
    expect(hb.lastRenewedAt()).to.equal(undefined);
  });
});

describe('isLeaseFresh', () => {
  const now = Date.parse('2026-05-01T10:00:00Z');
  it('is fresh until renewTime + leaseDurationSeconds, whatever the time representation', () => {
    const spec = { holderIdentity: 'n', leaseDurationSeconds: 40 };
    expect(isLeaseFresh({ spec: { ...spec, renewTime: new Date(now - 39_999) } }, now)).to.equal(true);
    expect(isLeaseFresh({ spec: { ...spec, renewTime: toMicroTime(now - 39_999) } }, now)).to.equal(true);
    expect(isLeaseFresh({ spec: { ...spec, renewTime: now - 40_000 } }, now)).to.equal(false);
  });

  it('is never fresh without a holder, a duration or a renewTime', () => {
    expect(isLeaseFresh(undefined, now)).to.equal(false);
    expect(isLeaseFresh({ spec: { leaseDurationSeconds: 40, renewTime: new Date(now) } }, now)).to.equal(false);
    expect(isLeaseFresh({ spec: { holderIdentity: 'n', renewTime: new Date(now) } }, now)).to.equal(false);
    expect(isLeaseFresh({ spec: { holderIdentity: 'n', leaseDurationSeconds: 40 } }, now)).to.equal(false);
    expect(isLeaseFresh({ spec: { holderIdentity: 'n', leaseDurationSeconds: 40, renewTime: 'garbage' } }, now)).to.equal(false);
  });

  it('round-trips MicroTime with microsecond precision in the wire format', () => {
    expect(toMicroTime(Date.parse('2026-05-01T10:00:00.123Z'))).to.equal('2026-05-01T10:00:00.123000Z');
    expect(leaseRecordOf({ renewTime: '2026-05-01T10:00:00.123456Z', holderIdentity: 'x', leaseDurationSeconds: 5 }).renewTime).to.equal(Date.parse('2026-05-01T10:00:00.123Z'));
  });
});
