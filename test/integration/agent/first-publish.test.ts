// The agent's first pass as a pipeline, against the real API server: devices are published as their
// versions are read, while the driver still reads the rest, and a read that fails part way deletes
// nothing and leaves the MdevNode alone (the rest of the inventory is unknown). The driver is the
// simulated one (a stand-in for a vendor driver) behind a wrapper that holds or fails one read.
import { expect } from 'chai';
import { Registry } from 'prom-client';
import { startAgent, type AgentHandle } from '../../../src/agent/agent.ts';
import { isDevice, type CompatBackend, type CompatSubject, type TestVerdict, type VersionRead } from '../../../src/compat/backend.ts';
import { SysfsBackend } from '../../../src/compat/sysfs-backend.ts';
import { isNotFound } from '../../../src/kube/errors.ts';
import type { KubeConfig } from '../../../src/kube/kubeconfig.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { FakeSysfs } from '../../../dev/fakes/sysfs/fake-sysfs.ts';
import { testKubeConfig, uniqueName } from '../../support/cluster.ts';
import { agentConfig, applyCrds, createNode, ensureNamespace, eventually, getNodeObject, nodeDevices, threeVendorTree, type ThreeVendorTree } from './fixtures.ts';

/** The simulated driver with its device reads recorded in order; one read can be held or made to throw. */
class ObservedDriver implements CompatBackend {
  readonly name = 'simulated' as const;
  readonly reads: string[] = [];
  hold: { index: number; until: Promise<void> } | undefined;
  failAt: number | undefined;
  readonly #inner: CompatBackend;

  constructor(inner: CompatBackend) {
    this.#inner = inner;
  }

  async readVersion(subject: CompatSubject): Promise<VersionRead> {
    if (!isDevice(subject)) return this.#inner.readVersion(subject);
    const index = this.reads.push(subject.id) - 1;
    if (index === this.failAt) throw new Error(`stand-in driver: reading the version of ${subject.id} failed`);
    if (this.hold?.index === index) await this.hold.until;
    return this.#inner.readVersion(subject);
  }

  test(target: CompatSubject, sourceVersion: string): Promise<TestVerdict> {
    return this.#inner.test(target, sourceVersion);
  }
}

describe('agent first publish as a pipeline on the real API server (simulated driver stand-in)', function () {
  this.timeout(60_000);
  let kc: KubeConfig;
  let namespace: string;
  let node: string;
  let fixture: ThreeVendorTree;
  let agent: AgentHandle | undefined;

  before(async () => {
    kc = testKubeConfig();
    await applyCrds();
    namespace = uniqueName('agent-pipe-ns');
    await ensureNamespace(namespace);
  });

  beforeEach(async () => {
    node = uniqueName('pipe');
    await createNode(kc, node);
    fixture = threeVendorTree();
  });

  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
    await kubeRequest(kc, { method: 'DELETE', path: `/api/v1/nodes/${node}` }).catch(() => undefined);
    fixture.tree.dispose();
  });

  const start = (driver: CompatBackend, io: FakeSysfs) =>
    startAgent(agentConfig(node, namespace, { sysfsRoot: fixture.tree.root }), { kc, io, backend: driver, registry: new Registry(), serveHttp: false });

  const mdevNodeExists = async () => getNodeObject(kc, node).then(() => true, (err: unknown) => {
    if (isNotFound(err)) return false;
    throw err;
  });

  it('publishes the first device, version included, while the driver still holds the read of the second', async () => {
    const io = new FakeSysfs(fixture.tree);
    const driver = new ObservedDriver(new SysfsBackend(io, 'simulated'));
    let release = (): void => undefined;
    driver.hold = { index: 1, until: new Promise<void>((r) => (release = r)) };
    const starting = start(driver, io);
    try {
      const first = await eventually('the first device read to be published with its status', async () => {
        const id = driver.reads[0];
        return (await nodeDevices(kc, node)).find((d) => d.spec.id === id && d.status?.migratable !== undefined);
      });
      expect(driver.reads, 'no device after the held one has been read yet').to.have.length(2);
      expect(first.status?.migratable).to.equal(true);
      expect(first.status?.migrationVersion).to.be.a('string').and.not.equal('');
      expect(await mdevNodeExists(), 'the MdevNode waits for every reading').to.equal(false);
    } finally {
      release();
    }
    agent = await starting;
    const all = [...fixture.nvidia, ...fixture.gvt, ...fixture.mtty];
    expect((await nodeDevices(kc, node)).map((d) => d.spec.id).sort()).to.deep.equal([...all].sort());
    expect(await mdevNodeExists()).to.equal(true);
  });

  it('deletes nothing and leaves the MdevNode alone when a driver read fails part way through the first pass', async () => {
    const io = new FakeSysfs(fixture.tree);
    agent = await start(new SysfsBackend(io, 'simulated'), io);
    await agent.stop();
    agent = undefined;
    const nodeRv = (await getNodeObject(kc, node)).metadata.resourceVersion;
    const gone = fixture.gvt[0] as string;
    fixture.tree.removeMdev(gone);
    const failing = new ObservedDriver(new SysfsBackend(io, 'simulated'));
    failing.failAt = 1;
    let failure: unknown;
    await start(failing, io).then((a) => (agent = a), (err: unknown) => (failure = err));
    expect(String(failure)).to.match(/First discovery pass failed: stand-in driver: reading the version of \S+ failed/);
    expect((await nodeDevices(kc, node)).map((d) => d.spec.id), 'the vanished device is not deleted on a partial inventory').to.include(gone);
    expect((await getNodeObject(kc, node)).metadata.resourceVersion).to.equal(nodeRv);
  });
});
