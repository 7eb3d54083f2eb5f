// The fleet's device-plugin STAND-IN (kubelet admission of migration target pods, KubeVirt STAND-IN
// driving the VMIMs, no operator) on the REAL local kube-apiserver: a device handed to a target pod
// is the pod's while it runs and free again once the pod is gone, as the kubelet's device manager
// frees the devices of pods that are no longer active. It once stayed allocated when the pod left
// the node before the node's next admission, so a VM that moved away kept its old device held.
import { expect } from 'chai';
import { createVmim, getVmi, getVmim } from '../../../src/kubevirt/client.ts';
import type { Vmim } from '../../../src/kubevirt/types.ts';
import { startFleet, type FleetHandle } from '../../../dev/sim/fleet/fleet.ts';
import type { FleetNodeSpec } from '../../../dev/sim/fleet/profile.ts';
import { installKubevirtStandins } from '../../../dev/standins/kubevirt-crds.ts';
import { testKubeConfig, uniqueName } from '../../support/cluster.ts';
import { poll } from '../../support/poll.ts';
import { createNamespace, deleteNamespace, h100, installCrds } from '../controller/helpers.ts';

describe('fleet device-plugin stand-in frees a target pod\'s device once the pod is gone (stand-in fleet and KubeVirt, real API server)', function () {
  this.timeout(120_000);
  const kc = testKubeConfig();
  const opNs = uniqueName('fdp-op');
  const ns = uniqueName('fdp');
  const p = uniqueName('fdp');
  const [a, b] = [`${p}-a`, `${p}-b`];
  let f: FleetHandle;

  // One device per node: a device the stand-in still counts as held makes the next admission fail.
  const node = (name: string): FleetNodeSpec => ({ name, labels: {}, taints: [], unschedulable: false, agent: true, gpus: [h100('550.54.15')] });

  async function migrate(name: string, to: string): Promise<Vmim> {
    await createVmim(kc, { namespace: ns, name, vmiName: 'vm', addedNodeSelector: { 'kubernetes.io/hostname': to } });
    return poll(`VMIM ${ns}/${name} to finish`, async () => {
      const v = await getVmim(kc, ns, name);
      return v && ['Succeeded', 'Failed'].includes(v.status?.phase ?? '') ? v : undefined;
    }, 60_000);
  }

  before(async () => {
    await installCrds();
    await installKubevirtStandins(kc);
    await createNamespace(kc, opNs);
    await createNamespace(kc, ns);
    f = await startFleet({ kc, namespace: opNs, specs: [node(a), node(b)], kubevirt: { namespace: ns, stepDelayMs: 20 }, resyncIntervalMs: 2_000 });
    await f.startVm({ namespace: ns, name: 'vm', node: a });
  });

  after(async () => {
    await f?.stop({ deleteNodes: true });
    await deleteNamespace(kc, ns);
    await deleteNamespace(kc, opNs);
  });

  it('moves a one-device VM a → b → a → b: each node admits it again after the VM left it', async () => {
    for (const [i, to] of [b, a, b].entries()) {
      const done = await migrate(`move-${i}`, to);
      expect(done.status?.phase, `move ${i} to ${to}: ${JSON.stringify(done.status)}`).to.equal('Succeeded');
      expect((await getVmi(kc, ns, 'vm'))?.status?.nodeName).to.equal(to);
    }
  });
});
