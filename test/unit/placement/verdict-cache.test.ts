import { expect } from 'chai';
import { VerdictCache } from '../../../src/placement/index.ts';

describe('placement VerdictCache', () => {
  it('stores verdicts per (type, source, target) and keeps the reason', () => {
    const cache = new VerdictCache();
    cache.set('t', 'a', 'b', { accepted: false, reason: 'EINVAL' });
    cache.set('t', 'a', 'a', { accepted: true });
    expect(cache.get('t', 'a', 'b')).to.deep.equal({ accepted: false, reason: 'EINVAL' });
    expect(cache.get('t', 'a', 'a')).to.deep.equal({ accepted: true });
    expect(cache.get('t', 'b', 'a')).to.equal(undefined);
    expect(cache.get('other-type', 'a', 'a')).to.equal(undefined);
    expect(cache.size).to.equal(2);
  });

  it('invalidateVersion drops every entry naming the string as source or target', () => {
    const cache = new VerdictCache();
    cache.set('t', 'a', 'b', { accepted: true });
    cache.set('t', 'b', 'c', { accepted: true });
    cache.set('t', 'c', 'd', { accepted: true });
    expect(cache.invalidateVersion('b')).to.equal(2);
    expect(cache.size).to.equal(1);
    expect(cache.get('t', 'c', 'd')).to.deep.equal({ accepted: true });
    expect(cache.invalidateVersion('b')).to.equal(0);
    expect(cache.invalidateVersion('zzz')).to.equal(0);
  });

  it('evicts the least recently used entry beyond its bound', () => {
    const cache = new VerdictCache({ maxEntries: 2 });
    cache.set('t', 's', '1', { accepted: true });
    cache.set('t', 's', '2', { accepted: true });
    expect(cache.get('t', 's', '1')).to.not.equal(undefined); // touch 1, so 2 is now the oldest
    cache.set('t', 's', '3', { accepted: false });
    expect(cache.size).to.equal(2);
    expect(cache.get('t', 's', '2')).to.equal(undefined);
    expect(cache.get('t', 's', '1')).to.not.equal(undefined);
    // Evicted entries leave no trace in the invalidation index.
    expect(cache.invalidateVersion('2')).to.equal(0);
    expect(cache.invalidateVersion('s')).to.equal(2);
    expect(cache.size).to.equal(0);
  });

  it('overwrites an entry instead of duplicating it, and rejects a nonsensical bound', () => {
    const cache = new VerdictCache();
    cache.set('t', 'a', 'b', { accepted: true });
    cache.set('t', 'a', 'b', { accepted: false, reason: 'changed' });
    expect(cache.size).to.equal(1);
    expect(cache.get('t', 'a', 'b')).to.deep.equal({ accepted: false, reason: 'changed' });
    expect(() => new VerdictCache({ maxEntries: 0 })).to.throw(/maxEntries must be a positive integer/);
  });
});
