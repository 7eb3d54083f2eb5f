import { expect } from 'chai';
import { namesOwner, ownerFromReader, withOwnerReference } from '../../../src/kube/release-owner.ts';
import { capturingLogger, FakeClock } from './fakes.ts';

const OWNER = { apiVersion: 'v1', kind: 'ConfigMap', name: 'rel-mdev-operator-owner', namespace: 'ops' };
const notFound = () => Object.assign(new Error('404 NotFound'), { code: 404, body: JSON.stringify({ code: 404, reason: 'NotFound', message: 'configmaps "rel-mdev-operator-owner" not found' }) });
const forbidden = () => Object.assign(new Error('403 Forbidden'), { code: 403, body: JSON.stringify({ code: 403, reason: 'Forbidden' }) });

describe('release owner (owner reference of the run-time Leases and Secret)', () => {
  it('recognises its reference by apiVersion, kind and name, whatever the uid', () => {
    expect(namesOwner([{ apiVersion: 'v1', kind: 'ConfigMap', name: OWNER.name, uid: 'stale' }], OWNER)).to.equal(true);
    expect(namesOwner([{ apiVersion: 'v1', kind: 'ConfigMap', name: 'other', uid: 'u' }], OWNER)).to.equal(false);
    expect(namesOwner([{ apiVersion: 'apps/v1', kind: 'Deployment', name: OWNER.name, uid: 'u' }], OWNER)).to.equal(false);
    expect(namesOwner(undefined, OWNER)).to.equal(false);
  });

  it('adds its reference next to others, replacing an older one to the same ConfigMap', () => {
    const other = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'x', uid: 'd1', controller: true };
    const fresh = { apiVersion: 'v1', kind: 'ConfigMap', name: OWNER.name, uid: 'new' };
    expect(withOwnerReference([other, { ...fresh, uid: 'old' }], fresh)).to.deep.equal([other, fresh]);
    expect(withOwnerReference(undefined, fresh)).to.deep.equal([fresh]);
  });

  it('returns the reference with the uid read', async () => {
    const owner = ownerFromReader(OWNER, async () => 'uid-1', { clock: new FakeClock() });
    expect(await owner.reference()).to.deep.equal({ apiVersion: 'v1', kind: 'ConfigMap', name: OWNER.name, uid: 'uid-1' });
  });

  it('after a failed read: no reference and no read for retryAfterMs, one warning per kind of failure, then reads again', async () => {
    const clock = new FakeClock();
    const { log, lines } = capturingLogger();
    const outcomes: Array<() => Promise<string>> = [() => Promise.reject(notFound()), () => Promise.reject(notFound()), () => Promise.reject(forbidden()), async () => 'uid-2'];
    let reads = 0;
    const owner = ownerFromReader(OWNER, () => (outcomes[reads++] as () => Promise<string>)(), { clock, logger: log, retryAfterMs: 60_000 });

    expect(await owner.reference()).to.equal(undefined);
    expect(reads).to.equal(1);
    expect(await owner.reference(), 'within the pause').to.equal(undefined);
    expect(reads, 'no read within the pause').to.equal(1);
    const warnings = () => lines.map((l) => JSON.parse(l) as { level: string; message: string; hint?: string }).filter((l) => l.level === 'warn');
    expect(warnings()).to.have.length(1);
    expect(warnings()[0]?.message).to.contain(`Cannot read ConfigMap ops/${OWNER.name}`);
    expect(warnings()[0]?.hint).to.contain('--owner-configmap');

    await clock.advance(60_000);
    expect(await owner.reference()).to.equal(undefined);
    expect(reads).to.equal(2);
    expect(warnings(), 'the same failure again is not repeated as a warning').to.have.length(1);

    await clock.advance(60_000);
    expect(await owner.reference()).to.equal(undefined);
    expect(warnings().map((w) => w.hint)[1], 'a new kind of failure is').to.contain('grant get on configmaps named');

    await clock.advance(60_000);
    expect(await owner.reference()).to.deep.include({ uid: 'uid-2' });
    expect(lines.some((l) => l.includes('readable again'))).to.equal(true);
  });

  it("does not pause after a read the caller aborted (the caller's deadline, not the owner's)", async () => {
    const clock = new FakeClock();
    const abort = new AbortController();
    abort.abort();
    let reads = 0;
    const owner = ownerFromReader(OWNER, async (signal) => {
      reads++;
      if (signal?.aborted) throw new Error('aborted');
      return 'uid-3';
    }, { clock, logger: capturingLogger().log });
    expect(await owner.reference(abort.signal)).to.equal(undefined);
    expect(await owner.reference()).to.deep.include({ uid: 'uid-3' });
    expect(reads).to.equal(2);
  });
});
