import { expect } from 'chai';
import fc from 'fast-check';
import { desiredHashes, observedSummary, canonicalJson } from '../../../src/agent/applied-content.ts';
import { desiredDevice, desiredNode, typeLabelValue, specBody, statusBody, type DesiredInput, type DesiredObject } from '../../../src/agent/desired-state.ts';
import { LABEL_NODE, LABEL_TYPE, LABEL_VERSION_HASH, validateObject, versionHash } from '../../../src/api/v1alpha1/index.ts';
import type { DiscoveredDevice, TypeCapacity } from '../../../src/sysfs/inventory.ts';

/** Every object one inventory pass publishes, as the agent's pass builds them (device by device, then the node). */
function desiredState(input: DesiredInput): { devices: DesiredObject[]; node: DesiredObject } {
  return { devices: input.devices.map((r) => desiredDevice(input, r)), node: desiredNode(input) };
}

const UUID = '6f1c2a0e-1b7d-4c55-9a43-2f4c1f0c9e11';
const parent = { address: '0000:41:00.0', vendorId: '10de', deviceId: '2331', driver: 'nvidia' };
const type = { id: 'nvidia-1012', name: 'GRID H100-4C', deviceApi: 'vfio-pci' };
const device: DiscoveredDevice = { kind: 'mdev', id: UUID, parent, type, creationParams: [{ key: 'agg', value: '2' }], sysfsPath: '/x' };
const vf: DiscoveredDevice = { kind: 'vfio-pci', id: '0000:41:00.4', parent: { address: '0000:41:00.4' }, type: { id: 'nvidia-12' }, creationParams: [], sysfsPath: '/y' };
const slot: TypeCapacity = { parent, type, availableInstances: 3 };
const V = 'nv1;board=H100;type=nvidia-1012;host=550.54.15;vgpu=0x12';

function input(over: Partial<DesiredInput> = {}): DesiredInput {
  return {
    nodeName: 'worker-1',
    nodeUid: 'node-uid',
    backend: 'sysfs',
    devices: [
      { device, version: { migratable: true, version: V } },
      { device: vf, version: { migratable: false, reason: 'attribute migration_version absent' } },
    ],
    capacity: [{ capacity: slot, version: { migratable: true, version: V } }],
    consumers: new Map([[UUID, { kind: 'VirtualMachineInstance', namespace: 'vms', name: 'vm-a', uid: 'vmi-uid' }]]),
    ...over,
  };
}

/** What the API server would return for the applied bodies (plus fields others own). */
function asServerObject(obj: ReturnType<typeof desiredState>['devices'][number]): unknown {
  const main = specBody(obj) as { metadata: Record<string, unknown> };
  return {
    ...main,
    metadata: { ...main.metadata, uid: 'x', resourceVersion: '7', labels: { ...(main.metadata.labels as object), foreign: 'y' }, managedFields: [{}] },
    status: { ...(statusBody(obj).status as object), reservation: { targetNode: 'worker-1' } },
  };
}

