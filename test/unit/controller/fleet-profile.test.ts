import { expect } from 'chai';
import { DEMO_PROFILE, expandProfile, parseProfile, seededUuid } from '../../../dev/sim/fleet/profile.ts';
import { fleetSpecs } from '../../../dev/sim/fleet/fleet.ts';
import { isUuid } from '../../../src/api/validation.ts';

describe('fleet simulator profiles (stand-in nodes)', () => {
  it('cycles the demo profile to --nodes N with stable names and defaults filled in', () => {
    const specs = expandProfile(parseProfile(DEMO_PROFILE), { prefix: 'sim', nodes: 8 });
    expect(specs.map((s) => s.name)).to.deep.equal(['sim-1', 'sim-2', 'sim-3', 'sim-4', 'sim-5', 'sim-6', 'sim-7', 'sim-8']);
    expect(specs[0]?.gpus[0]).to.include({ vendor: 'nvidia', board: 'H100-PCIE-80GB', hostDriver: '550.54.15', devices: 4 });
    expect(specs[6]?.gpus[0]?.hostDriver).to.equal(specs[0]?.gpus[0]?.hostDriver);
    expect(specs[5]?.gpus[0]?.vendor).to.equal('intel-gvt');
  });

  it('uses group counts without --nodes, and refuses a bad profile naming the field', () => {
    const specs = fleetSpecs({ profile: { groups: [{ count: 2, unschedulable: true }, { count: 1, agent: false }] }, prefix: 'x' });
    expect(specs.map((s) => [s.name, s.unschedulable, s.agent])).to.deep.equal([['x-1', true, true], ['x-2', true, true], ['x-3', false, false]]);
    expect(() => parseProfile({ groups: [{ gpus: [{ devices: -1 }] }] })).to.throw(/groups\.0\.gpus\.0\.devices/);
    expect(() => fleetSpecs({ profile: 'nope' })).to.throw(/unknown fleet profile "nope"/);
  });

  it('derives canonical device UUIDs deterministically', () => {
    expect(isUuid(seededUuid('a'))).to.equal(true);
    expect(seededUuid('a')).to.equal(seededUuid('a'));
    expect(seededUuid('a')).to.not.equal(seededUuid('b'));
  });
});
