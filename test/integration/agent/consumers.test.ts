// status.consumer from a kubelet stand-in (a real gRPC PodResources server on a temp socket) and a
// virt-launcher Pod object on the real API server; plus the agent's Lease and HTTP endpoints.
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import path from 'node:path';
import type { KubeConfig } from '../../../src/kube/kubeconfig.ts';
import type { AgentHandle } from '../../../src/agent/agent.ts';
import { deviceObjectName } from '../../../src/api/v1alpha1/index.ts';
import { startFakeKubelet, type FakeKubelet } from '../../../dev/fakes/kubelet.ts';
import { listPodResources } from '../../../src/agent/podresources/client.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { buildLauncherPod } from '../../../dev/sim/kubevirt/launcher-pod.ts';
import type { FakeTree } from '../../../dev/fakes/sysfs/fake-tree.ts';
import { testKubeConfig, uniqueName } from '../../support/cluster.ts';
import { GVT_PARENT, agentConfig, applyCrds, createNode, ensureNamespace, eventually, nodeDevices, startTestAgent, threeVendorTree, type ThreeVendorTree } from './fixtures.ts';

describe('agent consumers from a kubelet stand-in and a virt-launcher Pod (real API server)', function () {
  this.timeout(60_000);
  let kc: KubeConfig;
  let fixture: ThreeVendorTree;
  let tree: FakeTree;
  let node: string;
  let namespace: string;
  let kubelet: FakeKubelet;
  let agent: AgentHandle;
  const vmiUid = randomUUID();

  before(async () => {
    kc = testKubeConfig();
    await applyCrds();
    namespace = uniqueName('vms');
    await ensureNamespace(namespace);
    node = uniqueName('worker');
    await createNode(kc, node);
    fixture = threeVendorTree();
    tree = fixture.tree;
    kubelet = await startFakeKubelet();
    ({ agent } = await startTestAgent(kc, tree, agentConfig(node, namespace, { podResourcesSocket: kubelet.socketPath }), {
      podDevices: () => listPodResources(kubelet.socketPath),
      serveHttp: true,
    }));
  });

  after(async () => {
    await agent?.stop();
    await kubelet?.close();
    await kubeRequest(kc, { method: 'DELETE', path: `/api/v1/nodes/${node}` }).catch(() => undefined);
    tree?.dispose();
  });

  it('sets status.consumer to the VMI whose launcher pod holds the device, and clears it when freed', async () => {
    const gpu = fixture.nvidia[0] as string;
    const podName = 'virt-launcher-vm-a-bcdfg';
    const pod = buildLauncherPod({
      namespace, podName, nodeName: node, vmi: { name: 'vm-a', uid: vmiUid }, resourceNames: ['nvidia.com/GRID_H100-4C'], allocatedDevices: [gpu],
    });
    // No VMI object exists here; without the owner reference the GC leaves the pod alone and the
    // agent identifies the VMI from KubeVirt's created-by label and domain annotation.
    delete (pod.metadata as { ownerReferences?: unknown }).ownerReferences;
    await eventually('the launcher pod to be created', async () => {
      try {
        await kubeRequest(kc, { method: 'POST', path: `/api/v1/namespaces/${namespace}/pods`, body: pod });
        return true;
      } catch (err) {
        if (/serviceaccount/i.test(String(err))) return undefined; // the namespace's SA is still being created
        throw err;
      }
    });
    kubelet.setPodResources([
      { name: podName, namespace, containers: [{ name: 'compute', devices: [{ resourceName: 'nvidia.com/GRID_H100-4C', deviceIds: [gpu.toUpperCase()] }] }] },
    ]);
    const name = deviceObjectName(node, gpu);
    const consumer = await eventually('status.consumer', async () => {
      await agent.rediscover();
      return (await nodeDevices(kc, node)).find((d) => d.metadata.name === name)?.status?.consumer;
    });
    expect(consumer).to.deep.equal({ kind: 'VirtualMachineInstance', namespace, name: 'vm-a', uid: vmiUid });
    const others = (await nodeDevices(kc, node)).filter((d) => d.metadata.name !== name);
    expect(others.every((d) => d.status?.consumer === undefined)).to.equal(true);

    kubelet.setPodResources([]);
    await agent.rediscover();
    const freed = (await nodeDevices(kc, node)).find((d) => d.metadata.name === name);
    expect(freed?.status?.consumer).to.equal(undefined);
  });

  it('attributes a device the kubelet stand-in reports by IOMMU group number (KubeVirt mdev plugin style)', async () => {
    const gvt = fixture.gvt[0] as string;
    const group = tree.iommuGroupOf(path.join(tree.parentDir(GVT_PARENT), gvt));
    expect(group).to.match(/^[0-9]+$/);
    kubelet.setPodResources([
      { name: 'virt-launcher-vm-a-bcdfg', namespace, containers: [{ name: 'compute', devices: [{ resourceName: 'devices.kubevirt.io/mdev', deviceIds: [group as string] }] }] },
    ]);
    await agent.rediscover();
    const devices = await nodeDevices(kc, node);
    const name = deviceObjectName(node, gvt);
    expect(devices.find((d) => d.metadata.name === name)?.status?.consumer).to.deep.equal({ kind: 'VirtualMachineInstance', namespace, name: 'vm-a', uid: vmiUid });
    expect(devices.filter((d) => d.status?.consumer !== undefined).map((d) => d.metadata.name)).to.deep.equal([name]);
  });

  it('keeps the last known consumers while the kubelet does not answer', async () => {
    const gpu = fixture.nvidia[1] as string;
    kubelet.setPodResources([
      { name: 'virt-launcher-vm-a-bcdfg', namespace, containers: [{ name: 'compute', devices: [{ resourceName: 'r', deviceIds: [gpu] }] }] },
    ]);
    await agent.rediscover();
    const name = deviceObjectName(node, gpu);
    expect((await nodeDevices(kc, node)).find((d) => d.metadata.name === name)?.status?.consumer?.uid).to.equal(vmiUid);
    await kubelet.close();
    await agent.rediscover();
    expect((await nodeDevices(kc, node)).find((d) => d.metadata.name === name)?.status?.consumer?.uid).to.equal(vmiUid);
  });

  it('renews its Lease mdev-agent.<node> and serves /healthz, /readyz and /metrics', async () => {
    const lease = await eventually('the agent Lease', async () => {
      try {
        return (await kubeRequest(kc, { method: 'GET', path: `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/mdev-agent.${node}` })) as {
          spec: { holderIdentity: string; leaseDurationSeconds: number };
        };
      } catch {
        return undefined;
      }
    });
    expect(lease.spec).to.deep.include({ holderIdentity: node, leaseDurationSeconds: 40 });
    const base = `http://127.0.0.1:${agent.healthPort}`;
    expect((await fetch(`${base}/healthz`)).status).to.equal(200);
    const ready = await eventually('readiness', async () => {
      const res = await fetch(`${base}/readyz`);
      return res.status === 200 ? res.text() : undefined;
    });
    expect(ready).to.include('[+]consumers-from-podresources ok');
    const metrics = await (await fetch(`http://127.0.0.1:${agent.metricsPort}/metrics`)).text();
    expect(metrics).to.match(/mdev_agent_devices 4/);
    expect(metrics).to.match(/mdev_agent_writes_total\{kind="MdevDevice",op="apply"\} \d+/);
    expect(metrics).to.include('mdev_agent_discovery_seconds_count');
  });
});
