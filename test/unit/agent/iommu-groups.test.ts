import { expect } from 'chai';
import { iommuGroupsOf } from '../../../src/agent/iommu-groups.ts';
import { mapDeviceConsumers } from '../../../src/agent/podresources/consumers.ts';
import type { LauncherPod, NodePod } from '../../../src/agent/podresources/types.ts';
import { discover } from '../../../src/sysfs/discovery.ts';
import type { FakeTree } from '../../../dev/fakes/sysfs/fake-tree.ts';
import { NV_VF, UUID_GVT, UUID_NV, buildThreeVendorTree } from '../sysfs/fixtures.ts';

const launcher: LauncherPod = { namespace: 'vms', podName: 'virt-launcher-vm-a-x', vmiName: 'vm-a', vmiUid: 'uid-a' };
const launcherPod: NodePod = { namespace: 'vms', name: launcher.podName, uid: 'pod-uid-a', launcher };

describe('agent IOMMU group table for group-number device ids (KubeVirt device plugin stand-in data)', () => {
  let tree: FakeTree;
  beforeEach(() => { tree = buildThreeVendorTree(); });
  afterEach(() => tree.dispose());

  it('maps each discovered group number to the devices in it, leaving out devices without one', () => {
    const groups = iommuGroupsOf([
      { id: 'a', iommuGroup: '17' }, { id: 'b' }, { id: 'c', iommuGroup: '17' }, { id: 'd', iommuGroup: '3' },
    ]);
    expect([...groups]).to.deep.equal([['17', ['a', 'c']], ['3', ['d']]]);
  });

  it('marks the device in group N used by the VMI whose launcher pod holds device id "N"', () => {
    const devices = discover(tree.layout).devices;
    const nvGroup = devices.find((d) => d.id === UUID_NV)?.iommuGroup;
    const vfGroup = devices.find((d) => d.id === NV_VF)?.iommuGroup;
    expect(nvGroup).to.be.a('string');
    const podDevices = [{ namespace: 'vms', pod: launcher.podName, container: 'compute', resourceName: 'devices.kubevirt.io/mdev', deviceIds: [nvGroup as string, vfGroup as string] }];
    const { consumers, unresolved } = mapDeviceConsumers(podDevices, [launcherPod], iommuGroupsOf(devices));
    expect([...consumers.keys()].sort()).to.deep.equal([UUID_NV, NV_VF].sort());
    expect(consumers.get(UUID_NV)).to.deep.equal({ kind: 'VirtualMachineInstance', namespace: 'vms', name: 'vm-a', uid: 'uid-a' });
    expect(consumers.has(UUID_GVT)).to.equal(false);
    expect(unresolved).to.deep.equal([]);
  });

  it('leaves a group number no discovered device has unmatched', () => {
    const devices = discover(tree.layout).devices;
    const { consumers } = mapDeviceConsumers([{ namespace: 'vms', pod: launcher.podName, container: 'compute', resourceName: 'devices.kubevirt.io/mdev', deviceIds: ['999'] }], [launcherPod], iommuGroupsOf(devices));
    expect(consumers.size).to.equal(0);
  });
});
