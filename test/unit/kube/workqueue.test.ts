import { expect } from 'chai';
import { BucketRateLimiter, ItemExponentialRateLimiter, MaxOfRateLimiter } from '../../../src/kube/rate-limiter.ts';
import { WorkQueue } from '../../../src/kube/workqueue.ts';
import { metricValue } from '../../../src/observability/metrics.ts';
import { FakeClock, flush, silentLogger } from './fakes.ts';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

let seq = 0;
function newQueue(clock = new FakeClock()): { q: WorkQueue; clock: FakeClock } {
  return { q: new WorkQueue({ name: `test-queue-${seq++}`, clock, logger: silentLogger }), clock };
}

describe('WorkQueue', () => {
  it('queues a key once however often it is added', async () => {
    const { q } = newQueue();
    q.add('a');
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.len()).to.equal(2);
    expect(await q.get()).to.equal('a');
    expect(await q.get()).to.equal('b');
    expect(await metricValue('workqueue_adds_total', { name: q.name })).to.equal(2);
  });

  it('re-queues a key added while it is processed only after done', async () => {
    const { q } = newQueue();
    q.add('a');
    const key = await q.get();
    q.add('a');
    q.add('a');
    expect(q.len(), 'not queued while in flight').to.equal(0);
    q.done(key as string);
    expect(q.len()).to.equal(1);
    expect(await q.get()).to.equal('a');
  });

  it('never reconciles the same key concurrently, but does process it again after a mid-flight add', async () => {
    const { q } = newQueue();
    const running = new Map<string, number>();
    let maxConcurrentSameKey = 0;
    const calls: string[] = [];
    const gate = deferred();
    const workers = q.runWorkers(4, async (key) => {
      calls.push(key);
      running.set(key, (running.get(key) ?? 0) + 1);
      maxConcurrentSameKey = Math.max(maxConcurrentSameKey, running.get(key) ?? 0);
      if (calls.length === 1) await gate.promise;
      running.set(key, (running.get(key) ?? 0) - 1);
    });
    q.add('k');
    await flush();
    for (let i = 0; i < 5; i++) q.add('k'); // arrives while the first reconcile is blocked
    q.add('other');
    await flush();
    expect(calls).to.deep.equal(['k', 'other']);
    gate.resolve();
    await flush();
    expect(calls).to.deep.equal(['k', 'other', 'k']);
    expect(maxConcurrentSameKey).to.equal(1);
    await q.shutdown();
    await workers;
  });

  it('retries a failing key with growing backoff and forgets it after success', async () => {
    const { q, clock } = newQueue();
    const attempts: number[] = [];
    let failUntil = 3;
    const workers = q.runWorkers(1, async () => {
      attempts.push(clock.now());
      if (attempts.length <= failUntil) throw new Error('boom');
    });
    q.add('k');
    await clock.advance(1000);
    expect(attempts).to.have.length(4);
    const gaps = attempts.slice(1).map((t, i) => t - (attempts[i] as number));
    expect(gaps).to.deep.equal([5, 10, 20]);
    expect(q.numRequeues('k'), 'forgotten after the success').to.equal(0);
    expect(await metricValue('controller_runtime_reconcile_errors_total', { controller: q.name })).to.equal(3);
    expect(await metricValue('controller_runtime_reconcile_total', { controller: q.name, result: 'success' })).to.equal(1);
    expect(await metricValue('workqueue_retries_total', { name: q.name })).to.equal(3);
    failUntil = 0;
    await q.shutdown();
    await workers;
  });

  it('honours requeueAfter without counting a failure', async () => {
    const { q, clock } = newQueue();
    const times: number[] = [];
    const workers = q.runWorkers(1, async () => {
      times.push(clock.now());
      return times.length === 1 ? { requeueAfter: 30_000 } : undefined;
    });
    q.add('k');
    await clock.advance(29_999);
    expect(times).to.have.length(1);
    await clock.advance(1);
    expect(times).to.have.length(2);
    expect(q.numRequeues('k')).to.equal(0);
    expect(await metricValue('controller_runtime_reconcile_total', { controller: q.name, result: 'requeue_after' })).to.equal(1);
    await q.shutdown();
    await workers;
  });

  it('keeps the earliest of several addAfter delays', async () => {
    const { q, clock } = newQueue();
    q.addAfter('k', 10_000);
    q.addAfter('k', 2_000);
    q.addAfter('k', 5_000);
    await clock.advance(1_999);
    expect(q.len()).to.equal(0);
    await clock.advance(1);
    expect(q.len()).to.equal(1);
    await clock.advance(10_000);
    expect(q.len(), 'later timers were cancelled or deduplicated').to.equal(1);
  });

  it('on shutdown finishes queued and in-flight keys, then refuses new ones', async () => {
    const { q } = newQueue();
    const done: string[] = [];
    const gate = deferred();
    const workers = q.runWorkers(1, async (key) => {
      if (key === 'a') await gate.promise;
      done.push(key);
    });
    q.add('a');
    q.add('b');
    await flush();
    let drained = false;
    const shutdown = q.shutdown().then(() => (drained = true));
    q.add('c');
    q.addAfter('d', 1);
    await flush();
    expect(drained, 'waits for the in-flight key').to.equal(false);
    gate.resolve();
    await shutdown;
    await workers;
    expect(done).to.deep.equal(['a', 'b']);
    expect(await q.get()).to.equal(undefined);
  });

  it('drops queued keys on a non-draining shutdown but still waits for in-flight ones', async () => {
    const { q } = newQueue();
    const done: string[] = [];
    const gate = deferred();
    const workers = q.runWorkers(1, async (key) => {
      if (key === 'a') await gate.promise;
      done.push(key);
    });
    q.add('a');
    q.add('b');
    await flush();
    const shutdown = q.shutdown({ drain: false });
    gate.resolve();
    await shutdown;
    await workers;
    expect(done).to.deep.equal(['a']);
  });
});

describe('rate limiters', () => {
  it('doubles per-item backoff from 5 ms up to the 1000 s cap, per key', () => {
    const l = new ItemExponentialRateLimiter(5, 1_000_000);
    const delays = Array.from({ length: 20 }, () => l.when('a'));
    expect(delays.slice(0, 4)).to.deep.equal([5, 10, 20, 40]);
    expect(delays.at(-1)).to.equal(1_000_000);
    expect(l.when('b'), 'other keys start fresh').to.equal(5);
    expect(l.numRequeues('a')).to.equal(20);
    l.forget('a');
    expect(l.when('a')).to.equal(5);
  });

  it('token bucket allows a burst, then spaces retries at 1/qps and refills over time', () => {
    const clock = new FakeClock();
    const b = new BucketRateLimiter(10, 3, clock);
    expect([b.when('x'), b.when('y'), b.when('z')]).to.deep.equal([0, 0, 0]);
    expect(b.when('w')).to.be.closeTo(100, 1e-9);
    expect(b.when('v')).to.be.closeTo(200, 1e-9);
  });

  it('the combined limiter takes the larger delay', () => {
    const clock = new FakeClock();
    const l = new MaxOfRateLimiter(new ItemExponentialRateLimiter(5, 1000), new BucketRateLimiter(10, 1, clock));
    expect(l.when('a')).to.equal(5);
    expect(l.when('b')).to.be.closeTo(100, 1e-9);
    expect(l.numRequeues('a')).to.equal(1);
  });
});
