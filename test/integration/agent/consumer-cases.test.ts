// Consumers that never go stale, on the real API server: a kubelet stand-in (a real gRPC
// PodResources server on a temp socket, answering in the 1.36 kubelet's shape) says which pod
// holds which device; Pod objects (never run: no kubelet) and a ResourceSlice on the API server
// say who those pods are and which device a DRA claim device is.
import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { expect } from 'chai';
import type { KubeConfig } from '../../../src/kube/kubeconfig.ts';
import type { AgentHandle } from '../../../src/agent/agent.ts';
import { listPodResources } from '../../../src/agent/podresources/client.ts';
import { deviceObjectName, type ConsumerReference, type MdevDevice } from '../../../src/api/v1alpha1/index.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { startFakeKubelet, type FakeKubelet, type FakePodResources } from '../../../dev/fakes/kubelet.ts';
import { createPod, deletePod, ensureDefaultServiceAccount } from '../../../dev/sim/kubevirt/core-objects.ts';
import { buildLauncherPod } from '../../../dev/sim/kubevirt/launcher-pod.ts';
import type { FakeTree } from '../../../dev/fakes/sysfs/fake-tree.ts';
import { testKubeConfig, uniqueName } from '../../support/cluster.ts';
import { FakeClock } from '../../unit/kube/fakes.ts';
import { agentConfig, applyCrds, createNode, ensureNamespace, eventually, nodeDevices, startTestAgent, threeVendorTree, type ThreeVendorTree } from './fixtures.ts';

const GPU_RESOURCE = 'nvidia.com/GRID_H100-4C';

/** A virt-launcher pod of VMI `vmi` on `node`, without the owner reference (no VMI object exists: the GC would delete it). */
function launcherPod(namespace: string, podName: string, node: string, vmi: { name: string; uid: string }): Record<string, unknown> {
  const pod = buildLauncherPod({ namespace, podName, nodeName: node, vmi, resourceNames: [GPU_RESOURCE], allocatedDevices: [] });
  delete (pod.metadata as { ownerReferences?: unknown }).ownerReferences;
  return pod;
}

/** A pod that runs no VMI and requests a vGPU (e.g. a CUDA job), bound to `node`. */
function plainGpuPod(namespace: string, name: string, node: string): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace },
    spec: { nodeName: node, automountServiceAccountToken: false, restartPolicy: 'Never', containers: [{ name: 'cuda', image: 'cuda:stand-in', resources: { limits: { [GPU_RESOURCE]: '1' } } }] },
  };
}

function holding(namespace: string, pod: string, container: string, deviceIds: string[]): FakePodResources {
  return { name: pod, namespace, containers: [{ name: container, devices: [{ resourceName: GPU_RESOURCE, deviceIds, topology: { nodes: [{ ID: 0 }, { ID: 1 }] } }] }] };
}

async function podUid(kc: KubeConfig, namespace: string, name: string): Promise<string> {
  return ((await kubeRequest(kc, { method: 'GET', path: `/api/v1/namespaces/${namespace}/pods/${name}` })) as { metadata: { uid: string } }).metadata.uid;
}

function consumerOf(devices: readonly MdevDevice[], name: string): ConsumerReference | undefined {
  return devices.find((d) => d.metadata.name === name)?.status?.consumer;
}

async function metric(agent: AgentHandle, name: string): Promise<number> {
  const line = (await agent.metrics.registry.metrics()).split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.split(' ')[1]);
}

