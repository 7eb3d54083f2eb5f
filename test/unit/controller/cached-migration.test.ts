// The controller's MdevMigration cache keeps no per-node verdict list: finished migrations stay
// cached for as long as they exist, and the controller never reads the list back.
import { expect } from 'chai';
import { cachedMigration } from '../../../src/controller/caches.ts';
import { migration } from './fixtures.ts';

describe('cached MdevMigration (no server)', () => {
  it('drops status.candidates and keeps every other field', () => {
    const m = migration('m1', 'Succeeded');
    const full = { ...m, status: { ...m.status, targetNode: 'w7', verdictTotals: { Compatible: 3 }, candidates: [{ node: 'w7', verdict: 'Compatible' as const, message: 'chosen' }] } };
    const kept = cachedMigration(full);
    expect(kept?.status).to.not.have.property('candidates');
    expect(kept?.status?.targetNode).to.equal('w7');
    expect(kept?.status?.verdictTotals).to.deep.equal({ Compatible: 3 });
    expect(kept?.metadata).to.equal(full.metadata);
    expect(full.status.candidates, 'input not mutated').to.have.length(1);
  });

  it('passes objects without candidates (and malformed ones, undefined) through unchanged', () => {
    const m = migration('m2', 'Probing');
    expect(cachedMigration(m)).to.equal(m);
    expect(cachedMigration(undefined)).to.equal(undefined);
  });
});
