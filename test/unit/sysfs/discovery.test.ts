import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { discover } from '../../../src/sysfs/discovery.ts';
import { FakeTree } from '../../../dev/fakes/sysfs/fake-tree.ts';
import type { DiscoveredInventory } from '../../../src/sysfs/inventory.ts';
import { layoutForRoot } from '../../../src/sysfs/layout.ts';
import {
  ACCEL, GVT, MTTY, NV, NV_NVL, NV_VF, UUID_ACCEL_AGG1, UUID_ACCEL_AGG2, UUID_GVT, UUID_MTTY, UUID_NV, buildThreeVendorTree,
} from './fixtures.ts';

function device(inv: DiscoveredInventory, id: string) {
  const d = inv.devices.find((x) => x.id === id);
  if (!d) throw new Error(`device ${id} not discovered`);
  return d;
}

function capacityOf(inv: DiscoveredInventory, parent: string, typeId: string) {
  return inv.capacity.find((c) => c.parent.address === parent && c.type.id === typeId);
}

describe('sysfs discovery over a fake tree of several vendors', () => {
  let tree: FakeTree;
  beforeEach(() => { tree = buildThreeVendorTree(); });
  afterEach(() => tree.dispose());

  it('finds every mdev and the vendor-VFIO VF, and nothing else, without warnings', () => {
    const inv = discover(tree.layout);
    expect(inv.warnings).to.deep.equal([]);
    expect(inv.devices.map((d) => d.id).sort()).to.deep.equal(
      [UUID_GVT, UUID_NV, UUID_MTTY, UUID_ACCEL_AGG2, UUID_ACCEL_AGG1, NV_VF].sort(),
    );
  });

  it('reads the PCI identity, type fields and attribute path of a GVT mdev', () => {
    const d = device(discover(tree.layout), UUID_GVT);
    expect(d.kind).to.equal('mdev');
    expect(d.parent).to.deep.equal({ address: GVT, vendorId: '8086', deviceId: '591d', driver: 'i915' });
    expect(d.type).to.deep.equal({
      id: 'i915-GVTg_V5_4',
      name: 'GVTg_V5_4',
      description: 'low_gm_size: 128MB, high_gm_size: 512MB, fence: 4, resolution: 1920x1200, weight: 4',
      deviceApi: 'vfio-pci',
    });
    expect(d.sysfsPath).to.equal(path.join(tree.parentDir(GVT), UUID_GVT));
    expect(d.attrPath).to.equal(path.join(tree.parentDir(GVT), UUID_GVT, 'migration_version'));
    expect(readFileSync(d.attrPath ?? '', 'latin1')).to.equal('8086-591d-GVTg_V5_4-00000001\n');
  });

  it('keeps optional type fields absent and a class-device parent without PCI ids', () => {
    const d = device(discover(tree.layout), UUID_MTTY);
    expect(d.parent).to.deep.equal({ address: MTTY });
    expect(d.type).to.deep.equal({ id: 'mtty-2', name: 'Dual port serial', deviceApi: 'vfio-pci' });
  });

  it('takes ordered creation parameters from the mdevctl definitions', () => {
    const inv = discover(tree.layout);
    expect(device(inv, UUID_ACCEL_AGG2).creationParams).to.deep.equal([
      { key: 'qp', value: '64' }, { key: 'svc', value: 'sym+asym' }, { key: 'agg', value: '2' },
    ]);
    expect(device(inv, UUID_ACCEL_AGG1).creationParams).to.deep.equal([{ key: 'agg', value: '1' }]);
    expect(device(inv, UUID_NV).creationParams).to.deep.equal([]);
  });

  it('reports a VF with a vGPU type set as kind vfio-pci, and skips a VF whose type is 0', () => {
    const inv = discover(tree.layout);
    const vf = device(inv, NV_VF);
    expect(vf.kind).to.equal('vfio-pci');
    expect(vf.type).to.deep.equal({ id: 'nvidia-1012', deviceApi: 'vfio-pci' });
    expect(vf.parent).to.deep.equal({ address: NV_VF, vendorId: '10de', deviceId: '2331', driver: 'nvidia' });
    expect(vf.attrPath).to.match(/0000:41:00\.5\/migration_version$/);
    expect(inv.devices.filter((x) => x.kind === 'vfio-pci')).to.have.length(1);
  });

  it('reports spare capacity per parent and type, including the mtty shared port pool', () => {
    const inv = discover(tree.layout);
    expect(capacityOf(inv, GVT, 'i915-GVTg_V5_4')?.availableInstances).to.equal(3);
    expect(capacityOf(inv, NV, 'nvidia-1012')?.availableInstances).to.equal(0);
    expect(capacityOf(inv, NV_NVL, 'nvidia-1012')?.availableInstances).to.equal(1);
    expect(capacityOf(inv, MTTY, 'mtty-1')?.availableInstances).to.equal(22);
    expect(capacityOf(inv, MTTY, 'mtty-2')?.availableInstances).to.equal(11);
    expect(capacityOf(inv, ACCEL, 'hisi_acc-qm')?.availableInstances).to.equal(2);
    expect(inv.capacity).to.have.length(7);
  });

  it('gives a type without migration_version no attribute path, and its devices none either', () => {
    const uuid = '0bad0000-0000-4000-8000-000000000058';
    tree.addMdev(uuid, GVT, 'i915-GVTg_V5_8');
    const inv = discover(tree.layout);
    expect(capacityOf(inv, GVT, 'i915-GVTg_V5_8')?.typeAttrPath).to.equal(undefined);
    expect(capacityOf(inv, GVT, 'i915-GVTg_V5_4')?.typeAttrPath).to.match(/i915-GVTg_V5_4\/migration_version$/);
    expect(device(inv, uuid).attrPath).to.equal(undefined);
  });

  it('drops a removed mdev and gives its slot back', () => {
    tree.removeMdev(UUID_NV);
    const inv = discover(tree.layout);
    expect(inv.devices.map((d) => d.id)).not.to.include(UUID_NV);
    expect(capacityOf(inv, NV, 'nvidia-1012')?.availableInstances).to.equal(1);
    expect(inv.warnings).to.deep.equal([]);
  });

  it('accepts the tree root or its sys/ directory as --sysfs-root, and a reopened tree matches', () => {
    const viaRoot = discover(layoutForRoot(tree.root));
    const viaSys = discover(layoutForRoot(tree.layout.sysRoot, tree.layout.mdevctlRoot));
    expect(viaRoot).to.deep.equal(discover(tree.layout));
    expect(viaSys).to.deep.equal(viaRoot);
    const reopened = FakeTree.open(tree.root);
    expect(reopened.mdevs().sort()).to.deep.equal(tree.mdevs().sort());
    expect(reopened.available(MTTY, 'mtty-1')).to.equal(22);
  });

  it('without an mdevctl root, reports devices with no creation parameters', () => {
    const inv = discover({ sysRoot: tree.layout.sysRoot });
    expect(device(inv, UUID_ACCEL_AGG2).creationParams).to.deep.equal([]);
  });
});
