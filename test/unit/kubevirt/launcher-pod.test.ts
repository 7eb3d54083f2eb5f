import { expect } from 'chai';
import { launcherFromPod } from '../../../src/agent/podresources/consumers.ts';
import {
  ANNOTATION_ALLOCATED_DEVICES,
  buildLauncherPod,
  launcherPodName,
  parseAllocatedDevices,
} from '../../../dev/sim/kubevirt/launcher-pod.ts';

interface PodShape {
  metadata: { name: string; namespace: string; labels: Record<string, string>; annotations: Record<string, string>; ownerReferences: { apiVersion: string; kind: string; name: string; uid: string; controller: boolean }[] };
  spec: { nodeName: string; serviceAccountName: string; containers: { name: string; resources?: { limits: Record<string, string> } }[] };
}

describe('KubeVirt stand-in: virt-launcher pod builder', () => {
  it('names pods virt-launcher-<vmi>-<5 generateName characters>', () => {
    expect(launcherPodName('vm-a')).to.match(/^virt-launcher-vm-a-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    expect(launcherPodName('vm-a', () => 0)).to.equal('virt-launcher-vm-a-bbbbb');
  });

  it('builds a pod with KubeVirt labels, owner reference, device limits and allocated devices', () => {
    const pod = buildLauncherPod({
      namespace: 'vms',
      podName: 'virt-launcher-vm-a-bbbbb',
      nodeName: 'node-b',
      vmi: { name: 'vm-a', uid: 'uid-1' },
      resourceNames: ['nvidia.com/NVIDIA_H100-4C', 'nvidia.com/NVIDIA_H100-4C', 'intel.com/qat'],
      allocatedDevices: ['6f1c2a0e-1b7d-4c55-9a43-2f4c1f0c9e11', '0000:41:00.4'],
      migration: { uid: 'mig-uid', name: 'mig-1' },
    }) as unknown as PodShape;
    expect(pod.metadata.labels).to.deep.equal({
      'kubevirt.io': 'virt-launcher',
      'kubevirt.io/created-by': 'uid-1',
      'vm.kubevirt.io/name': 'vm-a',
      'kubevirt.io/migrationJobUID': 'mig-uid',
    });
    expect(pod.spec.nodeName).to.equal('node-b');
    expect(pod.spec.serviceAccountName).to.equal('default');
    expect(pod.spec.containers[0]?.resources?.limits).to.deep.equal({ 'intel.com/qat': '1', 'nvidia.com/NVIDIA_H100-4C': '2' });
    expect(pod.metadata.ownerReferences[0]).to.include({ kind: 'VirtualMachineInstance', name: 'vm-a', uid: 'uid-1', controller: true });
    expect(parseAllocatedDevices(pod.metadata.annotations)).to.deep.equal(['6f1c2a0e-1b7d-4c55-9a43-2f4c1f0c9e11', '0000:41:00.4']);
  });

  it('is recognized as the VMI launcher by the agent consumer mapping', () => {
    const pod = buildLauncherPod({ namespace: 'vms', podName: 'p', nodeName: 'n', vmi: { name: 'vm-a', uid: 'uid-1' }, resourceNames: [], allocatedDevices: [] }) as unknown as PodShape;
    expect(launcherFromPod({ ...pod.metadata })).to.deep.equal({ namespace: 'vms', podName: 'p', vmiName: 'vm-a', vmiUid: 'uid-1' });
    expect(pod.spec.containers[0]?.resources).to.equal(undefined);
  });

  it('reads an absent or empty allocation as no devices', () => {
    expect(parseAllocatedDevices(undefined)).to.deep.equal([]);
    expect(parseAllocatedDevices({ [ANNOTATION_ALLOCATED_DEVICES]: '' })).to.deep.equal([]);
    expect(parseAllocatedDevices({ [ANNOTATION_ALLOCATED_DEVICES]: ' a , b ' })).to.deep.equal(['a', 'b']);
  });
});
