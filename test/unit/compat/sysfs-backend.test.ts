import { expect } from 'chai';
import fc from 'fast-check';
import { checkVersionString } from '../../../src/api/validation.ts';
import { writeFileSync } from 'node:fs';
import { simulatedBackend } from '../../../dev/fakes/simulated-backend.ts';
import { ABSENT_REASON, SysfsBackend } from '../../../src/compat/sysfs-backend.ts';
import { discover } from '../../../src/sysfs/discovery.ts';
import { FakeSysfs } from '../../../dev/fakes/sysfs/fake-sysfs.ts';
import type { FakeTree } from '../../../dev/fakes/sysfs/fake-tree.ts';
import type { DiscoveredInventory } from '../../../src/sysfs/inventory.ts';
import { SysfsError, type SysfsIO } from '../../../src/sysfs/sysfs-io.ts';
import { GVT, NV, NV_NVL, UUID_ACCEL_AGG1, UUID_ACCEL_AGG2, UUID_GVT, UUID_NV, buildThreeVendorTree } from '../sysfs/fixtures.ts';

/** Records every write and answers with a scripted count: a stand-in for a kernel. */
class SpySysfs implements SysfsIO {
  readonly writes: { path: string; data: string }[] = [];
  readonly inner: SysfsIO;
  shortBy = 0;
  constructor(inner: SysfsIO) { this.inner = inner; }
  readAttr(p: string, max: number): string { return this.inner.readAttr(p, max); }
  writeAttr(p: string, data: string): number {
    this.writes.push({ path: p, data });
    return Buffer.byteLength(data, 'latin1') - this.shortBy;
  }
}

function dev(inv: DiscoveredInventory, id: string) {
  const d = inv.devices.find((x) => x.id === id);
  if (!d) throw new Error(`device ${id} missing`);
  return d;
}

