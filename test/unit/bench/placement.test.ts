import { expect } from 'chai';
import { driverProber, exhaustiveDecision, profiles, syntheticFleet } from '../../../bench/placement.ts';
import { indexFleet, place, VerdictCache } from '../../../src/placement/index.ts';

describe('bench placement suite (fleet generator and baseline)', () => {
  it('generates the same fleet from the same seed, with 8 devices per node and 20 version strings', () => {
    const a = syntheticFleet({ nodes: 200, devicesPerNode: 8, seed: 7 });
    const b = syntheticFleet({ nodes: 200, devicesPerNode: 8, seed: 7 });
    expect(a.devices).to.deep.equal(b.devices);
    expect(a.nodes).to.deep.equal(b.nodes);
    expect(a.vms).to.deep.equal(b.vms);
    expect(a.devices).to.have.length(1600);
    expect(a.distinctVersions).to.equal(20);
    expect(profiles()).to.have.length(20);
    expect(syntheticFleet({ nodes: 200, devicesPerNode: 8, seed: 8 }).devices).to.not.deep.equal(a.devices);
    for (const vm of a.vms) expect(a.devices.some((d) => d.consumerUid === vm.uid && d.nodeName === vm.nodeName)).to.equal(true);
  });

  it('the exhaustive baseline probes every free candidate device and chooses the node ours chooses', async () => {
    const fleet = syntheticFleet({ nodes: 60, devicesPerNode: 8, seed: 3 });
    const index = indexFleet(fleet.nodes, fleet.devices);
    const request = { migrationUid: 'm', allowCreateTarget: false };
    let compared = 0;
    for (const vm of fleet.vms.slice(0, 15)) {
      const input = { vm, fleet: index, request };
      const ours = await place(input, new VerdictCache(), driverProber(fleet));
      const theirs = exhaustiveDecision(input, fleet);
      if (!ours.ok) continue;
      compared++;
      const free = ours.filter.candidates.reduce((n, c) => n + c.pools.reduce((m, p) => m + p.targets.length, 0), 0);
      expect(theirs.probes).to.equal(free);
      expect(theirs.chosen).to.equal(ours.decision.chosen?.node);
      expect(ours.probes).to.be.at.most(ours.plan.classes.length + 1);
    }
    expect(compared).to.be.greaterThan(10);
  });
});
