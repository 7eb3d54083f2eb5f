import { expect } from 'chai';
import { PassScheduler } from '../../../src/agent/pass-scheduler.ts';

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
});
