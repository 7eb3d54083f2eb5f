// firstExplanations: the prefix a status shows, built without the rest where the decision allows,
// must be exactly the prefix of the full explanation list, on any fleet (grouped decisions on one
// pool, decisions on several pools or with spare capacity, nodes listed out of name order).

import { expect } from 'chai';
import fc from 'fast-check';
import { firstExplanations, indexFleet, place, VerdictCache } from '../../../src/placement/index.ts';
import type { Capacity, Claim, Device, Fleet, NodeInfo } from '../../../src/placement/index.ts';
import { ScreenedFilter } from '../../../src/placement/screened.ts';
import { MIGRATION_UID, VM_UID, node, request, ruleProber, vm } from './fixtures.ts';

const TYPES = ['A', 'B'] as const;
const VERSIONS = ['v1', 'v2', 'v3'] as const;

const nodeArb = fc.record({
  state: fc.constantFrom('ok', 'ok', 'ok', 'ok', 'stale', 'cordoned', 'tainted'),
  devices: fc.array(fc.record({ type: fc.constantFrom(...TYPES), version: fc.constantFrom(...VERSIONS), state: fc.constantFrom('free', 'free', 'free', 'used', 'unmigratable') }), { maxLength: 6 }),
  claimed: fc.integer({ min: 0, max: 2 }),
  spare: fc.option(fc.constantFrom(...VERSIONS), { freq: 6 }),
});

const worldArb = fc.record({
  nodes: fc.array(nodeArb, { minLength: 1, maxLength: 40 }),
  sources: fc.array(fc.record({ type: fc.constantFrom(...TYPES), version: fc.constantFrom(...VERSIONS) }), { minLength: 1, maxLength: 3 }),
  accepts: fc.array(fc.boolean(), { minLength: 18, maxLength: 18 }),
  // Without spare capacity a one-pool VMI takes the grouped path (screened.ts).
  spare: fc.boolean(),
  reversed: fc.boolean(),
});

type WorldSpec = typeof worldArb extends fc.Arbitrary<infer T> ? T : never;

function fleetOf(w: WorldSpec): Fleet {
  const nodes: NodeInfo[] = [node('n000')];
  const devices: Device[] = w.sources.map((s, i) => ({ name: `n000.src${i}`, nodeName: 'n000', typeId: s.type, pool: s.type, parentAddress: 'p0', version: s.version, migratable: true, consumerUid: VM_UID }));
  const capacity: Capacity[] = [];
  const claims: Claim[] = [];
  w.nodes.forEach((n, i) => {
    const name = `n${String(i + 1).padStart(3, '0')}`;
    nodes.push(node(name, { agentFresh: n.state !== 'stale', unschedulable: n.state === 'cordoned', taints: n.state === 'tainted' ? [{ key: 'gpu', effect: 'NoSchedule' }] : [] }));
    n.devices.forEach((d, j) => {
      const dev: Device = { name: `${name}.d${j}`, nodeName: name, typeId: d.type, pool: d.type, parentAddress: 'p0', migratable: d.state !== 'unmigratable' };
      if (d.state !== 'unmigratable') dev.version = d.version;
      if (d.state === 'used') dev.consumerUid = 'someone-else';
      devices.push(dev);
    });
    if (n.claimed > 0) claims.push({ nodeName: name, pool: 'A', migrationUid: 'other', units: n.claimed });
    if (w.spare && n.spare) capacity.push({ nodeName: name, parentAddress: 'p1', typeId: 'A', pool: 'A', availableInstances: 2, version: n.spare });
  });
  const fleet = indexFleet(nodes, devices, capacity, claims);
  if (w.reversed) fleet.nodes = [...fleet.nodes].reverse();
  return fleet;
}

describe('placement firstExplanations', () => {
  it('is the prefix of the full explanation list for every limit, read before or without the full list', async () => {
    let grouped = 0;
    await fc.assert(
      fc.asyncProperty(worldArb, async (w) => {
        const fleet = fleetOf(w);
        const rule = (t: string, s: string, v: string) => w.accepts[(TYPES.indexOf(t as 'A') * 3 + VERSIONS.indexOf(s as 'v1')) * 3 + VERSIONS.indexOf(v as 'v1')] === true;
        const outcome = await place({ vm: vm('n000'), fleet, request: request({ migrationUid: MIGRATION_UID }) }, new VerdictCache(), ruleProber(rule));
        if (!outcome.ok) throw new Error(outcome.reason);
        if (outcome.filter instanceof ScreenedFilter && !w.reversed) grouped++;
        const limits = [0, 1, 2, 5, 20, fleet.nodes.length + 1];
        const firsts = limits.map((limit) => firstExplanations(outcome.decision, limit));
        limits.forEach((limit, i) => expect(firsts[i], `limit ${limit}`).to.deep.equal(outcome.decision.explanations.slice(0, limit)));
      }),
      { numRuns: 300 },
    );
    // One pool (about 58 %), no spare capacity (1/2), nodes in name order (1/2): about 43 of 300
    // worlds take the early-stopping walk (binomial sd about 6); the floor sits almost 4 sd below.
    expect(grouped, 'grouped decisions on a half in name order').to.be.at.least(20);
  });
});
