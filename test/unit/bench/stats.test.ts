import { expect } from 'chai';
import { collectGarbage, heapUsedMiB, measure, percentile, rssMiB, summarize } from '../../../bench/stats.ts';

describe('bench stats', () => {
  const oneToHundred = Array.from({ length: 100 }, (_, i) => i + 1);

  it('percentile is nearest-rank: a measured sample, never an interpolation', () => {
    expect(percentile(oneToHundred, 0.5)).to.equal(50);
    expect(percentile(oneToHundred, 0.99)).to.equal(99);
    expect(percentile(oneToHundred, 1)).to.equal(100);
    expect(percentile([10, 20, 30, 40], 0.5)).to.equal(20);
    expect(percentile([10, 20, 30, 40], 0.99)).to.equal(40);
    expect(percentile([7], 0.99)).to.equal(7);
    expect(percentile(oneToHundred, 0.001)).to.equal(1);
  });

  it('percentile refuses no samples and q outside (0, 1]', () => {
    expect(() => percentile([], 0.5)).to.throw(RangeError, /no samples/);
    expect(() => percentile([1], 0)).to.throw(RangeError, /q must be/);
    expect(() => percentile([1], 1.5)).to.throw(RangeError, /q must be/);
  });

  it('summarize sorts its own copy and reports median, p99, mean, min and max', () => {
    const shuffled = [...oneToHundred].reverse();
    const s = summarize(shuffled);
    expect(s).to.deep.equal({ n: 100, median: 50, p99: 99, mean: 50.5, min: 1, max: 100 });
    expect(shuffled[0]).to.equal(100);
    const odd = summarize([5, 1, 3]);
    expect(odd.median).to.equal(3);
    expect(odd.p99).to.equal(5);
    expect(() => summarize([])).to.throw(RangeError);
  });

  it('measure runs warmup untimed, then exactly `iterations` timed calls with their index', async () => {
    const seen: number[] = [];
    const m = await measure((i) => seen.push(i), { warmup: 2, iterations: 5 });
    expect(seen).to.deep.equal([0, 1, 2, 3, 4, 5, 6]);
    expect(m.n).to.equal(5);
    expect(m.samples).to.have.length(5);
    expect(m.samples.every((x) => x >= 0)).to.equal(true);
    expect(m.min).to.be.at.most(m.median);
    expect(m.median).to.be.at.most(m.p99);
    expect(m.p99).to.be.at.most(m.max);
    await measure(() => undefined, { warmup: 0, iterations: 0 }).then(
      () => expect.fail('zero iterations must be refused'),
      (err: Error) => expect(err.message).to.match(/iterations >= 1/),
    );
  });

  it('measure awaits async work inside the timed region', async () => {
    const m = await measure(() => new Promise((r) => setImmediate(r)), { warmup: 0, iterations: 3 });
    expect(m.n).to.equal(3);
  });

  it('reports process memory in MiB', () => {
    expect(rssMiB()).to.be.greaterThan(1);
    expect(heapUsedMiB()).to.be.greaterThan(0).and.lessThan(rssMiB());
  });

  it('forces a collection only where node exposes gc, and names the flag otherwise', () => {
    const exposed = typeof (globalThis as { gc?: unknown }).gc === 'function';
    if (exposed) expect(() => collectGarbage()).not.to.throw();
    else expect(() => collectGarbage()).to.throw(/--expose-gc/);
  });
});
