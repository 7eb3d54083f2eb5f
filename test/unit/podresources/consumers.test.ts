import { expect } from 'chai';
import fc from 'fast-check';
import {
  canonicalDeviceId,
  consumerOf,
  launcherFromPod,
  mapDeviceConsumers,
  type PodMeta,
} from '../../../src/agent/podresources/consumers.ts';
import { claimDeviceIds, parseResourceSlice } from '../../../src/agent/podresources/claim-devices.ts';
import type { ClaimDevice, LauncherPod, NodePod, PodDevices } from '../../../src/agent/podresources/types.ts';

const MDEV = '3b1e7c1a-5f0e-4b8a-9d2c-0a1b2c3d4e5f';
const VF = '0000:81:00.2';

const vm1: LauncherPod = { namespace: 'tenant-a', podName: 'virt-launcher-vm1-abcde', vmiName: 'vm1', vmiUid: 'uid-1' };
const vm2: LauncherPod = { namespace: 'tenant-b', podName: 'virt-launcher-vm2-fghij', vmiName: 'vm2', vmiUid: 'uid-2' };
const pod1: NodePod = { namespace: vm1.namespace, name: vm1.podName, uid: 'pod-uid-1', launcher: vm1 };
const pod2: NodePod = { namespace: vm2.namespace, name: vm2.podName, uid: 'pod-uid-2', launcher: vm2 };
const job: NodePod = { namespace: 'tenant-a', name: 'some-job', uid: 'pod-uid-job' };
const consumer1 = { kind: 'VirtualMachineInstance', namespace: 'tenant-a', name: 'vm1', uid: 'uid-1' } as const;
const consumer2 = { kind: 'VirtualMachineInstance', namespace: 'tenant-b', name: 'vm2', uid: 'uid-2' } as const;

function held(pod: { namespace: string; name: string }, deviceIds: string[], container = 'compute'): PodDevices {
  return { namespace: pod.namespace, pod: pod.name, container, resourceName: 'r/x', deviceIds };
}

function claimed(pod: { namespace: string; name: string }, driver: string, device: string, pool = 'node-1'): ClaimDevice {
  return { namespace: pod.namespace, pod: pod.name, container: 'compute', claim: { namespace: pod.namespace, name: 'gpu-claim' }, driver, pool, device };
}

