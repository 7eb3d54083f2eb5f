// What the controller's informers keep (src/controller/cached-objects.ts, cachedVmi/cachedVmim):
// every field a decision, the webhook or a status write reads survives the projection, what nobody
// reads does not, and code reads cached objects only through their declared fields (a cast would
// read past the projection unnoticed). The decision and snapshot tests run on projected objects too
// (fixtures.ts: view() and vmi()).
import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../../dev/localcluster/paths.ts';
import { SCHEMAS, type MdevMigration, type MdevProbe } from '../../../src/api/v1alpha1/index.ts';
import { cachedDevice, cachedMdevNode, StringPool } from '../../../src/controller/cached-objects.ts';
import { toCapacity, toDevice, toSourceVm } from '../../../src/controller/snapshot.ts';
import { isOwnedBy } from '../../../src/controller/vmim-driver.ts';
import { declaredFieldsOnly, unreadableFields } from '../../../src/kube/lenient-decode.ts';
import { cachedVmi, cachedVmim, parseVmi, parseVmim, unreadablePlacementField } from '../../../src/kubevirt/types.ts';
import { device, mdevNode } from './fixtures.ts';

const served = (o: object): unknown => JSON.parse(JSON.stringify(o)) as unknown;

/** A VMI roughly as KubeVirt v1.9 serves it: placement fields among many the operator never reads. */
function kubevirtVmi(extraSpec: Record<string, unknown> = {}): unknown {
  return served({
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachineInstance',
    metadata: {
      name: 'vm-a', namespace: 'vms', uid: 'uid-vm-a', resourceVersion: '42', generation: 3, creationTimestamp: '2026-01-01T00:00:00Z',
      labels: { 'kubevirt.io/nodeName': 'n1', 'vm.kubevirt.io/name': 'vm-a' }, annotations: { 'kubevirt.io/latest-observed-api-version': 'v1' },
      finalizers: ['kubevirt.io/virtualMachineControllerFinalize'], ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name: 'vm-a', uid: 'uid-vm', controller: true }],
    },
    spec: {
      nodeSelector: { 'gpu': 'h100' },
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'vms', effect: 'NoSchedule' }],
      affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }] } } },
      architecture: 'amd64',
      domain: {
        cpu: { model: 'host-model', cores: 4 },
        resources: { requests: { memory: '16Gi' } },
        devices: { gpus: [{ name: 'gpu1', deviceName: 'nvidia.com/GRID_H100-4C' }], disks: [{ name: 'root', disk: { bus: 'virtio' } }], interfaces: [{ name: 'default', masquerade: {} }] },
        firmware: { uuid: 'f0f0' },
      },
      networks: [{ name: 'default', pod: {} }],
      volumes: [{ name: 'root', containerDisk: { image: 'quay.io/containerdisks/fedora:40' } }],
      ...extraSpec,
    },
    status: {
      phase: 'Running', nodeName: 'n1',
      conditions: [{ type: 'LiveMigratable', status: 'True' }, { type: 'Ready', status: 'True' }],
      migrationState: { migrationUid: 'uid-vmim-1', sourceNode: 'n0', targetNode: 'n1', completed: true },
      interfaces: [{ ipAddress: '10.0.0.7', mac: '52:54:00:00:00:01', name: 'default' }],
      guestOSInfo: { id: 'fedora', name: 'Fedora Linux' }, volumeStatus: [{ name: 'root', target: 'vda' }],
      launcherContainerImageVersion: 'quay.io/kubevirt/virt-launcher:v1.9.0',
    },
  });
}

