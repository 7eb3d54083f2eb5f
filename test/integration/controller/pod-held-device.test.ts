// A device held by a pod that runs no VMI is never a migration target: the real agent publishes it
// with consumer kind Pod (its kubelet STAND-IN, a gRPC PodResources server on a temp socket, says
// the pod holds it), and the real controller on the real API server plans around it. Nodes are
// fake sysfs trees with the simulated vendor driver (STAND-IN for the hardware); the VMI and its
// launcher pod come from the KubeVirt STAND-IN objects.
import { expect } from 'chai';
import { Registry } from 'prom-client';
import { startAgent, type AgentHandle } from '../../../src/agent/agent.ts';
import { listPodResources } from '../../../src/agent/podresources/client.ts';
import { deviceObjectName } from '../../../src/api/v1alpha1/index.ts';
import { SysfsBackend } from '../../../src/compat/sysfs-backend.ts';
import { startManager, type ManagerHandle } from '../../../src/controller/manager.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { startFakeKubelet, type FakeKubelet } from '../../../dev/fakes/kubelet.ts';
import { FakeSysfs } from '../../../dev/fakes/sysfs/fake-sysfs.ts';
import { ensureNode } from '../../../dev/sim/fleet/fleet.ts';
import { buildNodeTree, resourceNameOf } from '../../../dev/sim/fleet/node-tree.ts';
import type { FleetNodeSpec, GpuSpec } from '../../../dev/sim/fleet/profile.ts';
import { createPod, deletePod, ensureDefaultServiceAccount } from '../../../dev/sim/kubevirt/core-objects.ts';
import { createRunningVmi } from '../../../dev/sim/kubevirt/vmi-factory.ts';
import { installKubevirtStandins } from '../../../dev/standins/kubevirt-crds.ts';
import { testKubeConfig, uniqueName } from '../../support/cluster.ts';
import { createMigration, createNamespace, deleteNamespace, getDevice, installCrds, verdictOf, waitFor, waitForPhase } from './helpers.ts';

const GPU: GpuSpec = { vendor: 'nvidia', board: 'H100-PCIE-80GB', hostDriver: '550.54.15', vgpuVersion: 0x12, vgpuRange: [0x10, 0x13], typeId: 'nvidia-1012', devices: 1, spare: 0 };

interface StandInNode {
  name: string;
  device: string;
  kubelet: FakeKubelet;
  agent: AgentHandle;
  dispose(): Promise<void>;
}

