// Capacity claims (src/controller/claims.ts, ADR 0016) on the REAL local kube-apiserver: the
// compare-and-swap on the MdevNode's resourceVersion is the API server's, so the race below is a
// real one. Nodes, their MdevNodes and MdevDevices are STAND-IN objects written directly (as an
// agent would publish them); no agent or KubeVirt runs.
import { expect } from 'chai';
import { parseFromWire, type MdevDevice, type MdevMigration, type MdevNode } from '../../../src/api/v1alpha1/index.ts';
import { CapacityClaims, sweepClaims, type ClaimOwner } from '../../../src/controller/claims.ts';
import { MDEV_DEVICES, MDEV_MIGRATIONS, MDEV_NODES, NODES } from '../../../src/controller/resources.ts';
import { informerFor, type Informer } from '../../../src/kube/informer.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { resourcePath } from '../../../src/kube/resource.ts';
import { loggerFor } from '../../../src/observability/logger.ts';
import { testKubeConfig, uniqueName } from '../../support/cluster.ts';
import { createNodeWithAgent, deleteQuietly, installCrds, publishDevice, VERSION_550 } from '../webhook/fleet-fixture.ts';
import { createNamespace, deleteNamespace, listClaims, waitFor } from './helpers.ts';

const POOL = 'GRID_H100-4C'; // the fixture's devices are of type name 'GRID H100-4C'
const DEMAND = [{ pool: POOL, typeId: 'nvidia-1012', units: 1 }];
const log = loggerFor('claims-test');