describe('cached objects: what the informers keep', () => {
  it('a device keeps what placement, claims, settling and the webhook read, and drops the rest', () => {
    const full = device('n1', 1, 'nv;550', { consumer: 'vm', typeName: 'GRID H100-4C' });
    const strings = new StringPool();
    const kept = cachedDevice(full, strings);
    expect(kept).to.deep.equal({
      metadata: { name: full.metadata.name, resourceVersion: '1' },
      spec: { nodeName: 'n1', type: { id: 'nvidia-1012', name: 'GRID H100-4C' }, parent: { address: '0000:41:00.0' } },
      status: { migratable: true, migrationVersion: 'nv;550', consumer: full.status?.consumer },
    });
    expect(toDevice(kept), 'the engine sees the same device').to.deep.equal(toDevice(full));
    cachedDevice(device('n2', 2, 'nv;550'), strings);
    expect(strings.size, 'the two node names, type id and name, parent and version, each held once').to.equal(6);
  });

  it('an MdevNode keeps its capacity as placement reads it and every claim whole (claims are written back as a list)', () => {
    const full = mdevNode('n1', [['m1', 'nvidia-1012', 1]]);
    full.spec.capacity = [{ parent: { address: '0000:41:00.0', vendorId: '10de', deviceId: '2331', driver: 'nvidia' }, type: { id: 'nvidia-1012', name: 'GRID H100-4C', deviceApi: 'vfio-pci' }, availableInstances: 3, migratable: true, migrationVersion: 'nv;550' }];
    const kept = cachedMdevNode(full, new StringPool());
    expect(kept.status?.claims).to.deep.equal(full.status?.claims);
    expect(toCapacity(kept)).to.deep.equal(toCapacity(full));
    expect(kept.spec.capacity?.[0]?.parent).to.deep.equal({ address: '0000:41:00.0' });
  });

  it('a VMI keeps its placement fields, identity and migration state, and none of its disks, interfaces or guest info', () => {
    const decoded = parseVmi(kubevirtVmi());
    if (!decoded) throw new Error('the VMI does not decode');
    const kept = cachedVmi(decoded);
    expect(toSourceVm(kept), 'placement reads the same VMI').to.deep.equal(toSourceVm(decoded));
    expect(kept.status).to.deep.equal({ phase: 'Running', nodeName: 'n1', conditions: decoded.status?.conditions, migrationState: decoded.status?.migrationState });
    expect(kept.spec.domain).to.deep.equal({ cpu: { model: 'host-model' }, devices: { gpus: [{ name: 'gpu1', deviceName: 'nvidia.com/GRID_H100-4C' }] } });
    expect(kept.spec).to.not.have.any.keys('volumes', 'networks');
    expect(kept.metadata).to.not.have.property('finalizers');
    expect(JSON.stringify(kept).length, 'smaller than what KubeVirt sent').to.be.below(JSON.stringify(decoded).length * 0.7);
  });

  it('a VMI whose placement field could not be decoded still names it after the projection (lenient decoding)', () => {
    const decoded = parseVmi(kubevirtVmi({ tolerations: 'not-a-list' }));
    if (!decoded) throw new Error('the VMI does not decode');
    const kept = cachedVmi(decoded);
    expect(unreadableFields(kept)).to.deep.equal(['spec.tolerations']);
    expect(unreadablePlacementField(kept)?.field).to.equal('spec.tolerations');
  });

  it('a VMIM keeps the owner reference, annotations and phase the reconciler and webhook read', () => {
    const decoded = parseVmim(served({
      apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstanceMigration',
      metadata: { name: 'mig-1', namespace: 'vms', uid: 'uid-vmim', annotations: { 'mdev-operator.io/migration': 'm1' }, ownerReferences: [{ apiVersion: 'mdev-operator.io/v1alpha1', kind: 'MdevMigration', name: 'm1', uid: 'uid-m1', controller: true, blockOwnerDeletion: true }], finalizers: ['kubevirt.io/migrationJobFinalize'] },
      spec: { vmiName: 'vm-a', addedNodeSelector: { 'kubernetes.io/hostname': 'n2' } },
      status: { phase: 'Running', migrationState: { targetNode: 'n2', targetPod: 'virt-launcher-vm-a-x' }, phaseTransitionTimestamps: [{ phase: 'Pending', phaseTransitionTimestamp: '2026-01-01T00:00:00Z' }], synchronizationAddresses: ['10.0.0.9'] },
    }));
    if (!decoded) throw new Error('the VMIM does not decode');
    const kept = cachedVmim(decoded);
    expect(isOwnedBy(kept, 'uid-m1')).to.equal(true);
    expect(kept.metadata.annotations).to.deep.equal({ 'mdev-operator.io/migration': 'm1' });
    expect(kept.status?.phase).to.equal('Running');
    expect(kept.status).to.not.have.property('synchronizationAddresses');
  });

  it('our other kinds keep their declared fields, creation and deletion times included, and drop undeclared metadata', () => {
    const probe = SCHEMAS.MdevProbe.parse(served({
      apiVersion: 'mdev-operator.io/v1alpha1', kind: 'MdevProbe',
      metadata: { name: 'n1.abc', generation: 2, creationTimestamp: '2026-01-01T00:00:00Z', finalizers: ['x'], selfLink: '/x' },
      spec: { nodeName: 'n1', typeId: 'nvidia-1012', sourceVersion: 'nv;550', devices: ['n1.d1'] },
    })) as MdevProbe;
    const kept = declaredFieldsOnly(SCHEMAS.MdevProbe, probe);
    expect(kept.metadata).to.deep.equal({ name: 'n1.abc', generation: 2, creationTimestamp: '2026-01-01T00:00:00Z' });
    expect(kept.spec).to.deep.equal(probe.spec);
    const m = SCHEMAS.MdevMigration.parse(served({
      apiVersion: 'mdev-operator.io/v1alpha1', kind: 'MdevMigration',
      metadata: { name: 'm1', namespace: 'vms', uid: 'u', deletionTimestamp: '2026-01-01T00:00:01Z', finalizers: ['f'] },
      spec: { vmiName: 'vm-a' },
    })) as MdevMigration;
    expect(declaredFieldsOnly(SCHEMAS.MdevMigration, m).metadata).to.deep.equal({ name: 'm1', namespace: 'vms', uid: 'u', deletionTimestamp: '2026-01-01T00:00:01Z' });
  });

  it('the controller and the webhook never read a cached object past its declared fields with a cast', () => {
    const files = ['src/controller', 'src/webhook'].flatMap((dir) => walk(join(REPO_ROOT, dir)));
    // Webhook configurations are built here, never cached.
    const notCached = new Set(['src/webhook/admission-service.ts']);
    const casts = files.filter((f) => !notCached.has(f.slice(REPO_ROOT.length + 1))).flatMap((file) => readFileSync(file, 'utf8').split('\n').flatMap((line, i) =>
      /\.(metadata|spec|status)\s+as\s+\{/.test(line) ? [`${file.slice(REPO_ROOT.length + 1)}:${i + 1}: ${line.trim()}`] : []));
    expect(casts, 'declare the field in the schema or the cached type instead').to.deep.equal([]);
  });
});

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}
