// Which device requests of a VMI name a mediated device type the cluster knows: resource names
// reduced to keys as KubeVirt and the vGPU device plugins spell them, from the MdevDevices' types.
import { expect } from 'chai';
import type { MdevDevice, MdevNode } from '../../../src/api/v1alpha1/index.ts';
import type { Informer, InformerHandlers } from '../../../src/kube/informer.ts';
import type { Vmi } from '../../../src/kubevirt/types.ts';
import { informerVmiLookup, mdevResourceKey, MdevTypeIndex } from '../../../src/webhook/vmi-lookup.ts';

function device(name: string, type: { id: string; name?: string }, consumerUid?: string): MdevDevice {
  return {
    apiVersion: 'mdev-operator.io/v1alpha1',
    kind: 'MdevDevice',
    metadata: { name },
    spec: { nodeName: 'w1', id: '00000000-0000-4000-8000-000000000001', kind: 'mdev', type, parent: { address: '0000:41:00.0' } },
    ...(consumerUid ? { status: { consumer: { kind: 'VirtualMachineInstance', namespace: 'vms', name: 'x', uid: consumerUid } } } : {}),
  } as MdevDevice;
}

/** Just enough of an Informer: a list and the handlers, driven by the test. */
function fakeInformer<T>(items: T[], key: (t: T) => string): Informer<T> & { emit: InformerHandlers<T> } {
  const handlers: InformerHandlers<T>[] = [];
  const map = new Map(items.map((i) => [key(i), i]));
  const fake = {
    hasSynced: () => true,
    get: (k: string) => map.get(k),
    list: () => [...map.values()],
    addHandlers: (h: InformerHandlers<T>) => {
      handlers.push(h);
      for (const i of map.values()) h.add?.(i);
      return () => undefined;
    },
    emit: {
      add: (o: T) => (map.set(key(o), o), handlers.forEach((h) => h.add?.(o))),
      update: (a: T, b: T) => (map.set(key(b), b), handlers.forEach((h) => h.update?.(a, b))),
      delete: (o: T) => (map.delete(key(o)), handlers.forEach((h) => h.delete?.(o))),
    },
  };
  return fake as unknown as Informer<T> & { emit: InformerHandlers<T> };
}

function vmi(name: string, uid: string, gpus: string[], hostDevices: string[] = []): Vmi {
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachineInstance',
    metadata: { name, namespace: 'vms', uid },
    spec: { domain: { devices: { gpus: gpus.map((d, i) => ({ name: `gpu${i}`, deviceName: d })), hostDevices: hostDevices.map((d, i) => ({ name: `hd${i}`, deviceName: d })) } } },
    status: { phase: 'Running', nodeName: 'w1' },
  } as Vmi;
}

describe('mediated device resource names (webhook fail-closed check)', () => {
  it('reduces a type name to the resource-name key KubeVirt and the vGPU device plugins use', () => {
    expect(mdevResourceKey('GRID T4-1Q')).to.equal('GRID_T4-1Q');
    expect(mdevResourceKey('NVIDIA H100-4C')).to.equal('NVIDIA_H100-4C');
    expect(mdevResourceKey('i915-GVTg_V5_4')).to.equal('i915-GVTg_V5_4');
  });

  it('knows a resource name while some MdevDevice has that type (by name or id), and forgets it with the last one', () => {
    const devices = fakeInformer([device('a', { id: 'nvidia-1012', name: 'NVIDIA H100-4C' })], (d) => d.metadata.name);
    const index = new MdevTypeIndex(devices);
    expect(index.isMdevResource('nvidia.com/NVIDIA_H100-4C')).to.equal(true);
    expect(index.isMdevResource('example.com/nvidia-1012'), 'by type id too').to.equal(true);
    expect(index.isMdevResource('nvidia.com/GH100_H100_PCIE'), 'a whole-GPU passthrough resource').to.equal(false);
    expect(index.isMdevResource('devices.kubevirt.io/kvm')).to.equal(false);
    devices.emit.add?.(device('b', { id: 'nvidia-1012', name: 'NVIDIA H100-4C' }));
    devices.emit.delete?.(device('a', { id: 'nvidia-1012', name: 'NVIDIA H100-4C' }));
    expect(index.isMdevResource('nvidia.com/NVIDIA_H100-4C'), 'b still has it').to.equal(true);
    devices.emit.delete?.(device('b', { id: 'nvidia-1012', name: 'NVIDIA H100-4C' }));
    expect(index.isMdevResource('nvidia.com/NVIDIA_H100-4C')).to.equal(false);
  });

  it('knows the types a node reports it can create (MdevNode capacity) before any device of them exists', () => {
    const devices = fakeInformer<MdevDevice>([], (d) => d.metadata.name);
    const node = { apiVersion: 'mdev-operator.io/v1alpha1', kind: 'MdevNode', metadata: { name: 'w1' }, spec: { nodeName: 'w1', backend: 'simulated', capacity: [{ parent: { address: '0000:41:00.0' }, type: { id: 'nvidia-1013', name: 'GRID T4-1Q' }, availableInstances: 4, migratable: true }] } } as MdevNode;
    const nodes = fakeInformer<MdevNode>([node], (n) => n.metadata.name);
    const index = new MdevTypeIndex(devices, nodes);
    expect(index.isMdevResource('nvidia.com/GRID_T4-1Q')).to.equal(true);
    nodes.emit.delete?.(node);
    expect(index.isMdevResource('nvidia.com/GRID_T4-1Q')).to.equal(false);
  });

  it('lists a VMI\'s mediated-device requests (gpus and hostDevices, by position) and its published devices', async () => {
    const devices = fakeInformer([device('w1.a', { id: 'nvidia-1012', name: 'NVIDIA H100-4C' }, 'uid-2')], (d) => d.metadata.name);
    const vmis = fakeInformer([vmi('v1', 'uid-1', ['nvidia.com/GH100', 'nvidia.com/NVIDIA_H100-4C'], ['nvidia.com/NVIDIA_H100-4C']), vmi('v2', 'uid-2', ['nvidia.com/NVIDIA_H100-4C'])], (v) => `vms/${v.metadata.name}`);
    const lookup = informerVmiLookup(vmis, devices, { fetchVmi: async (_ns, name) => (name === 'fresh' ? vmi('fresh', 'uid-3', ['nvidia.com/NVIDIA_H100-4C']) : undefined) });
    expect(lookup.lookup('vms', 'v1')).to.deep.include({ deviceNames: [], mdevRequests: ['gpus[1] gpu1 (nvidia.com/NVIDIA_H100-4C)', 'hostDevices[0] hd0 (nvidia.com/NVIDIA_H100-4C)'] });
    expect(lookup.lookup('vms', 'v2')).to.deep.include({ deviceNames: ['w1.a'] });
    expect(lookup.lookup('vms', 'fresh')).to.equal(undefined);
    expect((await lookup.fetch?.('vms', 'fresh'))?.mdevRequests).to.deep.equal(['gpus[0] gpu0 (nvidia.com/NVIDIA_H100-4C)']);
  });
});
