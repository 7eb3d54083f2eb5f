import { expect } from 'chai';
import { mkdirSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { discover } from '../../../src/sysfs/discovery.ts';
import { addEscapingLink } from '../../../dev/fakes/sysfs/fake-tree-hostile.ts';
import type { FakeTree } from '../../../dev/fakes/sysfs/fake-tree.ts';
import type { DiscoveredInventory } from '../../../src/sysfs/inventory.ts';
import { GVT, NV, NV_VF, UUID_ACCEL_AGG1, UUID_ACCEL_AGG2, UUID_GVT, UUID_MTTY, UUID_NV, buildThreeVendorTree } from './fixtures.ts';

function groupOf(inv: DiscoveredInventory, id: string): string | undefined {
  const d = inv.devices.find((x) => x.id === id);
  if (!d) throw new Error(`device ${id} not discovered`);
  return d.iommuGroup;
}

describe('sysfs discovery of IOMMU groups', () => {
  let tree: FakeTree;
  beforeEach(() => { tree = buildThreeVendorTree(); });
  afterEach(() => tree.dispose());

  it('reads a distinct group number for every mdev and the vendor-VFIO VF, in creation order', () => {
    const inv = discover(tree.layout);
    expect(inv.warnings).to.deep.equal([]);
    const order = [UUID_GVT, UUID_NV, UUID_MTTY, UUID_ACCEL_AGG2, UUID_ACCEL_AGG1, NV_VF];
    expect(order.map((id) => groupOf(inv, id))).to.deep.equal(['0', '1', '2', '3', '4', '5']);
  });

  it('links each group back to its device, as /sys/kernel/iommu_groups/<N>/devices does', () => {
    const devDir = path.join(tree.parentDir(NV), UUID_NV);
    expect(tree.iommuGroupOf(devDir)).to.equal('1');
    expect(realpathSync(tree.sys('kernel', 'iommu_groups', '1', 'devices', UUID_NV))).to.equal(devDir);
  });

  it('frees a removed mdev\'s group and gives the lowest free number to the next device', () => {
    tree.removeMdev(UUID_NV);
    const uuid = '0bad0000-0000-4000-8000-000000000001';
    tree.addMdev(uuid, NV, 'nvidia-1012');
    expect(groupOf(discover(tree.layout), uuid)).to.equal('1');
  });

  it('keeps a device without an iommu_group link, with no group and no warning', () => {
    rmSync(path.join(tree.parentDir(GVT), UUID_GVT, 'iommu_group'));
    const inv = discover(tree.layout);
    expect(inv.warnings).to.deep.equal([]);
    expect(groupOf(inv, UUID_GVT)).to.equal(undefined);
  });

  it('ignores an iommu_group link escaping the root with a warning, keeping the device', () => {
    const rel = path.relative(tree.layout.sysRoot, path.join(tree.parentDir(NV), UUID_NV, 'iommu_group'));
    addEscapingLink(tree, rel, '/etc');
    const inv = discover(tree.layout);
    expect(inv.warnings).to.have.length(1);
    expect(inv.warnings[0]).to.include('iommu_group').and.include('outside the root');
    expect(groupOf(inv, UUID_NV)).to.equal(undefined);
    expect(groupOf(inv, UUID_GVT)).to.equal('0');
  });

  it('ignores an iommu_group link to a non-numeric or non-group directory with a warning', () => {
    const bogus = tree.sys('kernel', 'iommu_groups', '17x');
    mkdirSync(bogus);
    const link = path.join(tree.parentDir(GVT), UUID_GVT, 'iommu_group');
    rmSync(link);
    symlinkSync(bogus, link);
    const vfLink = tree.sys('bus', 'pci', 'devices', NV_VF, 'iommu_group');
    rmSync(vfLink);
    symlinkSync(tree.sys('devices'), vfLink);
    const inv = discover(tree.layout);
    expect(inv.warnings).to.have.length(2);
    expect(inv.warnings.every((w) => w.includes('not a kernel/iommu_groups/<number> directory'))).to.equal(true);
    expect(groupOf(inv, UUID_GVT)).to.equal(undefined);
    expect(groupOf(inv, NV_VF)).to.equal(undefined);
    expect(groupOf(inv, UUID_MTTY)).to.equal('2');
  });
});