describe('sysfs compatibility backend over a FakeSysfs (simulated drivers)', () => {
  let tree: FakeTree;
  let inv: DiscoveredInventory;
  beforeEach(() => {
    tree = buildThreeVendorTree();
    inv = discover(tree.layout);
  });
  afterEach(() => tree.dispose());

  it('reads a device version with the trailing newline stripped', async () => {
    const backend = new SysfsBackend(new FakeSysfs(tree));
    expect(await backend.readVersion(dev(inv, UUID_GVT))).to.deep.equal({ migratable: true, version: '8086-591d-GVTg_V5_4-00000001' });
  });

  it('strips exactly one newline: a value with two is not a usable version', async () => {
    const d = dev(inv, UUID_GVT);
    writeFileSync(d.attrPath ?? '', 'v1\n\n');
    const r = await new SysfsBackend(new FakeSysfs(tree)).readVersion(d);
    expect(r.migratable).to.equal(false);
    expect(r).to.have.property('reason').that.include('0x0a');
  });

  it('reports a missing attribute as not migratable with the reason', async () => {
    const slot = inv.capacity.find((c) => c.type.id === 'i915-GVTg_V5_8');
    expect(slot).to.not.equal(undefined);
    expect(await new SysfsBackend(new FakeSysfs(tree)).readVersion(slot!)).to.deep.equal({ migratable: false, reason: ABSENT_REASON });
  });

  it('reports a read error as not migratable, naming the errno', async () => {
    const d = dev(inv, UUID_NV);
    const io = new FakeSysfs(tree);
    io.failReads(d.attrPath ?? '', 'EIO');
    const r = await new SysfsBackend(io).readVersion(d);
    expect(r).to.deep.include({ migratable: false });
    expect(r).to.have.property('reason').that.match(/EIO/);
  });

  it('accepts a compatible source and rejects an incompatible one with the driver errno', async () => {
    const backend = simulatedBackend(tree);
    expect(backend.name).to.equal('simulated');
    const source = await backend.readVersion(dev(inv, UUID_NV));
    if (!source.migratable) throw new Error(source.reason);
    const sameBoard = inv.capacity.find((c) => c.parent.address === NV)!;
    const nvl = inv.capacity.find((c) => c.parent.address === NV_NVL)!;
    expect(await backend.test(sameBoard, source.version)).to.deep.include({ accepted: true });
    const verdict = await backend.test(nvl, source.version);
    expect(verdict).to.deep.include({ accepted: false, errno: 'EINVAL' });
    expect(verdict.reason).to.match(/^EINVAL: GPU: board H100-PCIE-80GB differs from local H100-NVL-94GB/);
  });

  it('tests against each device own creation parameters (agg=2 source vs agg=1 target)', async () => {
    const backend = simulatedBackend(tree);
    const src = await backend.readVersion(dev(inv, UUID_ACCEL_AGG2));
    if (!src.migratable) throw new Error(src.reason);
    expect(await backend.test(dev(inv, UUID_ACCEL_AGG2), src.version)).to.deep.include({ accepted: true });
    expect(await backend.test(dev(inv, UUID_ACCEL_AGG1), src.version)).to.deep.equal({ accepted: false, errno: 'EINVAL', reason: 'EINVAL: agg 2 differs from local 1' });
  });

  it('maps ENODEV from an unsupported driver to a verdict saying so', async () => {
    tree.addParent('0000:00:03.0', { vendorId: '8086', deviceId: '3e92', driver: 'i915', policy: { name: 'gvt-exact', supported: false } })
      .addType('0000:00:03.0', 'i915-GVTg_V5_4', { deviceApi: 'vfio-pci', availableInstances: 1 });
    const slot = discover(tree.layout).capacity.find((c) => c.parent.address === '0000:00:03.0')!;
    const backend = simulatedBackend(tree);
    expect(await backend.readVersion(slot)).to.have.property('migratable', false);
    expect(await backend.test(slot, '8086-591d-GVTg_V5_4-00000001')).to.deep.include({ accepted: false, errno: 'ENODEV' });
  });

  it('treats a short write as a rejection that says the string was truncated', async () => {
    const spy = new SpySysfs(new FakeSysfs(tree));
    spy.shortBy = 10;
    const verdict = await new SysfsBackend(spy).test(dev(inv, UUID_GVT), '8086-591d-GVTg_V5_4-00000001');
    expect(spy.writes).to.have.length(1);
    expect(verdict.accepted).to.equal(false);
    expect(verdict.reason).to.include('truncated').and.include('18 of 28 bytes');
  });

  const hostile: [string, string][] = [
    ['a 5000-byte string', 'x'.repeat(5000)],
    ['a NUL byte', '8086-591d-GVTg_V5_4-00000001\0tail'],
    ['a newline', '8086-591d-GVTg_V5_4-00000001\n'],
    ['a carriage return', '8086-591d\r-GVTg_V5_4-00000001'],
    ['non-ASCII', '8086-591d-GVTg_V5_4-0000000é'],
    ['an empty string', ''],
  ];
  for (const [label, source] of hostile) {
    it(`refuses a source with ${label} before any write`, async () => {
      const spy = new SpySysfs(new FakeSysfs(tree));
      const verdict = await new SysfsBackend(spy).test(dev(inv, UUID_GVT), source);
      expect(verdict.accepted).to.equal(false);
      expect(verdict.reason).to.match(/^source version refused before any write/);
      expect(spy.writes).to.have.length(0);
    });
  }

  it('refuses a test against a target without the attribute, without writing', async () => {
    const spy = new SpySysfs(new FakeSysfs(tree));
    const slot = inv.capacity.find((c) => c.parent.address === GVT && c.type.id === 'i915-GVTg_V5_8')!;
    const verdict = await new SysfsBackend(spy).test(slot, '8086-591d-GVTg_V5_8-00000001');
    expect(verdict).to.deep.equal({ accepted: false, reason: `type i915-GVTg_V5_8 on ${GVT}: ${ABSENT_REASON}` });
    expect(spy.writes).to.have.length(0);
  });

  it('names the errno of a driver that gives no detail (real kernel)', async () => {
    const io: SysfsIO = {
      readAttr: () => '',
      writeAttr: (p) => { throw new SysfsError('EINVAL', p, 'write failed'); },
    };
    const verdict = await new SysfsBackend(io).test(dev(inv, UUID_GVT), 'abc');
    expect(verdict).to.deep.equal({ accepted: false, errno: 'EINVAL', reason: 'EINVAL: the driver rejected the source version as incompatible' });
  });

  it('never writes a string that fails checkVersionString, whatever the input (property)', async () => {
    const spy = new SpySysfs(new FakeSysfs(tree));
    const backend = new SysfsBackend(spy);
    const target = dev(inv, UUID_GVT);
    await fc.assert(fc.asyncProperty(fc.oneof(fc.string({ maxLength: 64 }), fc.string({ unit: 'binary', maxLength: 64 }), fc.string({ minLength: 4090, maxLength: 4200 })), async (s) => {
      const before = spy.writes.length;
      await backend.test(target, s);
      expect(spy.writes.length - before).to.equal(checkVersionString(s).ok ? 1 : 0);
    }), { numRuns: 200 });
  });
});
