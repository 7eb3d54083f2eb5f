import { expect } from 'chai';
import { PassScheduler } from '../../../src/agent/pass-scheduler.ts';
import { FakeClock } from '../kube/fakes.ts';

describe('pass scheduler (one discovery pass at a time, coalesced requests)', () => {
  it('never runs two passes at once and folds a burst of requests into one follow-up', async () => {
    let running = 0;
    let peak = 0;
    let passes = 0;
    let release: () => void = () => undefined;
    const s = new PassScheduler(async () => {
      running++;
      peak = Math.max(peak, running);
      passes++;
      await new Promise<void>((r) => (release = r));
      running--;
    }, 3_600_000);
    const first = s.request();
    const burst = [s.request(), s.request(), s.request()];
    release();
    await first;
    await new Promise((r) => setImmediate(r));
    release();
    await Promise.all(burst);
    expect(passes).to.equal(2);
    expect(peak).to.equal(1);
    await s.stop();
    await s.request();
    expect(passes).to.equal(2);
  });

  it('gathers requestSoon calls within the delay into one pass, and a later burst into the next (fake clock)', async () => {
    const clock = new FakeClock();
    let passes = 0;
    const s = new PassScheduler(async () => {
      passes++;
    }, 3_600_000, clock);
    for (let i = 0; i < 5; i++) s.requestSoon(500);
    await clock.advance(499);
    expect(passes, 'nothing before the delay').to.equal(0);
    s.requestSoon(500); // joins the armed one
    await clock.advance(1);
    expect(passes).to.equal(1);
    s.requestSoon(500);
    s.requestSoon(500);
    await clock.advance(500);
    expect(passes).to.equal(2);
    s.requestSoon(500);
    await s.stop();
    await clock.advance(1_000);
    expect(passes, 'stop cancels the armed request').to.equal(2);
  });
});
