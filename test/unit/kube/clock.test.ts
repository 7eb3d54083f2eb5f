// clockTimeout: the per-attempt deadline of leader election, readiness checks and lease renewals,
// driven by a fake clock.
import { expect } from 'chai';
import { clockTimeout } from '../../../src/kube/clock.ts';
import { FakeClock } from './fakes.ts';

describe('kube clock: clockTimeout', () => {
  it('aborts with its reason once the clock reaches the deadline, not before', async () => {
    const clock = new FakeClock();
    const reason = new Error('took too long');
    const t = clockTimeout(clock, 2_000, reason);
    await clock.advance(1_999);
    expect(t.signal.aborted).to.equal(false);
    await clock.advance(1);
    expect(t.signal.aborted).to.equal(true);
    expect(t.signal.reason).to.equal(reason);
  });

  it('never aborts once cancelled', async () => {
    const clock = new FakeClock();
    const t = clockTimeout(clock, 2_000);
    t.cancel();
    await clock.advance(10_000);
    expect(t.signal.aborted).to.equal(false);
  });
});
