import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { FakeSysfs } from '../../../dev/fakes/sysfs/fake-sysfs.ts';
import type { FakeTree } from '../../../dev/fakes/sysfs/fake-tree.ts';
import { OsSysfs } from '../../../src/sysfs/os-sysfs.ts';
import { SysfsError } from '../../../src/sysfs/sysfs-io.ts';
import { GVT, NV, NV_VF, UUID_NV, buildThreeVendorTree } from './fixtures.ts';

function errnoOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof SysfsError) return err.code;
    throw err;
  }
  return undefined;
}

describe('FakeSysfs (simulated drivers behind sysfs attributes)', () => {
  let tree: FakeTree;
  let io: FakeSysfs;
  const nvType = (...p: string[]) => path.join(tree.parentDir(NV), 'mdev_supported_types', 'nvidia-1012', ...p);
  beforeEach(() => {
    tree = buildThreeVendorTree();
    io = new FakeSysfs(tree);
  });
  afterEach(() => tree.dispose());

  it('reads attributes from the files on disk', () => {
    expect(io.readAttr(nvType('name'), 8192)).to.equal('GRID H100-4C\n');
  });

  it('passes migration_version writes to the policy and never changes the file', () => {
    const attr = path.join(tree.parentDir(NV), UUID_NV, 'migration_version');
    const before = readFileSync(attr, 'latin1');
    const local = before.replace(/\n$/, '');
    expect(io.writeAttr(attr, local)).to.equal(local.length);
    expect(errnoOf(() => io.writeAttr(attr, local.replace('550.54.15', '535.1.1')))).to.equal('EINVAL');
    expect(readFileSync(attr, 'latin1')).to.equal(before);
  });

  it('answers for a vendor-VFIO VF attribute with the VF policy', () => {
    const attr = path.join(tree.sys('bus', 'pci', 'devices', NV_VF), 'migration_version');
    const local = io.readAttr(attr, 8192).replace(/\n$/, '');
    expect(io.writeAttr(attr, local)).to.equal(local.length);
    expect(errnoOf(() => io.writeAttr(attr, local.replace('H100-PCIE-80GB', 'H100-NVL-94GB')))).to.equal('EINVAL');
  });

  it('truncates a write longer than a page to 4096 bytes (a short write), like sysfs', () => {
    const attr = nvType('migration_version');
    const local = io.readAttr(attr, 8192).replace(/\n$/, '');
    const long = local + 'x'.repeat(5000);
    expect(errnoOf(() => io.writeAttr(attr, long))).to.equal('EINVAL');
    expect(io.writes.at(-1)?.data).to.equal(long.slice(0, 4096));
  });

  it('can answer an over-long write with E2BIG instead', () => {
    const e2big = new FakeSysfs(tree, { oversize: 'e2big' });
    expect(errnoOf(() => e2big.writeAttr(nvType('migration_version'), 'x'.repeat(5000)))).to.equal('E2BIG');
  });

  it('hands store() a C string: bytes after a NUL are ignored by the driver', () => {
    const attr = nvType('migration_version');
    const local = io.readAttr(attr, 8192).replace(/\n$/, '');
    expect(io.writeAttr(attr, `${local}\0garbage`)).to.equal(local.length + 8);
  });

  it('fails reads of an unsupported GVT platform with ENODEV, like the i915 show()', () => {
    tree.addParent('0000:00:03.0', { vendorId: '8086', deviceId: '3e92', driver: 'i915', policy: { name: 'gvt-exact', supported: false } })
      .addType('0000:00:03.0', 'i915-GVTg_V5_4', { deviceApi: 'vfio-pci', availableInstances: 1 });
    const attr = path.join(tree.parentDir('0000:00:03.0'), 'mdev_supported_types', 'i915-GVTg_V5_4', 'migration_version');
    expect(errnoOf(() => io.readAttr(attr, 8192))).to.equal('ENODEV');
    expect(errnoOf(() => io.writeAttr(attr, '8086-3e92-GVTg_V5_4-00000001'))).to.equal('ENODEV');
  });

  it('injects read errors on request', () => {
    io.failReads(nvType('name'), 'EIO');
    expect(errnoOf(() => io.readAttr(nvType('name'), 8192))).to.equal('EIO');
  });

  it('creates an mdev through `create` with the mdevctl-defined params, then refuses when full', () => {
    const uuid = '12345678-1234-4234-8234-123456789abc';
    const gvtCreate = path.join(tree.parentDir(GVT), 'mdev_supported_types', 'i915-GVTg_V5_4', 'create');
    expect(io.writeAttr(gvtCreate, `${uuid.toUpperCase()}\n`)).to.equal(37);
    expect(tree.hasMdev(uuid)).to.equal(true);
    expect(tree.available(GVT, 'i915-GVTg_V5_4')).to.equal(2);
    expect(errnoOf(() => io.writeAttr(gvtCreate, uuid))).to.equal('EEXIST');
    expect(errnoOf(() => io.writeAttr(gvtCreate, `${uuid}\n\n`))).to.equal('EINVAL');
    expect(errnoOf(() => io.writeAttr(nvType('create'), '22345678-1234-4234-8234-123456789abc'))).to.equal('EUSERS');
  });

  it('removes an mdev through `remove` on a non-zero value only', () => {
    const remove = path.join(tree.parentDir(NV), UUID_NV, 'remove');
    expect(io.writeAttr(remove, '0\n')).to.equal(2);
    expect(tree.hasMdev(UUID_NV)).to.equal(true);
    expect(errnoOf(() => io.writeAttr(remove, 'yes'))).to.equal('EINVAL');
    expect(io.writeAttr(remove, '1\n')).to.equal(2);
    expect(tree.hasMdev(UUID_NV)).to.equal(false);
    expect(tree.available(NV, 'nvidia-1012')).to.equal(1);
  });

  it('refuses writes to attributes outside the allow-list, in the fake and the real IO alike', () => {
    expect(errnoOf(() => io.writeAttr(nvType('available_instances'), '9'))).to.equal('EACCES');
    expect(errnoOf(() => new OsSysfs(tree.layout.sysRoot).writeAttr(nvType('available_instances'), '9'))).to.equal('EACCES');
    expect(readFileSync(nvType('available_instances'), 'latin1')).to.equal('0\n');
  });

  it('OsSysfs performs one write and returns the byte count', () => {
    const os = new OsSysfs(tree.layout.sysRoot);
    const remove = path.join(tree.parentDir(NV), UUID_NV, 'remove');
    expect(os.writeAttr(remove, '1\n')).to.equal(2);
    expect(readFileSync(remove, 'latin1')).to.equal('1\n');
  });
});