describe('agent consumers that never go stale (kubelet stand-in on a temp socket, Pod objects and a ResourceSlice on the real API server)', function () {
  this.timeout(90_000);
  const kc = testKubeConfig();
  let namespace: string;
  const cleanup: (() => Promise<unknown>)[] = [];

  before(async () => {
    await applyCrds();
    namespace = uniqueName('vms');
    await ensureNamespace(namespace);
    await ensureDefaultServiceAccount(kc, namespace);
  });

  after(async () => {
    for (const undo of cleanup.reverse()) await undo().catch(() => undefined);
  });

  /** A node with the three-vendor tree, a kubelet stand-in and its agent (resync 1 h: passes only when triggered). */
  async function nodeWithAgent(extra: { clock?: FakeClock; serveHttp?: boolean; unreadyAfterMs?: number } = {}): Promise<{ node: string; fixture: ThreeVendorTree; tree: FakeTree; kubelet: FakeKubelet; agent: AgentHandle; restart: () => Promise<AgentHandle> }> {
    const node = uniqueName('worker');
    await createNode(kc, node);
    const fixture = threeVendorTree();
    const kubelet = await startFakeKubelet();
    const start = async () => (await startTestAgent(kc, fixture.tree, agentConfig(node, namespace, { podResourcesSocket: kubelet.socketPath, podResourcesUnreadyAfterMs: extra.unreadyAfterMs }), {
      podDevices: () => listPodResources(kubelet.socketPath, { timeoutMs: 5_000 }),
      serveHttp: extra.serveHttp,
      clock: extra.clock,
    })).agent;
    const handle = { node, fixture, tree: fixture.tree, kubelet, agent: await start(), restart: async () => (handle.agent = await start()) };
    cleanup.push(() => kubeRequest(kc, { method: 'DELETE', path: `/api/v1/nodes/${node}` }), async () => fixture.tree.dispose(), () => kubelet.close(), () => handle.agent.stop());
    return handle;
  }

  it('(a) an agent restarted while the kubelet stand-in\'s socket is gone keeps the consumers its MdevDevices publish (VMI and Pod), and offers neither device to probes', async () => {
    const n = await nodeWithAgent();
    const [gpuA, gpuB] = n.fixture.nvidia as [string, string];
    const vmi = { name: 'vm-a', uid: randomUUID() };
    await createPod(kc, launcherPod(namespace, 'virt-launcher-vm-a-x1', n.node, vmi), namespace);
    await createPod(kc, plainGpuPod(namespace, 'cuda-job-a', n.node), namespace);
    n.kubelet.setPodResources([holding(namespace, 'virt-launcher-vm-a-x1', 'compute', [gpuA]), holding(namespace, 'cuda-job-a', 'cuda', [gpuB])]);
    await n.agent.rediscover();
    const before = await nodeDevices(kc, n.node);
    expect(consumerOf(before, deviceObjectName(n.node, gpuA))).to.deep.equal({ kind: 'VirtualMachineInstance', namespace, name: 'vm-a', uid: vmi.uid });
    expect(consumerOf(before, deviceObjectName(n.node, gpuB))?.kind).to.equal('Pod');

    await n.agent.stop();
    await n.kubelet.close(); // the socket file is removed: the restarted agent finds nothing at the path
    const agent = await n.restart();
    const pass = agent.lastPass();
    expect(pass?.consumers.source).to.equal('kept');
    expect(pass?.consumers.why).to.contain('does not exist');
    const after = await nodeDevices(kc, n.node);
    expect(consumerOf(after, deviceObjectName(n.node, gpuA))).to.deep.equal(consumerOf(before, deviceObjectName(n.node, gpuA)));
    expect(consumerOf(after, deviceObjectName(n.node, gpuB))).to.deep.equal(consumerOf(before, deviceObjectName(n.node, gpuB)));
    expect(pass?.inventory.devices.get(deviceObjectName(n.node, gpuA))?.free).to.equal(false);
    expect(pass?.inventory.devices.get(deviceObjectName(n.node, gpuB))?.free).to.equal(false);
    expect(pass?.publish.applied, 'nothing rewritten').to.deep.equal([]);
  });

  it('(b) publishes a device the kubelet stand-in reports held by a pod that runs no VMI as consumer kind Pod with the pod\'s uid', async () => {
    const n = await nodeWithAgent();
    const gpu = n.fixture.nvidia[0] as string;
    await createPod(kc, plainGpuPod(namespace, 'cuda-job-b', n.node), namespace);
    n.kubelet.setPodResources([holding(namespace, 'cuda-job-b', 'cuda', [gpu.toUpperCase()])]);
    await n.agent.rediscover();
    const devices = await nodeDevices(kc, n.node);
    expect(consumerOf(devices, deviceObjectName(n.node, gpu))).to.deep.equal({ kind: 'Pod', namespace, name: 'cuda-job-b', uid: await podUid(kc, namespace, 'cuda-job-b') });
    expect(devices.filter((d) => d.status?.consumer).map((d) => d.metadata.name)).to.deep.equal([deviceObjectName(n.node, gpu)]);
    expect(n.agent.lastPass()?.inventory.devices.get(deviceObjectName(n.node, gpu))?.free).to.equal(false);
  });

  it('(c) publishes consumer changes on its node\'s pod events (pod informer, kubelet stand-in), with no resync and no rediscover call: launcher pod created, then deleted', async () => {
    const n = await nodeWithAgent();
    const gpu = n.fixture.nvidia[1] as string;
    const name = deviceObjectName(n.node, gpu);
    const vmi = { name: 'vm-c', uid: randomUUID() };
    // The kubelet admits the pod (allocating the device) before the agent hears of it.
    n.kubelet.setPodResources([holding(namespace, 'virt-launcher-vm-c-x1', 'compute', [gpu])]);
    await createPod(kc, launcherPod(namespace, 'virt-launcher-vm-c-x1', n.node, vmi), namespace);
    const held = await eventually('the consumer from the pod event', async () => consumerOf(await nodeDevices(kc, n.node), name));
    expect(held).to.deep.equal({ kind: 'VirtualMachineInstance', namespace, name: 'vm-c', uid: vmi.uid });

    n.kubelet.setPodResources([]);
    await deletePod(kc, namespace, 'virt-launcher-vm-c-x1');
    await eventually('the device to be free after the pod is gone', async () => (consumerOf(await nodeDevices(kc, n.node), name) === undefined ? true : undefined));
  });

  it('(d) shows an unreachable kubelet stand-in in metrics at once and fails /readyz with the reason once the bound has passed (fake clock), then recovers', async () => {
    const clock = new FakeClock();
    const n = await nodeWithAgent({ clock, serveHttp: true, unreadyAfterMs: 60_000 });
    const readyz = async () => {
      const res = await fetch(`http://127.0.0.1:${n.agent.healthPort}/readyz`);
      return { status: res.status, body: await res.text() };
    };
    expect(await metric(n.agent, 'mdev_agent_podresources_up')).to.equal(1);
    const socket = n.kubelet.socketPath;
    await n.kubelet.close();
    await n.agent.rediscover();
    expect(await metric(n.agent, 'mdev_agent_podresources_up')).to.equal(0);
    expect(await metric(n.agent, 'mdev_agent_podresources_errors_total')).to.equal(1);
    await clock.advance(59_999);
    const within = await eventually('readiness within the bound', async () => {
      const r = await readyz();
      return r.status === 200 ? r : undefined; // the lease check turns ready on its first renewal
    });
    expect(within.body).to.contain('[+]consumers-from-podresources ok');

    await clock.advance(1);
    const past = await readyz();
    expect(past.status).to.equal(503);
    expect(past.body).to.contain(`[-]consumers-from-podresources failed: kubelet PodResources unreachable for 60s (bound 60s): kubelet PodResources socket ${socket} does not exist`);
    expect(past.body).to.contain('device consumers are kept as last published');
    expect(n.agent.ready()).to.equal(false);

    await mkdir(dirname(socket), { recursive: true }); // close() removed the stand-in's temp dir with the socket
    const back = await startFakeKubelet({ socketPath: socket });
    cleanup.push(() => rm(dirname(socket), { recursive: true, force: true }));
    cleanup.push(() => back.close());
    await n.agent.rediscover();
    expect(await metric(n.agent, 'mdev_agent_podresources_up')).to.equal(1);
    expect((await readyz()).body).to.contain('[+]consumers-from-podresources ok');
  });

  it('publishes a DRA claim device (kubelet stand-in dynamic_resources, a ResourceSlice with mdevUUID on the API server) as consumed by the launcher pod\'s VMI; an unmapped one is counted', async () => {
    const n = await nodeWithAgent();
    const gpu = n.fixture.nvidia[0] as string;
    const driver = `gpu-${n.node}.example.com`;
    const slice = {
      apiVersion: 'resource.k8s.io/v1',
      kind: 'ResourceSlice',
      metadata: { name: `${n.node}-gpu` },
      spec: {
        driver, nodeName: n.node, pool: { name: n.node, generation: 1, resourceSliceCount: 1 },
        devices: [{ name: 'vgpu-0', attributes: { mdevUUID: { string: gpu.toUpperCase() } } }, { name: 'vgpu-1', attributes: { model: { string: 'H100-4C' } } }],
      },
    };
    await kubeRequest(kc, { method: 'POST', path: '/apis/resource.k8s.io/v1/resourceslices', body: slice });
    cleanup.push(() => kubeRequest(kc, { method: 'DELETE', path: `/apis/resource.k8s.io/v1/resourceslices/${n.node}-gpu` }));
    const vmi = { name: 'vm-dra', uid: randomUUID() };
    await createPod(kc, launcherPod(namespace, 'virt-launcher-vm-dra-x1', n.node, vmi), namespace);
    const claimDevice = (deviceName: string) => ({ driverName: driver, poolName: n.node, deviceName, cdiDevices: [`${driver}/vgpu=${deviceName}`] });
    n.kubelet.setPodResources([{
      name: 'virt-launcher-vm-dra-x1', namespace,
      containers: [{ name: 'compute', dynamicResources: [{ claimName: 'vm-dra-gpu', claimNamespace: namespace, devices: [claimDevice('vgpu-1'), claimDevice('vgpu-0')] }] }],
    }]);
    // The first pass sees a claim device and starts the ResourceSlice watch; its events trigger the next.
    await n.agent.rediscover();
    const consumer = await eventually('the DRA device\'s consumer', async () => consumerOf(await nodeDevices(kc, n.node), deviceObjectName(n.node, gpu)));
    expect(consumer).to.deep.equal({ kind: 'VirtualMachineInstance', namespace, name: 'vm-dra', uid: vmi.uid });
    expect(await metric(n.agent, 'mdev_agent_unmapped_claim_devices'), 'vgpu-1 has no mdevUUID').to.equal(1);
    expect((await nodeDevices(kc, n.node)).filter((d) => d.status?.consumer).length).to.equal(1);
  });
});
