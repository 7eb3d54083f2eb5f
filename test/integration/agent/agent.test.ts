// The agent against the real API server: publishing a simulated node's devices, removing vanished
// ones, restarting without rewrites, and answering probes. The tree is a fake sysfs (stand-in for
// vendor drivers); the API server, CRDs, SSA and garbage collection are real.
import { expect } from 'chai';
import type { KubeConfig } from '../../../src/kube/kubeconfig.ts';
import type { AgentHandle } from '../../../src/agent/agent.ts';
import { deviceObjectName, LABEL_NODE, LABEL_TYPE, LABEL_VERSION_HASH, probeObjectName, versionHash } from '../../../src/api/v1alpha1/index.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import type { FakeTree } from '../../../dev/fakes/sysfs/fake-tree.ts';
import { testKubeConfig, uniqueName } from '../../support/cluster.ts';
import {
  agentConfig,
  applyCrds,
  createNode,
  createProbe,
  ensureNamespace,
  eventually,
  getNodeObject,
  getProbe,
  GVT_TYPE,
  MTTY_TYPE,
  NVIDIA_PARENT,
  NVIDIA_TYPE,
  NVIDIA_VERSION,
  nodeDevices,
  startTestAgent,
  threeVendorTree,
  type ThreeVendorTree,
} from './fixtures.ts';

