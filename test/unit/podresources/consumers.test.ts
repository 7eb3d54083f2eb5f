import { expect } from 'chai';
import fc from 'fast-check';
import {
  canonicalDeviceId,
  consumerOf,
  launcherFromPod,
  mapDeviceConsumers,
  type PodMeta,
} from '../../../src/agent/podresources/consumers.ts';
import type { LauncherPod, PodDevices } from '../../../src/agent/podresources/types.ts';

const MDEV = '3b1e7c1a-5f0e-4b8a-9d2c-0a1b2c3d4e5f';
const VF = '0000:81:00.2';

const vm1: LauncherPod = { namespace: 'tenant-a', podName: 'virt-launcher-vm1-abcde', vmiName: 'vm1', vmiUid: 'uid-1' };
const vm2: LauncherPod = { namespace: 'tenant-b', podName: 'virt-launcher-vm2-fghij', vmiName: 'vm2', vmiUid: 'uid-2' };
const consumer1 = { kind: 'VirtualMachineInstance', namespace: 'tenant-a', name: 'vm1', uid: 'uid-1' } as const;
const consumer2 = { kind: 'VirtualMachineInstance', namespace: 'tenant-b', name: 'vm2', uid: 'uid-2' } as const;

function held(launcherOrPod: { namespace: string; podName: string }, deviceIds: string[], container = 'compute'): PodDevices {
  return { namespace: launcherOrPod.namespace, pod: launcherOrPod.podName, container, resourceName: 'r/x', deviceIds };
}

describe('device consumer mapping (PodResources × virt-launcher pods)', () => {
  it('maps an mdev UUID and a VF PCI address to the VMI whose launcher holds them, in any case', () => {
    const { consumers, unattributed, conflicts } = mapDeviceConsumers(
      [held(vm1, [MDEV.toUpperCase(), 'kvm0']), held(vm2, ['0000:81:00.2'.toUpperCase()])],
      [vm1, vm2],
    );
    expect([...consumers.keys()].sort()).to.deep.equal([VF, MDEV].sort());
    expect(consumerOf(consumers, MDEV)).to.deep.equal(consumer1);
    expect(consumerOf(consumers, MDEV.toUpperCase())).to.deep.equal(consumer1);
    expect(consumerOf(consumers, VF)).to.deep.equal(consumer2);
    expect(unattributed).to.deep.equal([]);
    expect(conflicts).to.deep.equal([]);
  });

  it('resolves IOMMU-group ids (KubeVirt and NVIDIA plugins) through the node group table', () => {
    const groups = new Map([
      ['45', [MDEV]],
      ['46', ['0000:81:00.4', '0000:81:00.5']],
    ]);
    const { consumers } = mapDeviceConsumers([held(vm1, ['45']), held(vm2, ['46', '99'])], [vm1, vm2], groups);
    expect(consumerOf(consumers, MDEV)).to.deep.equal(consumer1);
    expect(consumerOf(consumers, '0000:81:00.4')).to.deep.equal(consumer2);
    expect(consumerOf(consumers, '0000:81:00.5')).to.deep.equal(consumer2);
    expect(consumers.size).to.equal(3);
  });

  it('leaves group numbers unresolved without a table, and never guesses at prefixed ids', () => {
    const { consumers } = mapDeviceConsumers([held(vm1, ['45', `pci-${VF}`, `GPU-${MDEV}`, '0000:81:00', ''])], [vm1]);
    expect(consumers.size).to.equal(0);
  });

  it('lists devices of pods that are not known launchers as unattributed, not as VMI consumers', () => {
    const stranger = { namespace: 'tenant-a', podName: 'some-job' };
    const { consumers, unattributed } = mapDeviceConsumers([held(stranger, [MDEV, 'tun1'])], [vm1]);
    expect(consumers.size).to.equal(0);
    expect(unattributed).to.deep.equal([{ deviceId: MDEV, namespace: 'tenant-a', pod: 'some-job' }]);
  });

  it('matches launchers by namespace and pod name together', () => {
    const sameNameOtherNs = { namespace: 'tenant-z', podName: vm1.podName };
    const { consumers, unattributed } = mapDeviceConsumers([held(sameNameOtherNs, [MDEV])], [vm1]);
    expect(consumers.size).to.equal(0);
    expect(unattributed).to.have.length(1);
  });

  it('keeps the first VMI and reports a conflict when two VMIs claim one device', () => {
    const { consumers, conflicts } = mapDeviceConsumers([held(vm1, [MDEV]), held(vm2, [MDEV.toUpperCase()])], [vm1, vm2]);
    expect(consumerOf(consumers, MDEV)).to.deep.equal(consumer1);
    expect(conflicts).to.deep.equal([{ deviceId: MDEV, kept: consumer1, dropped: consumer2 }]);
  });

  it('does not call one VMI holding a device from two containers a conflict', () => {
    const { conflicts, consumers } = mapDeviceConsumers([held(vm1, [MDEV]), held(vm1, [MDEV], 'sidecar')], [vm1]);
    expect(conflicts).to.deep.equal([]);
    expect(consumers.size).to.equal(1);
  });

  it('finds a UUID whatever letter case plugin and caller use (property)', () => {
    const uuid = fc.uuid().map((u) => u.toLowerCase());
    const casing = fc.array(fc.boolean(), { minLength: 36, maxLength: 36 });
    const recase = (s: string, flips: boolean[]) => [...s].map((c, i) => (flips[i] ? c.toUpperCase() : c)).join('');
    fc.assert(
      fc.property(uuid, casing, casing, (id, reported, asked) => {
        const { consumers } = mapDeviceConsumers([held(vm1, [recase(id, reported)])], [vm1]);
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