describe('capacity claims on the real API server (stand-in MdevNode and MdevDevices)', function () {
  this.timeout(60_000);
  const kc = testKubeConfig();
  const ns = uniqueName('claims');
  const node = uniqueName('claim-node');
  const devices: string[] = [];
  const informers: Informer<unknown>[] = [];
  let nodes: Informer<MdevNode>;
  let deviceCache: Informer<MdevDevice>;
  const owner = (name: string): ClaimOwner => ({ namespace: ns, name, uid: `uid-${name}-${ns}` });
  const inAnHour = (): number => Date.now() + 3_600_000;

  /** What a fresh process starts with: its own informers over the API server's state. */
  async function caches(): Promise<{ nodes: Informer<MdevNode>; devices: Informer<MdevDevice> }> {
    const n = informerFor<MdevNode>(kc, { resource: MDEV_NODES, name: 'claims-test-nodes', parse: (o) => parseFromWire('MdevNode', o, log), logger: log });
    const d = informerFor<MdevDevice>(kc, { resource: MDEV_DEVICES, name: 'claims-test-devices', parse: (o) => parseFromWire('MdevDevice', o, log), logger: log });
    informers.push(n as Informer<unknown>, d as Informer<unknown>);
    n.start();
    d.start();
    await Promise.all([n.waitForSync(), d.waitForSync()]);
    return { nodes: n, devices: d };
  }

  const claimsOn = (c: { nodes: Informer<MdevNode>; devices: Informer<MdevDevice> }, now?: () => number): CapacityClaims =>
    new CapacityClaims({ kc, mdevNodes: c.nodes, devices: c.devices, log, ...(now ? { now } : {}) });

  /** The claims of `name` the shared MdevNode informer shows (a claimer's own heldBy also sees its own writes at once). */
  const cachedClaims = (name: string): number => (nodes.get(node)?.status?.claims ?? []).filter((c) => c.migration.uid === owner(name).uid).length;

  const claimNames = async (): Promise<string[]> => (await listClaims(kc)).filter((c) => c.node === node).map((c) => c.migration.name).sort();

  before(async () => {
    await installCrds(kc);
    await createNamespace(kc, ns);
    await createNodeWithAgent(kc, node, ns);
    for (let i = 0; i < 2; i++) devices.push(await publishDevice(kc, { node, version: VERSION_550, parent: `0000:41:00.${4 + i}` }));
    ({ nodes, devices: deviceCache } = await caches());
    await waitFor('both devices in the cache', async () => (deviceCache.list().filter((d) => d.spec.nodeName === node).length === 2 ? true : undefined));
  });

  after(async () => {
    for (const i of informers) await i.stop();
    for (const d of devices) await deleteQuietly(kc, resourcePath(MDEV_DEVICES, { name: d }));
    await deleteQuietly(kc, resourcePath(MDEV_NODES, { name: node }));
    await deleteQuietly(kc, resourcePath(NODES, { name: node }));
    await deleteNamespace(kc, ns);
  });

  it('of two migrations racing for the last free unit, exactly one wins, round after round', async () => {
    const first = claimsOn({ nodes, devices: deviceCache });
    expect(await first.claim(owner('holder'), node, DEMAND, inAnHour())).to.deep.equal({ ok: true });
    await waitFor('the holder claim in the cache', async () => (cachedClaims('holder') === 1 ? true : undefined));
    for (let round = 0; round < 5; round++) {
      // Two controllers' worth of claimers reading the same cached MdevNode (same resourceVersion).
      const [a, b] = [claimsOn({ nodes, devices: deviceCache }), claimsOn({ nodes, devices: deviceCache })];
      const [ra, rb] = await Promise.all([a.claim(owner(`a${round}`), node, DEMAND, inAnHour()), b.claim(owner(`b${round}`), node, DEMAND, inAnHour())]);
      expect([ra.ok, rb.ok].filter(Boolean), `round ${round}: ${JSON.stringify([ra, rb])}`).to.have.length(1);
      const loser = ra.ok ? rb : ra;
      expect(loser.ok === false && loser.reason).to.match(/has 0 unclaimed units for 1 wanted \(2 free, 2 claimed by other migrations\)/);
      const winner = ra.ok ? `a${round}` : `b${round}`;
      expect(await claimNames()).to.deep.equal(['holder', winner].sort());
      // The loss names the MdevNode version that showed it (the winner's write): the loser's next
      // decision waits until its cache has that version instead of picking this node again.
      const stored = (await kubeRequest(kc, { method: 'GET', path: resourcePath(MDEV_NODES, { name: node }) })) as MdevNode;
      expect(loser.ok === false && loser.seenVersion, `round ${round}`).to.equal(stored.metadata.resourceVersion);
      expect(await first.release(owner(winner).uid, node)).to.equal(true);
      await waitFor('the release in the cache', async () => (cachedClaims(winner) === 0 ? true : undefined));
    }
    expect(await claimNames()).to.deep.equal(['holder']);
  });

  it('claims live in the API server: a restarted controller (fresh caches) still counts them', async () => {
    const restarted = claimsOn(await caches());
    expect(restarted.heldBy(owner('holder').uid)).to.deep.equal([{ nodeName: node, pool: POOL, units: 1 }]);
    const two = await restarted.claim(owner('greedy'), node, [{ pool: POOL, typeId: 'nvidia-1012', units: 2 }], inAnHour());
    expect(two).to.deep.include({ ok: false, pool: POOL });
    expect(await claimNames()).to.deep.equal(['holder']);
  });

  it('a claim its migration stopped renewing binds nothing past its expiry (claimer on a fake clock)', async () => {
    const soon = Date.now() + 60_000;
    const c = claimsOn({ nodes, devices: deviceCache });
    expect(await c.claim(owner('dying'), node, DEMAND, soon)).to.deep.equal({ ok: true });
    await waitFor('the dying claim in the cache', async () => (cachedClaims('dying') === 1 ? true : undefined));
    // Both units claimed now: a third loses...
    expect((await c.claim(owner('late'), node, DEMAND, inAnHour())).ok).to.equal(false);
    // ...but a claimer whose clock is past the expiry finds the unit free, and its write drops the lapsed claim.
    const later = claimsOn({ nodes, devices: deviceCache }, () => soon + 1);
    expect(await later.claim(owner('late'), node, DEMAND, soon + 3_600_000)).to.deep.equal({ ok: true });
    expect(await claimNames()).to.deep.equal(['holder', 'late']);
  });

  it('the sweeper releases the claims of a migration that does not exist', async () => {
    const migrations = informerFor<MdevMigration>(kc, { resource: MDEV_MIGRATIONS, name: 'claims-test-migrations', parse: (o) => parseFromWire('MdevMigration', o, log), logger: log });
    informers.push(migrations as Informer<unknown>);
    migrations.start();
    await migrations.waitForSync();
    const claims = claimsOn({ nodes, devices: deviceCache });
    await waitFor('the claims in the cache', async () => ((nodes.get(node)?.status?.claims ?? []).length === 2 ? true : undefined));
    // At least these two (other files' leftovers on the shared API server may go in the same sweep).
    expect(await sweepClaims({ claims, mdevNodes: nodes, migrations, log })).to.be.at.least(2);
    expect(await claimNames()).to.deep.equal([]);
  });
});