describe('desired state (inventory → MdevDevice and MdevNode objects)', () => {
  it('builds valid MdevDevices with labels, the Node owner, the consumer and the version', () => {
    const state = desiredState(input());
    const [gpu, fn] = state.devices.sort((a, b) => String(a.spec.kind).localeCompare(String(b.spec.kind)));
    expect(gpu?.metadata).to.deep.equal({
      name: `worker-1.${UUID}`,
      labels: { [LABEL_NODE]: 'worker-1', [LABEL_TYPE]: 'nvidia-1012', [LABEL_VERSION_HASH]: versionHash(V) },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: 'worker-1', uid: 'node-uid' }],
    });
    expect(gpu?.spec).to.deep.equal({ nodeName: 'worker-1', id: UUID, kind: 'mdev', type, parent, creationParams: [{ key: 'agg', value: '2' }] });
    expect(gpu?.status).to.deep.equal({
      migrationVersion: V, migratable: true, backend: 'sysfs',
      consumer: { kind: 'VirtualMachineInstance', namespace: 'vms', name: 'vm-a', uid: 'vmi-uid' },
    });
    expect(fn?.metadata.name).to.equal('worker-1.0000-41-00.4');
    expect(fn?.metadata.labels[LABEL_VERSION_HASH]).to.equal(undefined);
    expect(fn?.status).to.deep.equal({ migratable: false, reason: 'attribute migration_version absent', backend: 'sysfs' });
    for (const d of state.devices) {
      const check = validateObject('MdevDevice', { ...specBody(d), status: statusBody(d).status });
      expect(check.ok, JSON.stringify(check)).to.equal(true);
    }
  });

  it('builds a valid MdevNode with capacity and omits the owner when the Node uid is unknown', () => {
    const { node } = desiredState(input({ nodeUid: undefined }));
    expect(node.metadata.ownerReferences).to.equal(undefined);
    expect(node.spec).to.deep.equal({
      nodeName: 'worker-1', backend: 'sysfs',
      capacity: [{ parent, type, availableInstances: 3, migrationVersion: V, migratable: true }],
    });
    expect(validateObject('MdevNode', specBody(node)).ok).to.equal(true);
  });

  it('says which kind a device\'s string is when the backend tells them apart (nvml); capacity entries stay class keys', () => {
    const inst = 'nvml-vgpu.1.AAAA';
    const cls = 'nvml-pgpu.1.BBBB.nvidia-1012';
    const state = desiredState(input({
      backend: 'nvml',
      devices: [{ device, version: { migratable: true, version: inst, kind: 'Instance' } }],
      capacity: [{ capacity: slot, version: { migratable: true, version: cls, kind: 'Class' } }],
    }));
    const [gpu] = state.devices;
    expect(gpu?.status).to.deep.include({ migrationVersion: inst, versionKind: 'Instance', backend: 'nvml' });
    expect(state.node.spec.capacity).to.deep.equal([{ parent, type, availableInstances: 3, migrationVersion: cls, migratable: true }]);
    expect(validateObject('MdevDevice', { ...specBody(gpu!), status: statusBody(gpu!).status }).ok).to.equal(true);
    const asClass = desiredState(input({ devices: [{ device, version: { migratable: true, version: inst, kind: 'Class' } }] })).devices[0]!;
    expect(desiredHashes(asClass).status, 'a change of kind alone is a change to publish').to.not.equal(desiredHashes(gpu!).status);
  });

  it('makes type labels label-safe', () => {
    expect(typeLabelValue('nvidia-1012')).to.equal('nvidia-1012');
    expect(typeLabelValue('vendor:type+x')).to.match(/^t-[0-9a-f]{16}$/);
    expect(typeLabelValue('a'.repeat(100))).to.match(/^t-[0-9a-f]{16}$/);
  });

  it('hashes a desired object and its server copy alike, ignoring fields others own', () => {
    for (const obj of desiredState(input()).devices) {
      const observed = observedSummary(asServerObject(obj), true);
      const want = desiredHashes(obj);
      expect(observed?.main).to.equal(want.main);
      expect(observed?.status).to.equal(want.status);
    }
  });

  it('sees a change of any owned field (consumer, version, owner, labels)', () => {
    const gpuOf = (i: DesiredInput) => desiredHashes(desiredState(i).devices.find((d) => d.spec.id === UUID)!);
    const base = gpuOf(input());
    const freed = gpuOf(input({ consumers: new Map() }));
    const orphan = gpuOf(input({ nodeUid: undefined }));
    expect(freed.main).to.equal(base.main);
    expect(freed.status).to.not.equal(base.status);
    expect(orphan.main).to.not.equal(base.main);
  });

  it('canonical JSON ignores key order and undefined values (property)', () => {
    fc.assert(fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (obj) => {
      const reversed = Object.fromEntries(Object.entries(obj).reverse());
      expect(canonicalJson({ ...reversed, extra: undefined })).to.equal(canonicalJson(obj));
    }));
  });
});
