import { expect } from 'chai';
import { parseNodePod, podEventMatters } from '../../../src/agent/podresources/node-pod.ts';

function pod(extra: { spec?: Record<string, unknown>; status?: Record<string, unknown>; metadata?: Record<string, unknown> } = {}): unknown {
  return {
    metadata: { namespace: 'vms', name: 'p', uid: 'uid-p', ...extra.metadata },
    spec: { nodeName: 'worker-1', containers: [{ name: 'c', resources: { limits: { cpu: '1', memory: '1Gi' } } }], ...extra.spec },
    status: { phase: 'Pending', ...extra.status },
  };
}

describe('pods on the agent\'s node (what may hold devices, and when to ask PodResources again)', () => {
  it('reads uid and, for a virt-launcher pod, the VMI', () => {
    const launcher = parseNodePod(pod({
      metadata: { ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', name: 'vm-a', uid: 'uid-vmi', controller: true }] },
    }));
    expect(launcher).to.deep.include({ namespace: 'vms', name: 'p', uid: 'uid-p', launcher: { namespace: 'vms', podName: 'p', vmiName: 'vm-a', vmiUid: 'uid-vmi' } });
    expect(parseNodePod(pod())?.launcher).to.equal(undefined);
    expect(parseNodePod({ metadata: { namespace: 'vms', name: 'p' } }), 'no uid').to.equal(undefined);
  });

  it('says a pod may hold devices only with an extended resource or a ResourceClaim', () => {
    expect(parseNodePod(pod())?.mayHoldDevices, 'cpu and memory only').to.equal(false);
    expect(parseNodePod(pod({ spec: { containers: [{ name: 'c', resources: { limits: { 'hugepages-2Mi': '2Mi', 'kubernetes.io/x': '1' } } }] } }))?.mayHoldDevices).to.equal(false);
    expect(parseNodePod(pod({ spec: { containers: [{ name: 'c', resources: { limits: { 'nvidia.com/GRID_H100-4C': '1' } } }] } }))?.mayHoldDevices).to.equal(true);
    expect(parseNodePod(pod({ spec: { initContainers: [{ name: 'i', resources: { requests: { 'devices.kubevirt.io/kvm': '1' } } }] } }))?.mayHoldDevices).to.equal(true);
    expect(parseNodePod(pod({ spec: { resourceClaims: [{ name: 'gpu', resourceClaimTemplateName: 'vgpu' }] } }))?.mayHoldDevices).to.equal(true);
  });

  it('reacts to adds, deletes and lifecycle changes of device pods only', () => {
    const gpu = { containers: [{ name: 'compute', resources: { limits: { 'nvidia.com/GRID_H100-4C': '1' } } }] };
    const pending = parseNodePod(pod({ spec: gpu }));
    const running = parseNodePod(pod({ spec: gpu, status: { phase: 'Running', containerStatuses: [{ name: 'compute', state: { running: {} } }] } }));
    const relabelled = parseNodePod(pod({ spec: gpu, metadata: { labels: { team: 'x' } } }));
    const plain = parseNodePod(pod());
    const plainRunning = parseNodePod(pod({ status: { phase: 'Running' } }));
    expect(podEventMatters(undefined, pending), 'add').to.equal(true);
    expect(podEventMatters(pending, undefined), 'delete').to.equal(true);
    expect(podEventMatters(pending, running), 'containers started').to.equal(true);
    expect(podEventMatters(pending, relabelled), 'a label changed').to.equal(false);
    expect(podEventMatters(undefined, plain), 'a pod without devices').to.equal(false);
    expect(podEventMatters(plain, plainRunning)).to.equal(false);
  });
});