describe('controller never targets a device a non-VMI Pod holds (real agents with kubelet stand-ins, KubeVirt stand-in VMI)', function () {
  this.timeout(120_000);
  const kc = testKubeConfig();
  const opNs = uniqueName('mdevop');
  const ns = uniqueName('podheld');
  const prefix = uniqueName('ph');
  const nodes: StandInNode[] = [];
  let manager: ManagerHandle;
  let source: StandInNode;
  let held: StandInNode;
  let free: StandInNode;

  async function standInNode(name: string): Promise<StandInNode> {
    const spec: FleetNodeSpec = { name, labels: {}, taints: [], unschedulable: false, agent: true, gpus: [GPU] };
    await ensureNode(kc, spec);
    const { tree, devices } = buildNodeTree(spec);
    const device = [...devices.values()].flat()[0] as string;
    const kubelet = await startFakeKubelet();
    const io = new FakeSysfs(tree);
    const agent = await startAgent(
      {
        nodeName: name, sysfsRoot: tree.layout.sysRoot, mdevctlRoot: tree.layout.mdevctlRoot, backend: 'simulated', namespace: opNs, podResourcesSocket: kubelet.socketPath,
        resyncIntervalMs: 3_600_000, leaseDurationMs: 40_000, leaseRenewMs: 10_000, metricsPort: 0, healthPort: 0, logLevel: 'error',
      },
      { kc, io, backend: new SysfsBackend(io, 'simulated'), registry: new Registry(), serveHttp: false, podDevices: () => listPodResources(kubelet.socketPath, { timeoutMs: 5_000 }) },
    );
    const node = {
      name, device, kubelet, agent,
      dispose: async () => {
        await agent.stop();
        await kubelet.close();
        tree.dispose();
        await kubeRequest(kc, { method: 'DELETE', path: `/api/v1/nodes/${name}` }).catch(() => undefined);
      },
    };
    nodes.push(node);
    return node;
  }

  before(async () => {
    await installCrds();
    await installKubevirtStandins(kc);
    await createNamespace(kc, opNs);
    await createNamespace(kc, ns);
    await ensureDefaultServiceAccount(kc, ns);
    [source, held, free] = await Promise.all([standInNode(`${prefix}-src`), standInNode(`${prefix}-held`), standInNode(`${prefix}-free`)]);
    manager = await startManager({ kc, namespace: opNs, leaderElect: false, probeTimeoutMs: 5_000, sweepIntervalMs: 1_000, watchTimeoutSeconds: 30 });
    await manager.waitUntilRunning();

    const { podName } = await createRunningVmi(kc, { namespace: ns, name: 'vm-a', nodeName: source.name, gpus: [{ name: 'gpu0', deviceName: resourceNameOf(GPU) }], deviceIds: [source.device] });
    source.kubelet.setPodResources([{ name: podName, namespace: ns, containers: [{ name: 'compute', devices: [{ resourceName: resourceNameOf(GPU), deviceIds: [source.device] }] }] }]);
    await createPod(kc, {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'cuda-job', namespace: ns },
      spec: { nodeName: held.name, automountServiceAccountToken: false, restartPolicy: 'Never', containers: [{ name: 'cuda', image: 'cuda:stand-in', resources: { limits: { [resourceNameOf(GPU)]: '1' } } }] },
    }, ns);
    held.kubelet.setPodResources([{ name: 'cuda-job', namespace: ns, containers: [{ name: 'cuda', devices: [{ resourceName: resourceNameOf(GPU), deviceIds: [held.device] }] }] }]);
    await Promise.all([source.agent.rediscover(), held.agent.rediscover()]);
  });

  after(async () => {
    await manager?.stop();
    for (const n of nodes) await n.dispose();
    await deleteNamespace(kc, ns);
    await deleteNamespace(kc, opNs);
  });

  it('publishes the held device with consumer kind Pod', async () => {
    const d = await getDevice(kc, deviceObjectName(held.name, held.device));
    expect(d?.status?.consumer).to.deep.include({ kind: 'Pod', namespace: ns, name: 'cuda-job' });
  });

  it('plans the free node and explains the held one as NoCapacity (in use)', async () => {
    await createMigration(kc, ns, 'plan-both', { vmiName: 'vm-a', dryRun: true, targetNodes: [held.name, free.name] });
    const m = await waitForPhase(kc, ns, 'plan-both', ['Planned', 'Failed']);
    expect(m.status?.phase, m.status?.message).to.equal('Planned');
    expect(m.status?.targetNode).to.equal(free.name);
    expect(verdictOf(m, held.name)?.verdict).to.equal('NoCapacity');
    expect(verdictOf(m, held.name)?.message).to.contain('1 in use');
  });

  it('offers the device once the pod is gone (the agent reacts to the pod deletion), proving the hold was the reason', async () => {
    await createMigration(kc, ns, 'only-held', { vmiName: 'vm-a', dryRun: true, targetNodes: [held.name] });
    const refused = await waitForPhase(kc, ns, 'only-held', ['Planned', 'Failed']);
    expect(refused.status?.phase).to.equal('Failed');
    expect(verdictOf(refused, held.name)?.verdict).to.equal('NoCapacity');

    held.kubelet.setPodResources([]);
    await deletePod(kc, ns, 'cuda-job');
    await waitFor('the held device to be free', async () => ((await getDevice(kc, deviceObjectName(held.name, held.device)))?.status?.consumer === undefined ? true : undefined));
    await createMigration(kc, ns, 'held-freed', { vmiName: 'vm-a', dryRun: true, targetNodes: [held.name] });
    const planned = await waitForPhase(kc, ns, 'held-freed', ['Planned', 'Failed']);
    expect(planned.status?.phase, planned.status?.message).to.equal('Planned');
    expect(planned.status?.targetNode).to.equal(held.name);
  });
});