describe('device consumer mapping (PodResources × virt-launcher pods)', () => {
  it('maps an mdev UUID and a VF PCI address to the VMI whose launcher holds them, in any case', () => {
    const { consumers, unresolved, conflicts } = mapDeviceConsumers(
      [held(pod1, [MDEV.toUpperCase(), 'kvm0']), held(pod2, ['0000:81:00.2'.toUpperCase()])],
      [pod1, pod2],
    );
    expect([...consumers.keys()].sort()).to.deep.equal([VF, MDEV].sort());
    expect(consumerOf(consumers, MDEV)).to.deep.equal(consumer1);
    expect(consumerOf(consumers, MDEV.toUpperCase())).to.deep.equal(consumer1);
    expect(consumerOf(consumers, VF)).to.deep.equal(consumer2);
    expect(unresolved).to.deep.equal([]);
    expect(conflicts).to.deep.equal([]);
  });

  it('resolves IOMMU-group ids (KubeVirt and NVIDIA plugins) through the node group table', () => {
    const groups = new Map([
      ['45', [MDEV]],
      ['46', ['0000:81:00.4', '0000:81:00.5']],
    ]);
    const { consumers } = mapDeviceConsumers([held(pod1, ['45']), held(pod2, ['46', '99'])], [pod1, pod2], groups);
    expect(consumerOf(consumers, MDEV)).to.deep.equal(consumer1);
    expect(consumerOf(consumers, '0000:81:00.4')).to.deep.equal(consumer2);
    expect(consumerOf(consumers, '0000:81:00.5')).to.deep.equal(consumer2);
    expect(consumers.size).to.equal(3);
  });

  it('leaves group numbers unresolved without a table, and never guesses at prefixed ids', () => {
    const { consumers } = mapDeviceConsumers([held(pod1, ['45', `pci-${VF}`, `GPU-${MDEV}`, '0000:81:00', ''])], [pod1]);
    expect(consumers.size).to.equal(0);
  });

  it('gives a device held by a pod that runs no VMI to that pod (kind Pod, its uid): in use, never free', () => {
    const { consumers, unresolved } = mapDeviceConsumers([held(job, [MDEV, 'tun1'])], [pod1, job]);
    expect(consumerOf(consumers, MDEV)).to.deep.equal({ kind: 'Pod', namespace: 'tenant-a', name: 'some-job', uid: 'pod-uid-job' });
    expect(consumers.size).to.equal(1);
    expect(unresolved).to.deep.equal([]);
  });

  it('lists devices of pods the pod cache does not know as unresolved (holder unknown), not as free or as a VMI', () => {
    const stranger = { namespace: 'tenant-a', name: 'not-cached' };
    const { consumers, unresolved } = mapDeviceConsumers([held(stranger, [MDEV, 'tun1'])], [pod1]);
    expect(consumers.size).to.equal(0);
    expect(unresolved).to.deep.equal([{ deviceId: MDEV, namespace: 'tenant-a', pod: 'not-cached' }]);
  });

  it('matches pods by namespace and pod name together', () => {
    const sameNameOtherNs = { namespace: 'tenant-z', name: vm1.podName };
    const { consumers, unresolved } = mapDeviceConsumers([held(sameNameOtherNs, [MDEV])], [pod1]);
    expect(consumers.size).to.equal(0);
    expect(unresolved).to.have.length(1);
  });

  it('maps a DRA claim device through its ResourceSlice mdevUUID or pciBusID attribute, or a UUID device name', () => {
    const slice = (driver: string, generation: number, devices: Record<string, Record<string, { string: string }>>) =>
      parseResourceSlice({ spec: { driver, pool: { name: 'node-1', generation, resourceSliceCount: 1 }, nodeName: 'node-1', devices: Object.entries(devices).map(([name, attributes]) => ({ name, attributes })) } });
    const ids = claimDeviceIds([
      slice('gpu.example.com', 2, { 'vgpu-0': { mdevUUID: { string: MDEV.toUpperCase() } }, 'vf-0': { 'resource.kubernetes.io/pciBusID': { string: VF } } }),
      slice('gpu.example.com', 1, { 'vgpu-9': { mdevUUID: { string: '11111111-2222-4333-8444-555555555555' } } }), // older generation: ignored
      slice('q.example.com', 1, { 'dev-a': { 'q.example.com/mdevUUID': { string: '0a0b0c0d-1111-4222-8333-444455556666' } }, 'dev-b': { model: { string: 'x' } } }),
    ].flatMap((s) => (s ? [s] : [])));
    const { consumers, unmappedClaims } = mapDeviceConsumers(
      [
        claimed(pod1, 'gpu.example.com', 'vgpu-0'),
        claimed(pod2, 'gpu.example.com', 'vf-0'),
        claimed(job, 'q.example.com', 'dev-a'),
        claimed(job, 'named.example.com', '7e57ab1e-0000-4000-8000-000000000001'),
        claimed(job, 'q.example.com', 'dev-b'),
        claimed(job, 'gpu.example.com', 'vgpu-9'),
      ],
      [pod1, pod2, job],
      new Map(),
      ids,
    );
    expect(consumerOf(consumers, MDEV)).to.deep.equal(consumer1);
    expect(consumerOf(consumers, VF)).to.deep.equal(consumer2);
    expect(consumerOf(consumers, '0a0b0c0d-1111-4222-8333-444455556666')?.kind).to.equal('Pod');
    expect(consumerOf(consumers, '7e57ab1e-0000-4000-8000-000000000001')?.name).to.equal('some-job');
    expect(consumers.size).to.equal(4);
    expect(unmappedClaims.map((c) => c.device)).to.deep.equal(['dev-b', 'vgpu-9']);
  });

  it('keeps the first consumer and reports a conflict when two VMIs claim one device', () => {
    const { consumers, conflicts } = mapDeviceConsumers([held(pod1, [MDEV]), held(pod2, [MDEV.toUpperCase()])], [pod1, pod2]);
    expect(consumerOf(consumers, MDEV)).to.deep.equal(consumer1);
    expect(conflicts).to.deep.equal([{ deviceId: MDEV, kept: consumer1, dropped: consumer2 }]);
  });

  it('does not call one VMI holding a device from two containers a conflict', () => {
    const { conflicts, consumers } = mapDeviceConsumers([held(pod1, [MDEV]), held(pod1, [MDEV], 'sidecar')], [pod1]);
    expect(conflicts).to.deep.equal([]);
    expect(consumers.size).to.equal(1);
  });

  it('finds a UUID whatever letter case plugin and caller use (property)', () => {
    const uuid = fc.uuid().map((u) => u.toLowerCase());
    const casing = fc.array(fc.boolean(), { minLength: 36, maxLength: 36 });
    const recase = (s: string, flips: boolean[]) => [...s].map((c, i) => (flips[i] ? c.toUpperCase() : c)).join('');
    fc.assert(
      fc.property(uuid, casing, casing, (id, reported, asked) => {
        const { consumers } = mapDeviceConsumers([held(pod1, [recase(id, reported)])], [pod1]);
        return consumerOf(consumers, recase(id, asked))?.uid === 'uid-1' && canonicalDeviceId(recase(id, asked)) === id;
      }),
    );
  });
});

describe('virt-launcher pod → VMI', () => {
  const base: PodMeta = { namespace: 'tenant-a', name: 'virt-launcher-vm1-abcde' };
  const launcherLabels = { 'kubevirt.io': 'virt-launcher', 'kubevirt.io/created-by': 'uid-1' };

  it('prefers the controller owner reference to the VMI', () => {
    const pod: PodMeta = {
      ...base,
      labels: { ...launcherLabels, 'vm.kubevirt.io/name': 'hostname-not-name' },
      ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', name: 'vm1', uid: 'uid-1', controller: true }],
    };
    expect(launcherFromPod(pod)).to.deep.equal(vm1);
  });

  it('falls back to the created-by label and the domain annotation', () => {
    const pod: PodMeta = { ...base, labels: { ...launcherLabels, 'vm.kubevirt.io/name': 'custom-hostname' }, annotations: { 'kubevirt.io/domain': 'vm1' } };
    expect(launcherFromPod(pod)).to.deep.equal(vm1);
  });

  it('uses the vm.kubevirt.io/name label only when nothing better is there', () => {
    const pod: PodMeta = { ...base, labels: { ...launcherLabels, 'vm.kubevirt.io/name': 'vm1' } };
    expect(launcherFromPod(pod)).to.deep.equal(vm1);
  });

  it('ignores pods that are not virt-launcher pods or lack the VMI uid', () => {
    expect(launcherFromPod({ ...base, labels: { app: 'web' } })).to.equal(undefined);
    expect(launcherFromPod({ ...base, labels: { 'kubevirt.io': 'virt-launcher' }, annotations: { 'kubevirt.io/domain': 'vm1' } })).to.equal(undefined);
    const notController: PodMeta = {
      ...base,
      ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', name: 'vm1', uid: 'uid-1' }],
    };
    expect(launcherFromPod(notController)).to.equal(undefined);
  });
});