describe('agent on the real API server (fake sysfs tree as a stand-in for vendor drivers)', function () {
  this.timeout(60_000);
  let kc: KubeConfig;
  let fixture: ThreeVendorTree;
  let tree: FakeTree;
  let node: string;
  let nodeUid: string;
  let namespace: string;
  let agent: AgentHandle | undefined;

  before(async () => {
    kc = testKubeConfig();
    await applyCrds();
    namespace = uniqueName('agent-ns');
    await ensureNamespace(namespace);
    node = uniqueName('worker');
    nodeUid = await createNode(kc, node);
    fixture = threeVendorTree();
    tree = fixture.tree;
    agent = (await startTestAgent(kc, tree, agentConfig(node, namespace))).agent;
  });

  after(async () => {
    await agent?.stop();
    await kubeRequest(kc, { method: 'DELETE', path: `/api/v1/nodes/${node}` }).catch(() => undefined);
    tree?.dispose();
  });

  it('publishes one MdevDevice per device of three vendors, with fields, labels and the Node owner', async () => {
    const devices = await nodeDevices(kc, node);
    const all = [...fixture.nvidia, ...fixture.gvt, ...fixture.mtty];
    expect(devices.map((d) => d.spec.id).sort()).to.deep.equal([...all].sort());
    const gpu = devices.find((d) => d.spec.id === fixture.nvidia[0]);
    expect(gpu?.metadata.name).to.equal(deviceObjectName(node, fixture.nvidia[0] as string));
    expect(gpu?.spec).to.deep.include({ nodeName: node, kind: 'mdev' });
    expect(gpu?.spec.type).to.deep.equal({ id: NVIDIA_TYPE, name: 'GRID H100-4C', deviceApi: 'vfio-pci' });
    expect(gpu?.spec.parent).to.deep.equal({ address: NVIDIA_PARENT, vendorId: '10de', deviceId: '2331', driver: 'nvidia' });
    expect(gpu?.status).to.deep.include({ migrationVersion: NVIDIA_VERSION, migratable: true, backend: 'simulated' });
    expect(gpu?.metadata.labels).to.deep.include({
      [LABEL_NODE]: node,
      [LABEL_TYPE]: NVIDIA_TYPE,
      [LABEL_VERSION_HASH]: versionHash(NVIDIA_VERSION),
    });
    expect(gpu?.metadata.ownerReferences).to.deep.equal([{ apiVersion: 'v1', kind: 'Node', name: node, uid: nodeUid }]);
    const gvt = devices.find((d) => d.spec.id === fixture.gvt[0]);
    expect(gvt?.status?.migrationVersion).to.equal('8086-591d-GVTg_V5_4-00000001');
    expect(gvt?.metadata.labels?.[LABEL_TYPE]).to.equal(GVT_TYPE);
    const mtty = devices.find((d) => d.spec.id === fixture.mtty[0]);
    expect(mtty?.spec.parent).to.deep.equal({ address: 'mtty' });
    expect(mtty?.spec.type.id).to.equal(MTTY_TYPE);
  });

  it('publishes the MdevNode with spare capacity and type-level versions per parent and type', async () => {
    const obj = await getNodeObject(kc, node);
    expect(obj.spec.nodeName).to.equal(node);
    expect(obj.metadata.ownerReferences?.[0]?.uid).to.equal(nodeUid);
    const gpu = obj.spec.capacity?.find((c) => c.type.id === NVIDIA_TYPE);
    expect(gpu).to.deep.include({ availableInstances: 2, migrationVersion: NVIDIA_VERSION, migratable: true });
    expect(obj.spec.capacity?.map((c) => c.type.id).sort()).to.deep.equal([GVT_TYPE, MTTY_TYPE, NVIDIA_TYPE].sort());
  });

  it('makes no MdevDevice writes on a pass where nothing changed', async () => {
    const before = await agent!.metrics.writeCount('MdevDevice');
    await agent!.rediscover();
    await agent!.rediscover();
    expect(await agent!.metrics.writeCount('MdevDevice')).to.equal(before);
  });

  it('deletes the MdevDevice of a device removed from the tree, and updates capacity', async () => {
    const gone = fixture.nvidia[1] as string;
    tree.removeMdev(gone);
    await agent!.rediscover();
    const names = (await nodeDevices(kc, node)).map((d) => d.metadata.name);
    expect(names).to.not.include(deviceObjectName(node, gone));
    expect(names).to.have.length(3);
    const gpu = (await getNodeObject(kc, node)).spec.capacity?.find((c) => c.type.id === NVIDIA_TYPE);
    expect(gpu?.availableInstances).to.equal(3);
  });

  it('rewrites nothing after a restart with the same devices (resourceVersions unchanged, zero writes)', async () => {
    const rvs = async () => Object.fromEntries((await nodeDevices(kc, node)).map((d) => [d.metadata.name, d.metadata.resourceVersion]));
    const before = await rvs();
    const nodeRv = (await getNodeObject(kc, node)).metadata.resourceVersion;
    await agent!.stop();
    agent = undefined;
    agent = (await startTestAgent(kc, tree, agentConfig(node, namespace))).agent;
    await agent.rediscover();
    expect(await agent.metrics.writeCount('MdevDevice')).to.equal(0);
    expect(await agent.metrics.writeCount('MdevNode')).to.equal(0);
    expect(await rvs()).to.deep.equal(before);
    expect((await getNodeObject(kc, node)).metadata.resourceVersion).to.equal(nodeRv);
  });

  it('deletes leftovers from before a restart and recreates an object deleted behind its back', async () => {
    const leftover = fixture.gvt[0] as string;
    await agent!.stop();
    agent = undefined;
    tree.removeMdev(leftover);
    agent = (await startTestAgent(kc, tree, agentConfig(node, namespace))).agent;
    expect((await nodeDevices(kc, node)).map((d) => d.spec.id)).to.not.include(leftover);
    const victim = deviceObjectName(node, fixture.mtty[0] as string);
    await kubeRequest(kc, { method: 'DELETE', path: `/apis/mdev-operator.io/v1alpha1/mdevdevices/${victim}` });
    await eventually('the agent to see the deletion and republish', async () => {
      await agent!.rediscover();
      return (await nodeDevices(kc, node)).some((d) => d.metadata.name === victim) || undefined;
    });
  });

  it('keeps the controller\'s status.reservation when it republishes a changed device', async () => {
    const name = deviceObjectName(node, fixture.nvidia[0] as string);
    const reservation = {
      migration: { namespace, name: 'mig-a', uid: 'uid-mig-a' },
      targetNode: node,
      reservedAt: '2026-01-01T00:00:00Z',
      expiresAt: '2026-01-01T00:15:00Z',
    };
    await kubeRequest(kc, {
      method: 'PATCH',
      path: `/apis/mdev-operator.io/v1alpha1/mdevdevices/${name}/status`,
      query: { fieldManager: 'mdev-operator-controller' },
      body: { status: { reservation } },
      contentType: 'application/merge-patch+json',
    });
    const writes = await agent!.metrics.writeCount('MdevDevice');
    await agent!.rediscover();
    expect(await agent!.metrics.writeCount('MdevDevice'), 'a reservation alone is not a change').to.equal(writes);
    // Make the device change (its version string moves to a new host driver) and republish.
    tree.removeMdev(fixture.nvidia[0] as string);
    tree.addMdev(fixture.nvidia[0] as string, NVIDIA_PARENT, NVIDIA_TYPE, [], { migrationVersion: 'nv1;board=H100-PCIE-80GB;type=nvidia-1012;host=550.90.07;vgpu=0x12' });
    await agent!.rediscover();
    const device = (await nodeDevices(kc, node)).find((d) => d.metadata.name === name);
    expect(device?.status?.migrationVersion).to.include('host=550.90.07');
    expect(device?.status?.reservation).to.deep.equal(reservation);
  });

  it('answers a probe with an accepted and a rejected source, with reasons and errno', async () => {
    const target = deviceObjectName(node, fixture.nvidia[0] as string);
    const probe = (source: string) => ({
      apiVersion: 'mdev-operator.io/v1alpha1',
      kind: 'MdevProbe',
      metadata: { name: probeObjectName(node, NVIDIA_TYPE, source), labels: { [LABEL_NODE]: node } },
      spec: { nodeName: node, typeId: NVIDIA_TYPE, sourceVersion: source, devices: [target, `${node}.not-mine`] },
    });
    const good = await createProbe(kc, probe('nv1;board=H100-PCIE-80GB;type=nvidia-1012;host=550.54.15;vgpu=0x12'));
    const bad = await createProbe(kc, probe('nv1;board=H100-NVL-94GB;type=nvidia-1012;host=550.54.15;vgpu=0x12'));
    const answered = (name: string) => eventually(`probe ${name} answered`, async () => {
      const p = await getProbe(kc, name);
      return p.status?.observedGeneration === p.metadata.generation ? p : undefined;
    });
    const [g, b] = await Promise.all([answered(good.metadata.name), answered(bad.metadata.name)]);
    expect(g.status?.results?.find((r) => r.device === target)).to.deep.include({ accepted: true });
    expect(g.status?.results?.find((r) => r.device === `${node}.not-mine`)).to.deep.include({
      accepted: false,
      reason: `${node}.not-mine is not a device of node ${node}`,
    });
    const rejected = b.status?.results?.find((r) => r.device === target);
    expect(rejected).to.deep.include({ accepted: false, errno: 'EINVAL' });
    expect(rejected?.reason).to.match(/^EINVAL: GPU: board H100-NVL-94GB differs/);
    expect(g.status?.completedAt).to.be.a('string');
  });
});
