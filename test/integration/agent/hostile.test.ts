// Hostile inputs on the real API server: probe specs the CRD must refuse, and a sysfs tree with an
// escaping link, a huge and an unreadable attribute. The agent refuses them with reasons, writes
// nothing to any device for them, and keeps running.
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { KubeConfig } from '../../../src/kube/kubeconfig.ts';
import type { AgentHandle } from '../../../src/agent/agent.ts';
import { deviceObjectName, LABEL_NODE } from '../../../src/api/v1alpha1/index.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import type { FakeSysfs } from '../../../dev/fakes/sysfs/fake-sysfs.ts';
import { addEscapingLink, makeHugeAttr, makeUnreadable } from '../../../dev/fakes/sysfs/fake-tree-hostile.ts';
import type { FakeTree } from '../../../dev/fakes/sysfs/fake-tree.ts';
import { testKubeConfig, uniqueName } from '../../support/cluster.ts';
import {
  agentConfig,
  applyCrds,
  createNode,
  createProbe,
  ensureNamespace,
  eventually,
  getProbe,
  NVIDIA_PARENT,
  NVIDIA_TYPE,
  NVIDIA_VERSION,
  nodeDevices,
  startTestAgent,
  threeVendorTree,
  type ThreeVendorTree,
} from './fixtures.ts';

describe('agent against hostile inputs (real API server, fake sysfs stand-in for drivers)', function () {
  this.timeout(60_000);
  let kc: KubeConfig;
  let fixture: ThreeVendorTree;
  let tree: FakeTree;
  let node: string;
  let agent: AgentHandle;
  let io: FakeSysfs;
  const escaping = randomUUID();
  const huge = randomUUID();
  const unreadable = randomUUID();

  before(async () => {
    kc = testKubeConfig();
    await applyCrds();
    const namespace = uniqueName('agent-ns');
    await ensureNamespace(namespace);
    node = uniqueName('hostile');
    await createNode(kc, node);
    fixture = threeVendorTree();
    tree = fixture.tree;
    tree.addMdev(huge, NVIDIA_PARENT, NVIDIA_TYPE);
    tree.addMdev(unreadable, NVIDIA_PARENT, NVIDIA_TYPE);
    makeHugeAttr(tree, `bus/mdev/devices/${huge}/migration_version`);
    makeUnreadable(tree, `bus/mdev/devices/${unreadable}/migration_version`);
    addEscapingLink(tree, `bus/mdev/devices/${escaping}`, '/etc');
    ({ agent, io } = await startTestAgent(kc, tree, agentConfig(node, namespace)));
  });

  after(async () => {
    await agent?.stop();
    await kubeRequest(kc, { method: 'DELETE', path: `/api/v1/nodes/${node}` }).catch(() => undefined);
    tree?.dispose();
  });

  const probeBody = (name: string, sourceVersion: string, devices: string[] = []) => ({
    apiVersion: 'mdev-operator.io/v1alpha1',
    kind: 'MdevProbe',
    metadata: { name, labels: { [LABEL_NODE]: node } },
    spec: { nodeName: node, typeId: NVIDIA_TYPE, sourceVersion, devices },
  });

  for (const [what, source] of [
    ['a 5,000-byte source', 'x'.repeat(5000)],
    ['a NUL byte', 'nv1;board=a\u0000b'],
    ['a newline', 'nv1;board=a\nb'],
    ['non-ASCII', 'nv1;board=H100\u00e9'],
  ] as const) {
    it(`the CRD refuses a probe whose source has ${what}`, async () => {
      let status = 0;
      let message = '';
      try {
        await createProbe(kc, probeBody(uniqueName('bad'), source));
      } catch (err) {
        status = (err as { code: number }).code;
        message = (err as Error).message;
      }
      expect(status, message).to.equal(422);
      expect(message).to.match(/sourceVersion/);
    });
  }

  it('the CRD refuses a probe naming the device ../../../etc', async () => {
    let status = 0;
    try {
      await createProbe(kc, probeBody(uniqueName('bad'), NVIDIA_VERSION, ['../../../etc']));
    } catch (err) {
      status = (err as { code: number }).code;
    }
    expect(status).to.equal(422);
  });

  it('skips a device whose link escapes the root, and publishes huge or unreadable attributes as not migratable', async () => {
    const devices = await nodeDevices(kc, node);
    expect(devices.map((d) => d.spec.id)).to.not.include(escaping);
    const big = devices.find((d) => d.spec.id === huge);
    expect(big?.status).to.deep.include({ migratable: false });
    expect(big?.status?.reason).to.match(/EFBIG/);
    const broken = devices.find((d) => d.spec.id === unreadable);
    expect(broken?.status?.migratable).to.equal(false);
    expect(broken?.status?.reason).to.match(/reading .*migration_version failed/);
    expect(agent.lastPass()?.warnings.some((w) => w.includes(escaping) && w.includes('outside the root'))).to.equal(true);
  });

  it('refuses a probe for the escaping device as not its own, writes nothing for it, and keeps running', async () => {
    const good = deviceObjectName(node, fixture.nvidia[0] as string);
    const name = uniqueName('probe');
    const writesBefore = io.writes.length;
    await createProbe(kc, probeBody(name, NVIDIA_VERSION, [deviceObjectName(node, escaping), good]));
    const answered = await eventually('the probe answered', async () => {
      const p = await getProbe(kc, name);
      return p.status?.observedGeneration === p.metadata.generation ? p : undefined;
    });
    expect(answered.status?.results?.find((r) => r.device === deviceObjectName(node, escaping))).to.deep.include({
      accepted: false,
      reason: `${deviceObjectName(node, escaping)} is not a device of node ${node}`,
    });
    expect(answered.status?.results?.find((r) => r.device === good)?.accepted).to.equal(true);
    expect(io.writes.slice(writesBefore).map((w) => w.path).every((p) => !p.includes(escaping))).to.equal(true);
    expect(io.writes.slice(writesBefore)).to.have.length(1);
    await agent.rediscover();
    expect(agent.ready()).to.equal(true);
  });
});
