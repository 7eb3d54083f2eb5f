import { expect } from 'chai';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { discover } from '../../../src/sysfs/discovery.ts';
import { addEscapingLink, addLinkLoop, makeHugeAttr, makeUnreadable } from '../../../dev/fakes/sysfs/fake-tree-hostile.ts';
import type { FakeTree } from '../../../dev/fakes/sysfs/fake-tree.ts';
import { mdevBusPath, mdevctlDefinitionPath } from '../../../src/sysfs/layout.ts';
import { OsSysfs } from '../../../src/sysfs/os-sysfs.ts';
import { SysfsError } from '../../../src/sysfs/sysfs-io.ts';
import { GVT, MTTY, NV, UUID_ACCEL_AGG2, UUID_GVT, UUID_MTTY, UUID_NV, buildThreeVendorTree } from './fixtures.ts';

const ALL_MDEVS = 5;

function mdevCount(tree: FakeTree): number {
  return discover(tree.layout).devices.filter((d) => d.kind === 'mdev').length;
}

describe('sysfs discovery over hostile and broken trees', () => {
  let tree: FakeTree;
  beforeEach(() => { tree = buildThreeVendorTree(); });
  afterEach(() => tree.dispose());

  it('skips a parent link escaping the root with a warning naming the path, and keeps the rest', () => {
    const link = addEscapingLink(tree, 'class/mdev_bus/0000:99:00.0', '/etc');
    const inv = discover(tree.layout);
    expect(inv.warnings).to.have.length(1);
    expect(inv.warnings[0]).to.include(link).and.include('outside the root');
    expect(inv.capacity.map((c) => c.parent.address)).not.to.include('0000:99:00.0');
    expect(inv.devices.filter((d) => d.kind === 'mdev')).to.have.length(ALL_MDEVS);
  });

  it('skips an mdev whose bus link escapes the root', () => {
    const uuid = 'eeee0000-0000-4000-8000-000000000001';
    const link = addEscapingLink(tree, `bus/mdev/devices/${uuid}`, '/proc/self');
    const inv = discover(tree.layout);
    expect(inv.warnings.some((w) => w.includes(link) && w.includes('outside the root'))).to.equal(true);
    expect(inv.devices.map((d) => d.id)).not.to.include(uuid);
  });

  it('skips an mdev whose mdev_type link escapes the root', () => {
    const typeLink = path.join(tree.parentDir(NV), UUID_NV, 'mdev_type');
    addEscapingLink(tree, path.relative(tree.layout.sysRoot, typeLink), '/tmp');
    const inv = discover(tree.layout);
    expect(inv.warnings.some((w) => w.includes(typeLink) && w.includes('outside the root'))).to.equal(true);
    expect(inv.devices.map((d) => d.id)).not.to.include(UUID_NV);
    expect(inv.devices.filter((d) => d.kind === 'mdev')).to.have.length(ALL_MDEVS - 1);
  });

  it('skips a link loop with a warning and continues', () => {
    const loop = addLinkLoop(tree, 'class/mdev_bus/0000:98:00.0');
    const inv = discover(tree.layout);
    expect(inv.warnings.some((w) => w.includes(loop) && w.includes('ELOOP'))).to.equal(true);
    expect(inv.devices.filter((d) => d.kind === 'mdev')).to.have.length(ALL_MDEVS);
  });

  it('refuses a multi-megabyte attribute without reading it whole, keeping the type', () => {
    const rel = path.relative(tree.layout.sysRoot, path.join(tree.parentDir(GVT), 'mdev_supported_types', 'i915-GVTg_V5_4', 'description'));
    const file = makeHugeAttr(tree, rel, 64 * 1024 * 1024);
    const inv = discover(tree.layout);
    expect(inv.warnings).to.have.length(1);
    expect(inv.warnings[0]).to.include(file).and.include('8192-byte limit');
    const d = inv.devices.find((x) => x.id === UUID_GVT);
    expect(d?.type).to.deep.equal({ id: 'i915-GVTg_V5_4', name: 'GVTg_V5_4', deviceApi: 'vfio-pci' });
  });

  it('skips an unreadable attribute with a warning and continues', () => {
    const rel = path.relative(tree.layout.sysRoot, path.join(tree.parentDir(MTTY), 'mdev_supported_types', 'mtty-2', 'name'));
    const file = makeUnreadable(tree, rel);
    const inv = discover(tree.layout);
    expect(inv.warnings).to.have.length(1);
    expect(inv.warnings[0]).to.include(file);
    expect(inv.devices.find((x) => x.id === UUID_MTTY)?.type).to.deep.equal({ id: 'mtty-2', deviceApi: 'vfio-pci' });
  });

  it('does not hang on a FIFO planted as an attribute', async () => {
    const { execFileSync } = await import('node:child_process');
    const file = path.join(tree.parentDir(NV), 'mdev_supported_types', 'nvidia-1012', 'name');
    rmSync(file);
    execFileSync('mkfifo', [file]);
    const inv = discover(tree.layout);
    expect(inv.warnings.some((w) => w.includes(file) && w.includes('not a regular attribute file'))).to.equal(true);
  });

  it('never turns a listed name that is not a UUID, PCI address or type id into a path', () => {
    const busDir = tree.sys('bus', 'mdev', 'devices');
    symlinkSync(path.join(tree.parentDir(GVT), UUID_GVT), path.join(busDir, 'NOT-A-UUID'));
    symlinkSync(tree.parentDir(GVT), tree.sys('class', 'mdev_bus', '..evil'));
    mkdirSync(path.join(tree.parentDir(GVT), 'mdev_supported_types', '..hidden'));
    const inv = discover(tree.layout);
    expect(inv.warnings).to.have.length(3);
    expect(inv.warnings.some((w) => w.includes('NOT-A-UUID') && w.includes('not a canonical lowercase UUID'))).to.equal(true);
    expect(inv.warnings.some((w) => w.includes('..evil'))).to.equal(true);
    expect(inv.warnings.some((w) => w.includes('..hidden'))).to.equal(true);
    expect(mdevCount(tree)).to.equal(ALL_MDEVS);
  });

  it('refuses the device id ../../../etc before it becomes a path', () => {
    expect(() => mdevBusPath(tree.layout, '../../../etc')).to.throw(/not a canonical lowercase UUID/);
    expect(() => mdevctlDefinitionPath(tree.layout, GVT, '../../../etc')).to.throw(/refusing/);
    expect(() => mdevctlDefinitionPath(tree.layout, '../../etc', UUID_GVT)).to.throw(/refusing/);
  });

  it('refuses through OsSysfs any read or write whose path resolves outside the root', () => {
    const io = new OsSysfs(tree.layout.sysRoot);
    const outside = path.join(tree.layout.sysRoot, 'bus', 'mdev', 'devices', '..', '..', '..', '..', 'fake-sysfs.json');
    expect(() => io.readAttr(outside, 8192)).to.throw(SysfsError, /outside the root/);
    const link = addEscapingLink(tree, 'devices/escape-attr', path.join(tree.root, 'fake-sysfs.json'));
    expect(() => io.writeAttr(link, 'x')).to.throw(SysfsError, /outside the root/);
  });

  it('ignores a malformed mdevctl definition with a warning, keeping the device', () => {
    const def = path.join(tree.layout.mdevctlRoot, '0000:3b:00.1', UUID_ACCEL_AGG2);
    writeFileSync(def, JSON.stringify({ mdev_type: 'hisi_acc-qm', attrs: [{ a: '1', b: '2' }] }));
    const inv = discover(tree.layout);
    expect(inv.warnings).to.have.length(1);
    expect(inv.warnings[0]).to.include(def).and.include('exactly one key');
    expect(inv.devices.find((d) => d.id === UUID_ACCEL_AGG2)?.creationParams).to.deep.equal([]);
  });
});
