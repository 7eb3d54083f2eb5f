// The API server's own readiness as the controller tracks it (fake clock, scripted /readyz).
import { expect } from 'chai';
import { ApiReadiness } from '../../../src/kube/api-readiness.ts';
import { FakeClock, silentLogger } from './fakes.ts';

describe('ApiReadiness (fake clock, scripted /readyz)', () => {
  it('is ready from the first ok, not ready from the first failure, and ready again (notifying) at the next ok', async () => {
    const clock = new FakeClock();
    let up = true;
    const checks: number[] = [];
    const r = new ApiReadiness({ probe: async () => (checks.push(clock.now()), up), clock, logger: silentLogger });
    const recovered: number[] = [];
    r.onReady(() => recovered.push(clock.now()));
    expect(r.readySince()).to.equal(undefined);
    r.start();
    await clock.advance(0);
    const first = r.readySince();
    expect(first).to.equal(clock.now());
    up = false;
    await clock.advance(1_000);
    expect(r.readySince(), 'etcd gone: /readyz fails').to.equal(undefined);
    up = true;
    const back = clock.now();
    await clock.advance(250);
    expect(r.readySince(), 'while not ready it asks every 250 ms, so the return is seen at once').to.equal(back + 250);
    expect(recovered).to.deep.equal([first, back + 250]);
    await clock.advance(3_000);
    const gaps = checks.slice(1).map((t, i) => t - (checks[i] as number));
    expect(gaps.slice(-3), 'every second while ready').to.deep.equal([1_000, 1_000, 1_000]);
    await r.stop();
  });

  it('counts a probe that throws or hangs past its timeout as not ready', async () => {
    const clock = new FakeClock();
    let mode: 'ok' | 'throw' | 'hang' = 'ok';
    const probe = (signal: AbortSignal) =>
      mode === 'ok' ? Promise.resolve(true) : mode === 'throw' ? Promise.reject(new Error('connect ECONNREFUSED')) : new Promise<boolean>((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))));
    const r = new ApiReadiness({ probe, clock, timeoutMs: 2_000, logger: silentLogger });
    expect(await r.check()).to.equal(true);
    mode = 'throw';
    expect(await r.check()).to.equal(false);
    expect(r.readySince()).to.equal(undefined);
    mode = 'ok';
    expect(await r.check()).to.equal(true);
    mode = 'hang';
    const pending = r.check();
    await clock.advance(2_000);
    expect(await pending).to.equal(false);
    expect(r.readySince()).to.equal(undefined);
  });
});
